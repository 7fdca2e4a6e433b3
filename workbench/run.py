"""The run folder: one object names, reads and writes every file a run holds.

A run lives in `<output dir>/<YYYYmmdd-HHMMSS>/` and is never overwritten. While it is being
built it is `<output dir>/.<stamp>.partial/`; `Run.publish` renames it to its final name when it
ends (succeeded or failed) and moves `<output dir>/latest` only when it succeeded, so `latest`
always names a complete run and a killed run never looks finished (`workbench run --resume`
continues it). Stages never spell a file name: they ask the `Run` (`run.file("metrics")`,
`run.write_json("metrics", ...)`), and each file has exactly one writer (the `writer` column of
`ARTIFACTS`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError, DataError, WorkbenchError

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import Config

PARTIAL_SUFFIX = ".partial"
LATEST = "latest"


@dataclass(frozen=True)
class Artifact:
    """One file (or folder) of a run: its name, where it lives, who writes it, what it holds."""

    name: str
    file: str
    writer: str
    holds: str


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("config", "config.yaml", "Run.create", "The configuration this run used"),
    Artifact("record", "run.json", "Run.write_record", "Notebooks, parameters, timings, status"),
    Artifact("events", "events.parquet", "prepare_data", "The cleaned events (UTC, deduplicated)"),
    Artifact("profiles", "profiles.parquet", "prepare_data", "The cleaned profile attributes"),
    Artifact("quality", "data_quality.json", "prepare_data", "Rows read, kept, set aside, dropped"),
    Artifact(
        "quarantine", "quarantine.csv", "prepare_data", "Rows set aside, each with its reason"
    ),
    Artifact("event_mix", "event_mix.csv", "prepare_data", "Events per month and event type"),
    Artifact("snapshots", "snapshots.parquet", "define_goal", "Training and validation snapshots"),
    Artifact(
        "scoring_snapshot",
        "scoring_snapshot.parquet",
        "define_goal",
        "The features of every profile scored",
    ),
    Artifact("feature_spec", "feature_spec.json", "define_goal", "The features and their names"),
    Artifact("goal_summary", "goal_summary.json", "define_goal", "Cutoffs, positives, readiness"),
    Artifact("metrics", "metrics.json", "compare", "Model comparison figures"),
    Artifact(
        "validation_predictions",
        "validation_predictions.parquet",
        "compare",
        "Each model's scores on the validation cutoff",
    ),
    Artifact("coefficients", "coefficients.csv", "compare", "What the logistic model learned"),
    Artifact("importance", "importance.csv", "compare", "What the boosted model relies on"),
    Artifact("model", "model", "compare", "The saved champion model"),
    Artifact("factors_global", "factors_global.csv", "explain", "Influential factors overall"),
    Artifact("factors_by_bucket", "factors_by_bucket.csv", "explain", "Factors per bucket"),
    Artifact("examples", "examples.csv", "explain", "Example profiles and their factors"),
    Artifact(
        "contributions",
        "contributions.parquet",
        "explain",
        "Every scored profile's probability and factor contributions, for the scores",
    ),
    Artifact("scores", "scores.parquet", "score_and_segment", "Scores of every eligible profile"),
    Artifact(
        "scores_csv", "scores.csv", "score_and_segment", "Scores of every profile (spreadsheet)"
    ),
    Artifact("segments", "segments", "score_and_segment", "Audiences, one CSV each"),
    Artifact("segments_summary", "segments/summary.csv", "score_and_segment", "Audience sizes"),
    Artifact(
        "expected_vs_actual",
        "expected_vs_actual.json",
        "score_and_segment",
        "Expected against actual conversions on the validation cutoff",
    ),
    Artifact(
        "score_summary",
        "score_summary.json",
        "score_and_segment",
        "Scoring figures: profiles, buckets, segments",
    ),
    Artifact("backtest", "backtest.json", "backtest", "Scores compared with what happened"),
    Artifact("report", "report.html", "write_report", "The landing page of this run"),
)
_BY_NAME = {a.name: a for a in ARTIFACTS}


def artifact(name: str) -> Artifact:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown run artifact {name!r}; known: {sorted(_BY_NAME)}") from None


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
    ) -> Run:
        """A new run folder under `base` (being built: `.<stamp>.partial`) with `config.yaml`
        (the effective config, naming the file it came from) and `run.json` (status running)."""
        from workbench.config import dump_config

        base = Path(base)
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
        run = cls(partial)
        dump_config(config, run.file("config"))
        run.write_record(
            {
                "name": name,
                "status": "running",
                "started": dt.datetime.now().isoformat(timespec="seconds"),
                "pid": os.getpid(),
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
            return cls.open(run_dir)
        here = Path.cwd()
        if str(config):
            cfg = load_config(config)
            base = cfg.output_dir
            if not base.is_absolute() and here.name == "notebooks":
                base = here.parent / base
            # Started by hand: the analyst drives it notebook by notebook, so it gets its final
            # name now and becomes `latest` (the next notebooks find it there).
            record = {"kind": "interactive", "status": "interactive"}
            run = cls.create(base, cfg, record={**record, "config": str(Path(config).resolve())})
            run.publish(succeeded=True)
            print(f"new run folder: {run.path}")
            return run
        runs = []
        for root in (here, here.parent):
            for latest in (root / "reports").glob(f"*/{LATEST}"):
                found = cls.latest(latest.parent)
                if found is not None:
                    runs.append((found.path.stat().st_mtime, found.path))
        if not runs:
            raise WorkbenchError(
                "no run folder: set run_dir to a folder made by `workbench run` "
                "(reports/<name>/<time>), or config to a YAML file to start one"
            )
        path = max(runs)[1]
        print(f"using the latest run: {path}")
        return cls(path)

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
    def is_partial(self) -> bool:
        return self.path.name.endswith(PARTIAL_SUFFIX)

    def publish(self, succeeded: bool) -> Run:
        """Give the run its final name; on success point `latest` at it (last of all)."""
        if self.is_partial:
            final = self.base / self.name
            os.replace(self.path, final)
            self.path = final
            self.__dict__.pop("config", None)
        if succeeded:
            _point_latest(self.base, self.name)
        return self

    # ------------------------------------------------------------------ files
    def file(self, name: str) -> Path:
        """The path of an artifact (see `ARTIFACTS`)."""
        return self.path / artifact(name).file

    def ingest_targets(self):
        """Where ingest writes the cleaned events, the quarantined rows and the profiles."""
        from workbench.ingest import IngestTargets

        return IngestTargets(self.file("events"), self.file("quarantine"), self.file("profiles"))

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
        _atomic_write(path, json.dumps(data, indent=2, default=str))
        return path

    def read_frame(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        import pandas as pd

        path = self.require(name)
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns)

    def write_frame(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            write_csv(frame, path)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.file(name)
        _atomic_write(path, text)
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


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A frame as CSV (no index). Arrow's writer where it can type every column: the scores of
    half a million profiles with their factor text took pandas 4 s and Arrow a fraction of it.
    Text is quoted, missing values are empty. A column mixing numbers and text (a table's
    `typical_value`) goes through pandas."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame.to_csv(path, index=False)
        return path
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash or full disk never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
