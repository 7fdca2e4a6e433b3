"""The YAML configuration: the public contract that users, tests and examples write.

Validated by pydantic. Unknown keys are errors; paths are relative to the config file; every
error names the key and the file in one line (`ConfigError`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from workbench.conditions import LIST_OPERATORS, OPERATORS, PRESENCE_OPERATORS, TEXT_OPERATORS
from workbench.config_files import apply_overrides, format_validation_error, read_yaml_file
from workbench.config_sources import (
    DELIMITERS,
    EventsConfig,
    IdentitiesConfig,
    JoinedFields,
    ProfilesConfig,
    SourcePath,
    _Strict,
)
from workbench.errors import ConfigError

# The sources' models are part of this contract: `from workbench.config import EventsConfig`.
__all__ = [
    "BucketsConfig",
    "Condition",
    "Config",
    "CustomEvent",
    "DELIMITERS",
    "DuckDBConfig",
    "EconomicsConfig",
    "EligibilityConfig",
    "EventsConfig",
    "FeaturesConfig",
    "GoalConfig",
    "IdentitiesConfig",
    "JoinedFields",
    "MAX_LIST_VALUES",
    "MEMORY_UNITS",
    "ModelsConfig",
    "Operator",
    "OutputConfig",
    "ProfilesConfig",
    "ReadinessConfig",
    "ReportingConfig",
    "SOURCE_COMMENT",
    "ScoringConfig",
    "SegmentRule",
    "SourcePath",
    "SparkConfig",
    "THREADS_PER_CORE",
    "TrainingConfig",
    "config_from_dict",
    "dump_config",
    "load_config",
    "memory_bytes",
    "source_of",
]

Operator = Literal[OPERATORS]  # type: ignore[valid-type]


# An `in` list longer than this is a data file, not a condition (and would cost minutes).
MAX_LIST_VALUES = 10_000


class Condition(_Strict):
    """One test on one event: `{field: event_type, op: "==", value: purchase}`."""

    field: str
    op: Operator = "=="
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        if self.op in LIST_OPERATORS:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"operator '{self.op}' needs a non-empty list value")
            if len(self.value) > MAX_LIST_VALUES:
                raise ValueError(
                    f"too many values for '{self.op}': {len(self.value):,} (at most "
                    f"{MAX_LIST_VALUES:,}); use a profile attribute or a custom event instead"
                )
            if any(isinstance(v, (list, dict)) for v in self.value):
                raise ValueError(f"operator '{self.op}' needs a list of single values, not lists")
        elif self.op in PRESENCE_OPERATORS:
            pass
        elif self.value is None:
            raise ValueError(f"operator '{self.op}' needs a value")
        elif isinstance(self.value, (list, dict)):
            raise ValueError(f"operator '{self.op}' needs a single value, not a list")
        if self.op in TEXT_OPERATORS and not isinstance(self.value, str):
            raise ValueError(f"operator '{self.op}' needs a text value")
        return self


class GoalConfig(_Strict):
    """What the model predicts: a goal event occurring (or not) within the outcome window."""

    outcome: Literal["occurs", "does_not_occur"] = "occurs"
    match: Literal["all", "any"] = "all"
    conditions: Annotated[list[Condition], Field(min_length=1)]
    window_days: Annotated[int, Field(gt=0, le=3650)]

    @property
    def propensity_type(self) -> str:
        return "conversion" if self.outcome == "occurs" else "churn"


class EligibilityConfig(_Strict):
    """Who is scored: profiles active recently (or with any history when null)."""

    active_within_days: Annotated[int, Field(ge=30, le=3650)] | None = None
    conditions: list[Condition] = Field(default_factory=list)


class CustomEvent(_Strict):
    """A named event definition that becomes extra features (counts, recency)."""

    name: Annotated[str, Field(min_length=1)]
    match: Literal["all", "any"] = "all"
    conditions: Annotated[list[Condition], Field(min_length=1)]


class FeaturesConfig(_Strict):
    lookback_days: Annotated[int, Field(ge=30, le=3650)] = 365
    exclude: list[str] = Field(default_factory=list)
    # Numeric columns to treat as identifiers (distinct counts) / as quantities (sums, means),
    # overriding the guess from the column name.
    identifiers: list[str] = Field(default_factory=list)
    quantities: list[str] = Field(default_factory=list)


class TrainingConfig(_Strict):
    """When the snapshots are taken and how many rows the models see (README: "Models and
    honest numbers")."""

    # How far back training goes: (snapshots - 1) * step_days before the oldest validation origin.
    snapshots: Annotated[int, Field(ge=2, le=52)] = 4
    # Validation origins as_of - window_days - k * step_days, k < validation_folds.
    step_days: Annotated[int, Field(ge=1, le=365)] = 30
    validation_folds: Annotated[int, Field(ge=1, le=12)] = 3
    # A training cutoff every this many days back from the newest origin (denser than the
    # origins, so that every fold trains on several cutoffs).
    cutoff_every_days: Annotated[int, Field(ge=1, le=365)] = 14
    # Above this many snapshot rows, the snapshots are sampled (documented in README).
    max_rows: Annotated[int, Field(ge=1000)] = 500_000
    # Rows per model fit (each fold and the refit): a stratified sample by cutoff and label.
    fit_rows: Annotated[int, Field(ge=1000)] = 60_000
    seed: int = 42


class ModelsConfig(_Strict):
    """How the candidates are built; every choice is recorded in metrics.json."""

    # LightGBM monotone constraints where the goal fixes a direction (frequency and recency of
    # the goal event and of overall activity).
    monotone: bool = True
    # The average of the calibrated logistic and boosted models, kept only on a clear fold win.
    blend: bool = True
    # folds: Platt on the newest outcome window unless the folds show it hurts; or fixed.
    calibration: Literal["folds", "none", "platt"] = "folds"


class ReadinessConfig(_Strict):
    min_positives: Annotated[int, Field(ge=1)] = 500
    min_negatives: Annotated[int, Field(ge=1)] = 500


class BucketsConfig(_Strict):
    medium: Annotated[int, Field(ge=1, le=100)] = 25
    high: Annotated[int, Field(ge=1, le=100)] = 75

    @model_validator(mode="after")
    def _ordered(self) -> BucketsConfig:
        if not self.medium < self.high:
            raise ValueError("buckets: 'medium' must be below 'high'")
        return self


class ScoringConfig(_Strict):
    as_of: dt.date | None = None
    buckets: BucketsConfig = Field(default_factory=BucketsConfig)

    @field_validator("as_of", mode="before")
    @classmethod
    def _iso_day(cls, v: Any) -> Any:
        # pydantic would read 20250101 as seconds since 1970 ("should have zero time").
        if isinstance(v, (int, float)) or (isinstance(v, str) and not _ISO_DAY.match(v.strip())):
            raise ValueError(f"use a date written YYYY-MM-DD (got {v!r})")
        return v


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class OutputConfig(_Strict):
    dir: Path | None = None


class SegmentRule(_Strict):
    """An audience built from scores, factors and profile attributes."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\- ]+$")]
    bucket: Literal["low", "medium", "high"] | list[Literal["low", "medium", "high"]] | None = None
    percentile_min: Annotated[int, Field(ge=1, le=100)] | None = None
    percentile_max: Annotated[int, Field(ge=1, le=100)] | None = None
    factor: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    # The profit-optimal target size (within the budget, if any) from `economics:`.
    top_by_profit: bool = False

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> SegmentRule:
        low, high = self.percentile_min, self.percentile_max
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"percentile_min {low} is above percentile_max {high}: the segment would be empty"
            )
        return self


class EconomicsConfig(_Strict):
    """What a contact costs and a conversion is worth: turns scores into a target size."""

    cost_per_contact: Annotated[float, Field(ge=0)]
    value_per_conversion: Annotated[float, Field(gt=0)]
    budget: Annotated[float, Field(gt=0)] | None = None  # most a campaign may spend on contacts
    currency: Annotated[str, Field(max_length=8)] = ""  # shown beside amounts: "$", "EUR"


class ReportingConfig(_Strict):
    """What the reports add: cohorts are profile attributes (or feature codes) whose groups get
    their own score distribution, base rate, calibration and AUC."""

    cohorts: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


class SparkConfig(_Strict):
    master: str = "local[2]"
    conf: dict[str, str] = Field(default_factory=dict)


# DuckDB's memory units (1000^i and 1024^i); a bare number or a percentage is refused by it.
MEMORY_UNITS = {
    "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}  # fmt: skip
_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")


def memory_bytes(text: str | None) -> float | None:
    """`'6GB'` -> 6e9; None for None or text DuckDB would not read."""
    match = _MEMORY.match(text or "")
    if not match or match.group(2).upper() not in MEMORY_UNITS:
        return None
    return float(match.group(1)) * MEMORY_UNITS[match.group(2).upper()]


# More threads than this many per core only thrash (100,000 ran 4 minutes and ran out of memory).
THREADS_PER_CORE = 4


class DuckDBConfig(_Strict):
    # Keeps a 1M-profile `workbench run` under 4 GB peak for its whole process tree: past it
    # DuckDB spills (ingest's staged rows) and snapshots run in profile partitions. Ingest fills
    # the limit while the notebooks' kernel (0.3 GB) is already up: at 3GB the tree peaked at
    # 3.7-4.0 GB there, at 2.5GB at 3.1-3.5 GB in the same 14 s; 3GB cost no time against 6GB
    # (null: DuckDB's own default, 80% of RAM).
    memory_limit: str | None = "2.5GB"
    threads: Annotated[int, Field(ge=1)] | None = None

    @field_validator("memory_limit")
    @classmethod
    def _memory_parses(cls, v: str | None) -> str | None:
        if v is not None and not memory_bytes(v):
            raise ValueError(
                f"{v!r} is not an amount of memory (a number and a unit; anything else is not "
                "allowed), e.g. '6GB' or '512MiB'"
            )
        return v

    @field_validator("threads")
    @classmethod
    def _threads_bounded(cls, v: int | None) -> int | None:
        cores = os.cpu_count() or 1
        if v is not None and v > cores * THREADS_PER_CORE:
            raise ValueError(
                f"{v:,} threads on a machine with {cores} cores; at most {cores * THREADS_PER_CORE}"
                f" ({THREADS_PER_CORE} per core), or leave it out for one per core"
            )
        return v


class Config(_Strict):
    """A whole workbench configuration. Only `events` and `goal` are required."""

    name: str = "workbench"
    events: EventsConfig
    profiles: ProfilesConfig | None = None
    identities: IdentitiesConfig | None = None
    goal: GoalConfig
    eligibility: EligibilityConfig = Field(default_factory=EligibilityConfig)
    custom_events: list[CustomEvent] = Field(default_factory=list)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    segments: list[SegmentRule] = Field(default_factory=list)
    economics: EconomicsConfig | None = None
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    duckdb: DuckDBConfig = Field(default_factory=DuckDBConfig)

    # The file this config came from (errors name it); not part of the YAML.
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # The name is the folder `reports/<name>`: '.', '..' or '.x' would put runs elsewhere.
        if not re.fullmatch(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*", v):
            raise ValueError(
                f"{v!r} cannot name the output folder reports/<name>: use letters, digits, "
                "'_', '-' and '.', not starting with a dot"
            )
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [c.name for c in self.custom_events]
        if len(names) != len(set(names)):
            raise ValueError("custom_events: names must be unique")
        seg = [s.name for s in self.segments]
        if len(seg) != len(set(seg)):
            raise ValueError("segments: names must be unique")
        for i, rule in enumerate(self.segments):
            if rule.top_by_profit and self.economics is None:
                raise ValueError(
                    f"segments.{i}.top_by_profit: needs an economics section "
                    "(cost_per_contact, value_per_conversion)"
                )
        if len(set(self.reporting.cohorts)) != len(self.reporting.cohorts):
            raise ValueError("reporting.cohorts: each attribute once")
        return self

    @property
    def output_dir(self) -> Path:
        return self.output.dir if self.output.dir is not None else Path("reports") / self.name

    def where(self) -> str:
        """The file name used in error messages."""
        return str(self.source) if self.source else "<config>"

    def to_yaml_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings) for writing the config used next to a run."""
        return self.model_dump(mode="json", exclude={"source"}, exclude_none=True)


def _resolve_path(p: Path | None, base: Path) -> Path | None:
    if p is None:
        return None
    p = Path(p).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _resolve_source(p: SourcePath | None, base: Path) -> SourcePath | None:
    """A file, folder or glob (or a list of them) relative to the config; URLs stay as written."""
    if p is None:
        return None
    if isinstance(p, list):
        return [_resolve_source(item, base) for item in p]  # type: ignore[misc]
    return _resolve_path(Path(p), base)


def config_from_dict(
    raw: dict[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> Config:
    """Validate a plain dict (e.g. parsed YAML) into a Config; relative paths resolve against base_dir."""
    where = str(source) if source else "<config>"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of sections (events, goal, ...)")
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where, Config)) from None
    base = base_dir or Path.cwd()
    cfg.events.path = _resolve_source(cfg.events.path, base)
    if cfg.events.connection and "://" not in cfg.events.connection:
        cfg.events.connection = str(_resolve_path(Path(cfg.events.connection), base))
    if cfg.profiles is not None and cfg.profiles.path is not None:
        cfg.profiles.path = _resolve_source(cfg.profiles.path, base)
    if cfg.identities is not None:
        cfg.identities.path = _resolve_source(cfg.identities.path, base)
    if cfg.output.dir is not None:
        cfg.output.dir = _resolve_path(cfg.output.dir, base)
    cfg.source = source
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Config:
    """Read and validate a YAML config. `overrides` are dotted keys (`goal.window_days`) to values."""
    path = Path(path)
    raw = read_yaml_file(path)
    if raw is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (events, goal, ...)")
    apply_overrides(raw, overrides, str(path))
    return config_from_dict(raw, base_dir=path.parent.resolve(), source=path)


SOURCE_COMMENT = "# source: "


def dump_config(cfg: Config, path: str | Path) -> Path:
    """Write the config as used (absolute paths) next to a run; a first-line comment names the
    file it came from, so later errors point the analyst at the file to edit."""
    path = Path(path)
    text = yaml.safe_dump(cfg.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    if cfg.source is not None:
        text = f"{SOURCE_COMMENT}{Path(cfg.source).resolve()}\n{text}"
    path.write_text(text)
    return path


def source_of(path: str | Path) -> Path | None:
    """The original config file a run's config.yaml was written from (see `dump_config`)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
    except OSError:
        return None
    return Path(first[len(SOURCE_COMMENT) :]) if first.startswith(SOURCE_COMMENT) else None
