"""A throwaway PostgreSQL server for the tests, with every statement it runs in its log.

Needs Debian's `postgresql` package (initdb and pg_ctl under /usr/lib/postgresql/<major>/bin;
`.ci/run` installs it) and the `postgres` extra (psycopg 3). `skip_reason()` says why a server
cannot run here. As root the cluster belongs to the `postgres` user the package creates (root
may not run initdb); it lives in a fresh directory directly under /tmp (pytest's tmp_path has
0700 parents postgres cannot enter) and listens on a unix socket in that directory only. Trust
authentication and fsync off: the data is thrown away. `log_statement = 'all'` lets a test
read what the server was asked to do (`statements_since`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin with initdb and pg_ctl (or $PG_BINDIR)."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        p = Path(d)
        if (p / "initdb").exists() and (p / "pg_ctl").exists():
            with contextlib.suppress(ValueError):
                found.append((float(p.parent.name), p))
    return max(found)[1] if found else None


def skip_reason() -> str | None:
    """Why a real server cannot run here (None: it can)."""
    if find_bindir() is None:
        return "PostgreSQL server not installed (Debian: apt-get install -y postgresql)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' user to own the cluster"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed (pip install -e '.[postgres]')"
    return None


def _free_port() -> int:
    # The port only names the socket file (.s.PGSQL.<port>); a free one avoids any other server.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SETTINGS = {
    "listen_addresses": "''",
    "log_statement": "'all'",
    "log_line_prefix": "'%m [%p] '",
    "logging_collector": "off",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'64MB'",
    "max_connections": "20",
    "max_parallel_workers_per_gather": "0",
}


class PostgresServer:
    """`with PostgresServer() as pg:` a running server; `pg.url` an Ibis URL for it."""

    def __init__(self):
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        self.root = Path(tempfile.mkdtemp(prefix="wb-pg-", dir="/tmp"))
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        data = self.root / "data"
        if self.as_root:
            import pwd

            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", self.user, "--encoding=UTF8",
                  "--locale=C", "--no-instructions")  # fmt: skip
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.root}'", "port": str(self.port)}
        with (data / "postgresql.conf").open("a") as fh:
            fh.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self._run("pg_ctl", "-D", str(data), "-l", str(self.log), "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """An Ibis connection URL (over the unix socket)."""
        return f"postgres://{self.user}@/postgres?host={self.root}&port={self.port}"

    def connect(self):
        """A psycopg connection in autocommit mode (to create and load tables)."""
        import psycopg

        return psycopg.connect(host=str(self.root), port=self.port, user=self.user,
                               dbname="postgres", autocommit=True)  # fmt: skip

    def log_mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def statements_since(self, mark: int = 0) -> list[str]:
        """The statements the server ran after `mark`, multi-line ones joined. Simple queries
        log as `statement: ...`, the extended protocol (psycopg's DECLARE) as `execute <name>: ...`."""
        text = self.log.read_bytes()[mark:].decode("utf-8", "replace")
        head = re.compile(
            r"^\S+ \S+ \S+ \[\d+\] (LOG|ERROR|STATEMENT|DETAIL|HINT|WARNING):\s+(.*)$"
        )
        out: list[str] = []
        current: str | None = None
        for line in text.splitlines():
            match = head.match(line)
            if match is None:
                if current is not None:
                    current += "\n" + line
                continue
            if current is not None:
                out.append(current)
            current = None
            kind, body = match.groups()
            if kind == "LOG" and body.startswith("statement: "):
                current = body.removeprefix("statement: ")
            elif kind == "LOG" and body.startswith("execute "):
                current = body.split(": ", 1)[1]
        if current is not None:
            out.append(current)
        return out
