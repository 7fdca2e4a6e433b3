"""The run folder: one object names, reads and writes every file a run holds.

A run lives in `<output dir>/<YYYYmmdd-HHMMSS>/` and is never overwritten. While it is being
built it is `<output dir>/.<stamp>.partial/`; `Run.publish` renames it to its final name when it
ends (succeeded or failed) and moves `<output dir>/latest` only when it succeeded, so `latest`
always names a complete run and a killed run never looks finished: the next run in the same
folder marks it `interrupted` in its `run.json`, and `workbench run --resume` continues it.
`Run.create` refuses an output folder that is, or holds, an input (the events, profiles, config
or model), and every write goes through a temporary file renamed into place, with a full disk
or a read-only folder reported as one line naming the file. Stages never spell a file name: they ask the `Run` (`run.file("metrics")`,
`run.write_json("metrics", ...)`), and each file has exactly one writer (the `writer` column of
`ARTIFACTS`, in `workbench.artifacts`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import atomic
from workbench.artifacts import ARTIFACTS, STAGE_ORDER, artifact
from workbench.csv_safety import unescape_frame, write_csv
from workbench.errors import ConfigError, DataError, WorkbenchError, output_error
from workbench.inputs import check_output

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import Config

PARTIAL_SUFFIX = ".partial"
LATEST = "latest"
INDEX = "index.html"  # beside the runs of a goal: every run over time (reporting.history)
# Where the commands put their runs inside a goal's output folder (`workbench run` at the top).
SUBFOLDERS = ("scores", "backtests", "compares", "validate")
FINISHED = ("ok", "failed")  # a run with this status is never written again


class Run:
    """A run folder. `Run.create` starts one, `Run.open` opens one, `Run.resolve` finds the one
    a notebook works in; `run.file(name)` is the path of an artifact (see `ARTIFACTS`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ creating and finding
    @classmethod
    def create(
        cls,
        base: str | Path,
        config: Config,
        *,
        record: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
        inputs: tuple[tuple[str, str | Path], ...] = (),
    ) -> Run:
        """A new run folder under `base` (being built: `.<stamp>.partial`) with `config.yaml`
        (the effective config, naming the file it came from) and `run.json` (status running).

        `base` may not be, or hold, an input: the config's events, profiles and config file, or
        `inputs` (`(what, path)`, e.g. the model a score reads)."""
        from workbench.config import dump_config

        base = Path(base)
        check_output(base, config, inputs)
        root = config.output_dir.expanduser().resolve()
        if base.expanduser().resolve().is_relative_to(root):  # e.g. <output.dir>/validate
            # (its earlier runs, a model among them, may be inputs: they are under it by design)
            check_output(root, config, what="output.dir")
        try:
            base.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"{base}: output folder is a file, not a folder") from None
        except OSError as exc:
            raise ConfigError(f"{base}: cannot create the output folder ({exc.strerror})") from None
        stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
        n = 1
        while True:
            name = stamp if n == 1 else f"{stamp}-{n}"
            final, partial = base / name, base / f".{name}{PARTIAL_SUFFIX}"
            if not final.exists():
                try:
                    partial.mkdir()
                    break
                except FileExistsError:
                    pass
            n += 1
        mark_interrupted(base)
        run = cls(partial)
        try:
            dump_config(config, run.file("config"))
        except OSError as exc:
            raise output_error(run.file("config"), exc) from None
        run.write_record(
            {
                "name": name,
                "status": "running",
                "started": dt.datetime.now().isoformat(timespec="seconds"),
                "pid": os.getpid(),
                "host": socket.gethostname(),
                **(record or {}),
            }
        )
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """An existing run folder (the folder itself, or `<output dir>/latest`)."""
        run = cls(path)
        if not run.file("config").is_file():
            raise WorkbenchError(
                f"{run.path}: not a run folder (no config.yaml); start one with `workbench run`"
            )
        return run

    @classmethod
    def latest(cls, base: str | Path) -> Run | None:
        """The newest complete, successful run under `base` (what `latest` points to)."""
        link = Path(base) / LATEST
        target = link.resolve() if link.exists() else None
        if target is None and (Path(base) / "latest.txt").is_file():
            target = Path(base) / (Path(base) / "latest.txt").read_text().strip()
        if target is None or not (target / "config.yaml").is_file():
            return None
        return cls(target)

    @classmethod
    def resolve(cls, run_dir: str | Path = "", config: str | Path = "") -> Run:
        """The run a notebook works in: `run_dir` when given (as `workbench run` does); else,
        with `config`, a new run folder for that config; else the newest `reports/*/latest` run,
        searched from the current folder and its parent (so notebooks opened from `notebooks/`
        after `make run` find the sample run)."""
        from workbench.config import load_config

        if str(run_dir):
            return cls.open(run_dir).writable()
        here = Path.cwd()
        if str(config):
            cfg = load_config(config)
            base = cfg.output_dir
            if not base.is_absolute() and here.name == "notebooks":
                base = here.parent / base
            # Started by hand: the analyst drives it notebook by notebook, so it gets its final
            # name now; the next notebooks find it as the newest interactive run (`latest` stays
            # on the last complete run).
            record = {"kind": "interactive", "status": "interactive"}
            run = cls.create(base, cfg, record={**record, "config": str(Path(config).resolve())})
            run.publish(succeeded=False)
            print(f"new run folder: {run.path}")
            return run
        runs = []
        for root in (here, here.parent):
            for base in (root / "reports").glob("*/"):
                runs += _candidates(base) if base.is_dir() else []
        if not runs:
            raise WorkbenchError(
                "no run folder: set run_dir to a folder made by `workbench run` "
                "(reports/<name>/<time>), or config to a YAML file to start one"
            )
        run = cls(max(runs)[1])
        if run.is_interactive:
            print(f"using the interactive run: {run.path}")
            return run
        print(f"using the latest run: {run.path}")
        return run.writable()

    # ------------------------------------------------------------------ finished runs stay as they are
    @property
    def is_interactive(self) -> bool:
        """An analyst's run, driven notebook by notebook in Jupyter (its stages may be re-run)."""
        return self.record.get("kind") == "interactive"

    @property
    def is_finished(self) -> bool:
        """Published after `workbench run` (or another command) ended: never changed again."""
        return not self.is_partial and self.record.get("status") in FINISHED

    def writable(self) -> Run:
        """The run a notebook may write in: this one while it is being built or when it is an
        interactive run; for a finished run, a new interactive run derived from it (its files
        linked, recorded as `derived_from` in run.json), so the finished run, its report and
        model stay exactly as they were."""
        if self.is_interactive or not self.is_finished:
            return self
        return self.derive()

    def derive(self) -> Run:
        """A new interactive run folder beside this one holding this run's stage files (hard
        links where the disk allows, else copies); a stage re-run in it first removes its own
        and later stages' files (`begin`), so a link is never written through."""
        import shutil

        record = {
            "kind": "interactive",
            "status": "interactive",
            "derived_from": self.name,
            "derived_from_path": str(self.path),
            "rerun": [],
        }
        run = Run.create(self.base, self.config, record=record)
        for item in ARTIFACTS:
            src = self.file(item.name)
            if item.writer not in STAGE_ORDER or not src.exists() or run.file(item.name).exists():
                continue
            if src.is_dir():
                shutil.copytree(src, run.file(item.name), copy_function=_link_or_copy)
            else:
                _link_or_copy(src, run.file(item.name))
        run.publish(succeeded=False)
        print(
            f"run {self.name} is finished and stays as it is: working in a new run folder "
            f"{run.path} derived from it"
        )
        return run

    def begin(self, stage: str) -> None:
        """Before a stage writes: in an interactive run, remove the files of this stage and of
        every later one (they would no longer agree) and note the stage in run.json."""
        if not self.is_interactive or stage not in STAGE_ORDER:
            return
        import shutil

        later = set(STAGE_ORDER[STAGE_ORDER.index(stage) :])
        for item in ARTIFACTS:
            path = self.file(item.name)
            if item.writer in later and (path.exists() or path.is_symlink()):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        rerun = [s for s in self.record.get("rerun") or [] if s not in later] + [stage]
        self.update_record(rerun=rerun, updated=dt.datetime.now().isoformat(timespec="seconds"))

    # ------------------------------------------------------------------ the folder's state
    @property
    def name(self) -> str:
        """The run's final folder name (`20261201-103000`), also while it is being built."""
        name = self.path.name
        if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
            return name[1 : -len(PARTIAL_SUFFIX)]
        return name

    @property
    def base(self) -> Path:
        """The folder that holds this config's runs (`reports/<name>/`)."""
        return self.path.parent

    @property
    def goal_folder(self) -> Path:
        """The goal's output folder (`reports/<name>/`), also for runs in its `scores/`,
        `backtests/` or `compares/` (where `index.html` lists them all)."""
        return self.base.parent if self.base.name in SUBFOLDERS else self.base

    @property
    def is_partial(self) -> bool:
        return self.path.name.endswith(PARTIAL_SUFFIX)

    def publish(self, succeeded: bool) -> Run:
        """Give the run its final name; on success point `latest` at it (last of all)."""
        if self.is_partial:
            final = self.base / self.name
            try:
                os.replace(self.path, final)
            except OSError as exc:
                raise output_error(final, exc) from None
            self.path = final
            self.__dict__.pop("config", None)
        if succeeded:
            _point_latest(self.base, self.name)
        return self

    @property
    def is_running_elsewhere(self) -> bool:
        """Is the process that started this run (its `run.json` pid, on this host) still alive?"""
        record = self.record
        if record.get("status") != "running" or record.get("host", socket.gethostname()) != (
            socket.gethostname()
        ):
            return False
        return _alive(record.get("pid"))

    # ------------------------------------------------------------------ files
    def file(self, name: str) -> Path:
        """The path of an artifact (see `ARTIFACTS`)."""
        return self.path / artifact(name).file

    def ingest_targets(self):
        """Where ingest writes the cleaned events, the quarantined rows and the profiles."""
        from workbench.ingest import IngestTargets

        return IngestTargets(
            self.file("events"),
            self.file("quarantine"),
            self.file("profiles"),
            self.file("profiles_quarantine"),
        )

    def segment_file(self, segment: str) -> Path:
        """`segments/<name>.csv` for one audience (names checked to be plain file names)."""
        if segment in {"summary", ".", ".."} or "/" in segment or "\\" in segment:
            raise ConfigError(f"segments: {segment!r} cannot be used as a file name")
        return self.file("segments") / f"{segment}.csv"

    def has(self, name: str) -> bool:
        return self.file(name).exists()

    def require(self, name: str) -> Path:
        path = self.file(name)
        if not path.exists():
            raise DataError(
                f"{path}: not found ({artifact(name).writer} writes it: run the earlier notebook first)"
            )
        return path

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads(self.require(name).read_text(encoding="utf-8"))

    def optional_json(self, name: str) -> dict[str, Any]:
        """An artifact's JSON, or {} when it is missing or unreadable (for pages that show
        whatever a run, possibly failed, has)."""
        try:
            data = json.loads(self.file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.file(name)
        atomic.write_text(path, json.dumps(data, indent=2, default=str))
        return path

    def read_frame(self, name: str, columns: list[str] | None = None, **csv) -> pd.DataFrame:
        import pandas as pd

        path = self.require(name)
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=columns)
        return unescape_frame(pd.read_csv(path, usecols=columns, **csv))

    def write_frame(self, name: str, frame: pd.DataFrame) -> Path:
        """Parquet, or CSV with text cells escaped for spreadsheets (`workbench.csv_safety`)."""
        return write_frame_file(frame, self.file(name))

    def write_segment(self, segment: str, frame: pd.DataFrame) -> Path:
        """`segments/<name>.csv` (see `segment_file`), written like every CSV of a run."""
        return write_frame_file(frame, self.segment_file(segment))

    def write_text(self, name: str, text: str) -> Path:
        path = self.file(name)
        atomic.write_text(path, text)
        return path

    # ------------------------------------------------------------------ config and record
    @cached_property
    def config(self) -> Config:
        """The effective config of the run (overrides applied); errors found later (an unknown
        goal field) name the file the analyst edits, not this copy."""
        from workbench.config import load_config, source_of

        path = self.require("config")
        config = load_config(path)
        config.source = source_of(path) or path
        return config

    @property
    def record(self) -> dict[str, Any]:
        """`run.json`: what ran, with which parameters, how long, and the status."""
        return self.optional_json("record")

    @property
    def title(self) -> str:
        """The config's name (what the analyst called the goal), else the runs' folder name."""
        try:
            return self.config.name
        except WorkbenchError:
            return self.base.name

    def write_record(self, record: dict[str, Any]) -> Path:
        return self.write_json("record", record)

    def update_record(self, **changes: Any) -> dict[str, Any]:
        record = {**self.record, **changes}
        self.write_record(record)
        return record

    @property
    def visible_before(self):
        """Events on or after this day are hidden from the stages (a backtest's date), or None."""
        import pandas as pd

        day = self.record.get("visible_before")
        return pd.Timestamp(day) if day else None

    @property
    def data_horizon(self):
        """The day from which this run uses no event (None: it may use any): the as-of date of
        a run that trains or scores as of one. Backtests and snapshots look past their date."""
        import pandas as pd

        if self.record.get("kind") not in ("pipeline", "notebooks", "validate", "score"):
            return None
        as_of = self.record.get("as_of") or self.config.scoring.as_of
        return pd.Timestamp(as_of).normalize() if as_of else None


def write_frame_file(frame: pd.DataFrame, path: Path) -> Path:
    """A frame as Parquet or (escaped) CSV by the file's suffix, renamed into place when whole;
    a full disk or a read-only folder is one `DataError` naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".parquet":
            return write_csv(frame, path)
        with atomic.replaced(path) as tmp:
            frame.to_parquet(tmp, index=False)
    except OSError as exc:
        raise output_error(path, exc) from None
    return path


# ----------------------------------------------------------------------------- interrupted runs
def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def mark_interrupted(base: Path) -> list[Run]:
    """Partial runs under `base` whose process is gone (killed, machine restarted) get status
    `interrupted` in their `run.json`: they never became `latest`; `workbench run --resume`
    continues them."""
    marked = []
    for partial in sorted(base.glob(f".*{PARTIAL_SUFFIX}")):
        run = Run(partial)
        record = run.record
        if record.get("status") == "running" and not run.is_running_elsewhere:
            try:
                run.update_record(status="interrupted")
            except WorkbenchError:  # a read-only or full disk: leave it as it is
                continue
            marked.append(run)
    return marked


def _candidates(base: Path) -> list[tuple[float, Path]]:
    """(when last written, path) of `base`'s latest run and of its interactive runs."""
    found = []
    latest = Run.latest(base)
    if latest is not None and latest.has("record"):
        found.append((latest.file("record").stat().st_mtime, latest.path))
    for child in base.iterdir():
        record = child / "run.json"
        if child.name.startswith(".") or not record.is_file() or child.is_symlink():
            continue
        try:
            kind = json.loads(record.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError):
            continue
        if kind == "interactive":
            found.append((record.stat().st_mtime, child.resolve()))
    return found


def _link_or_copy(src, dst) -> None:
    """A hard link (instant, no extra disk), else a copy (another disk, no link support)."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _point_latest(base: Path, name: str) -> None:
    """`base/latest` -> `name`: a relative symlink swapped atomically, else `latest.txt`."""
    link = base / LATEST
    tmp = base / f".{LATEST}-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(name, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        (base / "latest.txt").write_text(name + "\n")
