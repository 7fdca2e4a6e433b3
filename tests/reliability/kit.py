"""The reliability cases' toolkit: small inputs written in code, one command per case, and the
checks every case makes (issue 13, "nothing lost, nothing crashes").

A `Case` is data: how to build its inputs (`setup`), the command line (`argv`, with `{in}`,
`{out}`, `{work}` for the case's folders), the exit codes it may end with, a regex its error
line must match (the case folder's path masked first, so a file name never matches by
accident) and an optional extra `check`. `run_case` runs it and asserts:

- the exit code is one of `exits` (0 success, 2 config/data, 3 not ready; 130 interrupted);
- no Python traceback on stderr;
- an error names what is wrong (`message`);
- nothing under the input folders changed: every file and folder is hashed before and after.

Commands run in this process through `workbench.cli.main` (fast), or as a real process when the
case needs one (`process=True`: signals, an abort, a timeout).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
START = dt.datetime(2025, 1, 1)
EVENT_TYPES = (("page_view", 6.0), ("add_to_cart", 3.0), ("purchase", 1.5))
ID, TS, TYPE = "customer_id", "ts", "type"

# ----------------------------------------------------------------------------- inputs


def base_rows(n_profiles: int = 160, seed: int = 7, days: int = 365, prefix: str = "C"):
    """~1,600 events over 2025 for `n_profiles` profiles: page views, cart adds, purchases."""
    rng = random.Random(seed)
    names = [t for t, _ in EVENT_TYPES]
    weights = [w for _, w in EVENT_TYPES]
    rows = []
    for i in range(n_profiles):
        pid = f"{prefix}{i:04d}"
        for _ in range(rng.randint(4, 16)):
            when = START + dt.timedelta(days=rng.randrange(days), seconds=rng.randrange(86_400))
            kind = rng.choices(names, weights)[0]
            value = round(rng.uniform(5, 200), 2) if kind == "purchase" else None
            channel = rng.choice(["web", "app", "email"])
            rows.append({ID: pid, TS: when, TYPE: kind, "value": value, "channel": channel})
    rows.sort(key=lambda r: (r[TS], r[ID]))
    return rows


def profile_rows(ids, seed: int = 3):
    rng = random.Random(seed)
    return [
        {
            ID: pid,
            "country": rng.choice(["US", "GB", "DE", "FR"]),
            "tier": rng.choice(["gold", "silver", "bronze"]),
            "age": rng.randint(18, 80),
        }
        for pid in ids
    ]


def _cell(v, ts_fmt: str) -> str:
    if v is None:
        return ""
    return v.strftime(ts_fmt) if isinstance(v, dt.datetime) else str(v)


def write_csv(path: Path, rows, columns=None, ts_fmt="%Y-%m-%d %H:%M:%S") -> Path:
    columns = columns or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c), ts_fmt) for c in columns])
    return path


def write_parquet(path: Path, rows, types: dict | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {}
    for c in rows[0]:
        values = [r.get(c) for r in rows]
        if types and c in types:
            data[c] = pa.array(values, type=types[c])
        elif all(isinstance(v, dt.datetime) or v is None for v in values):
            data[c] = pa.array(values, type=pa.timestamp("us", tz="UTC"))
        else:
            data[c] = pa.array(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), path)
    return path


DELETE = object()


def deep_merge(base: dict, extra: dict) -> dict:
    out = json.loads(json.dumps(base, default=str))
    for k, v in extra.items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def base_config(**sections) -> dict[str, Any]:
    """CSV events and profiles, purchase within 30 days, low readiness bars."""
    cfg: dict[str, Any] = {
        "name": "adv",
        "events": {
            "path": "events.csv",
            "columns": {"profile_id": ID, "timestamp": TS, "event_type": TYPE},
        },
        "profiles": {"path": "profiles.csv", "columns": {"profile_id": ID}},
        "goal": {
            "conditions": [{"field": "event_type", "op": "==", "value": "purchase"}],
            "window_days": 30,
        },
        "eligibility": {"active_within_days": 60},
        "features": {"lookback_days": 180},
        "training": {"snapshots": 4, "step_days": 30},
        "readiness": {"min_positives": 5, "min_negatives": 5},
    }
    return deep_merge(cfg, sections)


def write_config(path: Path, cfg: dict | str) -> Path:
    """JSON is YAML: configs are written as JSON unless a case needs raw YAML text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=1) + "\n")
    return path


BASE_YAML = """name: adv
events:
  path: events.csv
  columns: {{profile_id: customer_id, timestamp: ts, event_type: type}}
profiles:
  path: profiles.csv
  columns: {{profile_id: customer_id}}
{goal}
eligibility: {{active_within_days: 60}}
features: {{lookback_days: 180}}
training: {{snapshots: 4, step_days: 30}}
readiness: {{min_positives: 5, min_negatives: 5}}
"""
GOAL_YAML = """goal:
  conditions:
    - {{field: event_type, op: "==", value: {value}}}
  window_days: {window}"""


def yaml_with_goal(goal_text: str) -> str:
    return BASE_YAML.format(goal=goal_text)


# ----------------------------------------------------------------------------- a case's folders


class Workspace:
    """One case's folders: `inp` (inputs, hashed before and after), `out`, `work` (the current
    folder) and `tmp` (TMPDIR); `fixtures` builds the shared trained models on first use."""

    def __init__(self, root: Path, fixtures: Fixtures):
        self.root = root
        self.inp, self.out, self.work, self.tmp = (root / n for n in ("in", "out", "work", "tmp"))
        for p in (self.inp, self.out, self.work, self.tmp):
            p.mkdir(parents=True, exist_ok=True)
        self.fixtures = fixtures
        self.mounts: list[Path] = []
        self.env: dict[str, str] = {}
        self.data: dict[str, Any] = {}

    def base(self, rows=None, fmt: str = "csv", profiles: bool = True, prows=None, **sections):
        """Events (+ profiles) and config.yaml in `in/`; returns the config dict."""
        rows = base_rows() if rows is None else rows
        name = f"events.{fmt}"
        (write_parquet if fmt == "parquet" else write_csv)(self.inp / name, rows)
        cfg = base_config(events={"path": name, **sections.pop("events", {})}, **sections)
        if profiles:
            prows = prows or profile_rows(sorted({r[ID] for r in rows if r.get(ID)}))
            (write_parquet if fmt == "parquet" else write_csv)(self.inp / f"profiles.{fmt}", prows)
            cfg["profiles"]["path"] = f"profiles.{fmt}"
        else:
            cfg.pop("profiles", None)
        write_config(self.inp / "config.yaml", cfg)
        return cfg

    def model_run(self, kind: str = "run") -> Path:
        """A copy of the session's trained run folder ('run') or boosted model ('boosted')."""
        dest = self.inp / kind
        shutil.copytree(self.fixtures.get(kind), dest, symlinks=True)
        return dest

    def mount_tmpfs(self, name: str, size: str = "2m") -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
        )
        self.mounts.append(path)
        return path

    def read_only(self, name: str) -> Path:
        """A folder nothing can be written into: a read-only bind mount as root, else chmod."""
        path = self.root / name
        path.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
            self.mounts.append(path)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        else:
            path.chmod(0o555)
        return path

    def fill(self, folder: Path, leave_bytes: int = 16 * 1024) -> None:
        st = os.statvfs(folder)
        with open(folder / ".filler", "wb") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave_bytes))

    def cleanup(self) -> None:
        for path in reversed(self.mounts):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)
        self.mounts.clear()
        for p in self.root.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                with contextlib.suppress(OSError):
                    p.chmod(0o755)

    def expand(self, argv: list[str]) -> list[str]:
        subst = {"{in}": str(self.inp), "{out}": str(self.out), "{work}": str(self.work)}
        subst.update({f"{{{k}}}": str(v) for k, v in self.data.items() if isinstance(v, Path)})
        out = []
        for a in argv:
            for k, v in subst.items():
                a = a.replace(k, v)
            out.append(a)
        return out


def can_mount() -> tuple[bool, str]:
    """Can this test make a tiny tmpfs (root, and a kernel that allows it here)?"""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False, "making a tmpfs needs root and mount"
    probe = Path(tempfile.mkdtemp(prefix="wb-mount-probe-"))
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
        )
        if r.returncode:
            return False, f"cannot mount a tmpfs here: {r.stderr.decode().strip()}"
        subprocess.run(["umount", str(probe)], capture_output=True)
        return True, ""
    finally:
        shutil.rmtree(probe, ignore_errors=True)


# ----------------------------------------------------------------------------- the shared models


class Fixtures:
    """One trained run folder (and a boosted model beside it) per test session."""

    def __init__(self, root: Path):
        self.root = root
        self._built: dict[str, Path] = {}

    def get(self, kind: str) -> Path:
        if kind not in self._built:
            self._built[kind] = self._run() if kind == "run" else self._boosted()
        return self._built[kind]

    def _run(self) -> Path:
        from workbench.workflow import run_pipeline

        ws = Workspace(self.root / "run-source", self)
        ws.base()
        run = run_pipeline(ws.inp / "config.yaml", out=ws.out / "runs")
        return run.path

    def _boosted(self) -> Path:
        import pandas as pd

        from workbench import modeling
        from workbench.config import load_config
        from workbench.features import specs_from_json

        run = self.get("run")
        snap = pd.read_parquet(run / "snapshots.parquet")
        specs = specs_from_json(run / "feature_spec.json")
        # small leaves, so the trees split (the tamper cases edit splits) on ~600 rows
        model = modeling.BoostedPropensity(specs, params={"min_data_in_leaf": 10})
        model.fit(snap[[s.code for s in specs]], snap["label"], cutoffs=snap["cutoff"])
        dest = self.root / "boosted"
        modeling.save_model(model, specs, load_config(run / "config.yaml"), dest)
        return dest


# ----------------------------------------------------------------------------- running a case


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    seconds: float = 0.0
    note: str = ""


@dataclass
class Case:
    name: str
    setup: Callable[[Workspace], Any]
    argv: list[str] | None  # None: `action` runs the scenario
    exits: tuple[int, ...]
    expected: str  # what issue 13 asks for, in words (the failure message repeats it)
    message: str | None = None  # regex the error output must match when the exit is not 0
    check: Callable[[Workspace, Outcome], str | None] | None = None  # a problem, or None
    action: Callable[[Workspace], Outcome] | None = None
    needs: tuple[str, ...] = ()  # 'mount', 'java'
    process: bool = False  # run as a real process (signals, aborts, timeouts)
    timeout: float = 180.0
    max_seconds: float | None = None
    marks: tuple = ()

    def __str__(self) -> str:
        return self.name


def params(cases: list[Case]):
    """pytest parameters, one per case, with its marks."""
    return [pytest.param(c, id=c.name, marks=list(c.marks)) for c in cases]


def hash_tree(top: Path) -> dict[str, str]:
    """path -> sha256 (files), 'dir' (folders), 'link:<target>' (symlinks)."""
    state: dict[str, str] = {}
    for p in [top, *sorted(top.rglob("*"))]:
        if p.is_symlink():
            state[str(p)] = "link:" + os.readlink(p)
        elif p.is_dir():
            state[str(p)] = "dir"
        elif p.is_file():
            state[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def _environment(ws: Workspace) -> dict[str, str]:
    env = {**os.environ, "TMPDIR": str(ws.tmp), "MPLBACKEND": "Agg", **ws.env}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def spawn(ws: Workspace, argv: list[str]) -> subprocess.Popen:
    """`workbench <argv>` as a real process in its own process group (kernels included)."""
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *ws.expand(argv)],
        cwd=ws.work,
        env=_environment(ws),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def run_process(ws: Workspace, argv: list[str], timeout: float) -> Outcome:
    t0 = time.perf_counter()
    proc = spawn(ws, argv)
    try:
        out, err = proc.communicate(timeout=timeout)
        note = ""
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        note = f"timed out after {timeout:.0f} s"
    return Outcome(proc.returncode, out, err, time.perf_counter() - t0, note)


def run_here(ws: Workspace, argv: list[str], monkeypatch) -> Outcome:
    """`workbench.cli.main(argv)` in this process, in the case's folder and environment."""
    from workbench.cli import main

    monkeypatch.chdir(ws.work)
    for key, value in {"TMPDIR": str(ws.tmp), **ws.env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its first answer
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(ws.expand(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # escaped the CLI's guard: what a traceback would show
            import traceback

            err.write("Traceback (most recent call last):\n" + traceback.format_exc())
            code = f"raised {type(exc).__name__}"
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - t0)


def run_case(case: Case, tmp_path: Path, fixtures: Fixtures, monkeypatch) -> None:
    """Build, run and judge one case (see the module docstring); fails with every problem."""
    for need in case.needs:
        if need == "mount":
            ok, why = can_mount()
            if not ok:
                pytest.skip(why)
        if need == "java" and not shutil.which("java"):
            pytest.skip("no java on PATH")
    ws = Workspace(tmp_path / "case", fixtures)
    try:
        case.setup(ws)
        before = hash_tree(ws.inp)
        if case.action is not None:
            outcome = case.action(ws)
        elif case.process:
            outcome = run_process(ws, case.argv, case.timeout)
        else:
            outcome = run_here(ws, case.argv, monkeypatch)
        after = hash_tree(ws.inp)
        problems = judge(case, ws, outcome, before, after)
    finally:
        ws.cleanup()
    assert not problems, (
        f"{case.name}: {'; '.join(problems)}\n  expected: {case.expected}\n"
        f"  stderr: {outcome.stderr.strip()[-1500:]}\n  stdout: {outcome.stdout.strip()[-300:]}"
    )


def judge(case: Case, ws: Workspace, o: Outcome, before: dict, after: dict) -> list[str]:
    problems = []
    if o.note:
        problems.append(o.note)
    if o.code not in case.exits:
        problems.append(f"exit {o.code}, expected {'/'.join(map(str, case.exits))}")
    if TRACEBACK.search(o.stderr):
        problems.append("a traceback on stderr")
    changed = [os.path.relpath(k, ws.root) for k in before if after.get(k) != before[k]]
    added = [os.path.relpath(k, ws.root) for k in after if k not in before]
    if changed:
        problems.append(f"input path(s) changed or removed: {changed[:4]}")
    if added:
        problems.append(f"path(s) added under the input folder: {added[:4]}")
    text = (o.stderr + "\n" + o.note).replace(str(ws.root), "<case>")
    if case.message and o.code != 0 and not re.search(case.message, text, re.I | re.S):
        problems.append(f"the message does not match /{case.message}/")
    if case.max_seconds is not None and o.seconds > case.max_seconds:
        problems.append(f"took {o.seconds:.0f} s (at most {case.max_seconds:.0f} s)")
    if case.check is not None and not problems:
        found = case.check(ws, o)
        if found:
            problems.append(found.replace(str(ws.root), "<case>"))
    return problems


# ----------------------------------------------------------------------------- shared checks


def quality(ws: Workspace, where: Path | None = None) -> dict:
    hits = sorted((where or ws.out).rglob("data_quality.json"))
    if not hits:
        raise AssertionError(f"no data_quality.json under {where or ws.out}")
    return json.loads(hits[0].read_text())


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_cells(paths: list[Path]) -> list[str]:
    """Text cells a spreadsheet would run as a formula (plain numbers such as -0.5 are fine)."""
    found = []
    for p in paths:
        with open(p, newline="", encoding="utf-8", errors="replace") as fh:
            for row_no, row in enumerate(csv.reader(fh), 1):
                for cell in row:
                    if cell.startswith(FORMULA_START):
                        try:
                            float(cell)
                        except ValueError:
                            found.append(f"{p.name}:{row_no}:{cell[:40]!r}")
    return found


def no_formulas_in(pattern: str):
    def check(ws: Workspace, o: Outcome) -> str | None:
        files = [f for f in sorted(ws.out.rglob(pattern)) if f.suffix == ".csv"]
        if not files:
            return f"no CSV written matching {pattern!r}"
        bad = formula_cells(files)
        return f"{len(bad)} formula cell(s), e.g. {bad[:3]}" if bad else None

    return check


def run_folders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink())


def consistent_runs(base: Path, latest_expected: bool | None = None) -> str | None:
    """No empty run.json; `latest` (if any) names a run whose status is ok; every other run
    folder says how it ended (running, interrupted, failed)."""
    from workbench.run import Run

    problems = []
    for folder in run_folders(base) if base.exists() else []:
        rj = folder / "run.json"
        if not rj.is_file() or rj.stat().st_size == 0:
            problems.append(f"{folder.name} has no readable run.json")
            continue
        if json.loads(rj.read_text()).get("status") not in (
            "ok",
            "failed",
            "interrupted",
            "running",
        ):
            problems.append(f"{folder.name}: run.json has no status")
    found = Run.latest(base) if base.exists() else None
    if found is not None and found.record.get("status") != "ok":
        problems.append(f"latest -> {found.name}, whose status is {found.record.get('status')!r}")
    if latest_expected is True and found is None:
        problems.append("latest names no complete run")
    if latest_expected is False and found is not None:
        problems.append(f"latest moved to {found.name}")
    return "; ".join(problems) or None


def all_of(*checks):
    def check(ws: Workspace, o: Outcome) -> str | None:
        found = [c(ws, o) for c in checks]
        return "; ".join(f for f in found if f) or None

    return check


@dataclass
class Suite:
    """A group's cases, added in order (names unique)."""

    cases: list[Case] = field(default_factory=list)

    def add(self, name, setup, argv, exits, expected, **kw) -> Case:
        if any(c.name == name for c in self.cases):
            raise ValueError(f"duplicate case {name}")
        case = Case(name, setup, argv, tuple(exits), expected, **kw)
        self.cases.append(case)
        return case


# Common command lines ({in}, {out}, {work} are the case's folders).
VALIDATE = ["validate", "{in}/config.yaml", "--out", "{out}/v"]
SNAPSHOT = ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{out}/snap.parquet"]
SCORE = ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{out}/s"]
RUN = ["run", "{in}/config.yaml", "--out", "{out}/runs"]
ONE_LINE = "one line naming the file, key or value, exit 2"


def base_with(**sections):
    def setup(ws: Workspace):
        ws.base(**sections)

    return setup


def raw_config(text_fn: Callable[[Workspace], str]):
    """Base data with the config given as raw YAML text (duplicates, aliases, tags...)."""

    def setup(ws: Workspace):
        ws.base()
        write_config(ws.inp / "config.yaml", text_fn(ws))

    return setup
