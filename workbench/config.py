"""The YAML configuration: the public contract that users, tests and examples write.

Validated by pydantic. Unknown keys are errors; paths are relative to the config file; every
error names the key and the file in one line (`ConfigError`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workbench.conditions import LIST_OPERATORS, OPERATORS, PRESENCE_OPERATORS, TEXT_OPERATORS
from workbench.config_files import apply_overrides, read_yaml_file
from workbench.errors import ConfigError

Operator = Literal[OPERATORS]  # type: ignore[valid-type]

# The strptime codes DuckDB reads (`%-d` etc. are the same codes without zero padding).
STRPTIME_DIRECTIVES = set("aAwdbBmyYHIpMSfzZjUWcxXgGVu%nT")
DELIMITERS = {"whitespace": None, ",": ",", "\t": "\t", "tab": "\t", ";": ";", "|": "|"}
# Text encodings DuckDB's CSV reader has built in, and the spellings people write for them.
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
}


class _TextOptions:
    """`encoding` and `decimal_separator` for csv/text sources (events and profiles)."""

    @field_validator("encoding", check_fields=False)
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is None:
            return v
        name = ENCODINGS.get(str(v).strip().lower())
        if name is None:
            raise ValueError(f"unknown encoding {v!r}; use utf-8, utf-16 or latin-1")
        return name

    @model_validator(mode="after")
    def _decimal_not_delimiter(self):
        if self.decimal_separator == "," and self.delimiter == ",":  # type: ignore[attr-defined]
            raise ValueError("decimal_separator ',' needs another delimiter (e.g. ';')")
        return self


def _takes_number(annotation: Any) -> bool:
    """Does a field's type accept numbers (and not booleans)? `int`, `Annotated[int, ...] | None`."""
    if annotation in (int, float):
        return True
    if annotation is bool:
        return False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        args = args[:1]
    return any(_takes_number(a) for a in args) and bool not in args


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads `window_days: true` as 1 day; a boolean is never a count or a day.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _takes_number(field.annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


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


class EventsConfig(_TextOptions, _Strict):
    """Where the experience events come from and how their columns map to the canonical ones."""

    path: Path | None = None
    table: str | None = None
    connection: str | None = None
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    event_type: str | None = None
    timestamp_format: str | None = None
    dedupe: Literal["exact", "none"] | Annotated[list[str], Field(min_length=1)] = "exact"

    @field_validator("timestamp_format")
    @classmethod
    def _known_directives(cls, v: str | None) -> str | None:
        if v is None:
            return v
        unknown = [d for d in re.findall(r"%-?(.)", v) if d not in STRPTIME_DIRECTIVES]
        if unknown:
            raise ValueError(
                f"{v!r}: unknown directive(s) {', '.join('%' + d for d in unknown)}; use "
                "strptime codes such as %Y %m %d %H %M %S (e.g. '%d.%m.%Y %H:%M')"
            )
        if "%" not in v:
            raise ValueError(f"{v!r} has no %-codes; e.g. '%d.%m.%Y %H:%M'")
        return v

    @field_validator("delimiter")
    @classmethod
    def _known_delimiter(cls, v: str | None) -> str | None:
        if v is not None and v not in DELIMITERS:
            raise ValueError(
                f"unknown delimiter {v!r}; use one of ',', '\\t', ';', '|', whitespace"
            )
        return v

    @field_validator("columns")
    @classmethod
    def _canonical_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - {"profile_id", "timestamp", "event_type"}
        if unknown:
            raise ValueError(
                f"unknown canonical column(s) {sorted(unknown)}; map profile_id, timestamp, event_type"
            )
        return v

    @model_validator(mode="after")
    def _one_source(self) -> EventsConfig:
        # Neither is allowed for events passed from Python as a frame; ingest then needs one.
        if self.path is not None and self.table is not None:
            raise ValueError("give one of 'path' (a file) or 'table' (a database table), not both")
        return self


class ProfilesConfig(_TextOptions, _Strict):
    """Optional profile attributes: one row per profile (`path` may be left out when the
    profiles are passed from Python as a frame)."""

    path: Path | None = None
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _canonical_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - {"profile_id"}
        if unknown:
            raise ValueError(f"unknown canonical column(s) {sorted(unknown)}; map profile_id only")
        return v


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
    snapshots: Annotated[int, Field(ge=2, le=52)] = 4
    step_days: Annotated[int, Field(ge=1, le=365)] = 30
    # Above this many snapshot rows, training uses a stratified sample (documented in README).
    max_rows: Annotated[int, Field(ge=1000)] = 500_000
    seed: int = 42


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

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> SegmentRule:
        low, high = self.percentile_min, self.percentile_max
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"percentile_min {low} is above percentile_max {high}: the segment would be empty"
            )
        return self


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
    # Keeps a 1M-profile run under 8 GB peak: past it DuckDB spills and snapshots run in
    # profile partitions (null: DuckDB's own default, 80% of RAM, faster on big machines).
    memory_limit: str | None = "6GB"
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
    goal: GoalConfig
    eligibility: EligibilityConfig = Field(default_factory=EligibilityConfig)
    custom_events: list[CustomEvent] = Field(default_factory=list)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    segments: list[SegmentRule] = Field(default_factory=list)
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


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X`, `X | None`, `list[X]`, `dict[str, X]`..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the config accepts in the section holding `loc` (for "did you mean")."""
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _format_validation_error(exc: ValidationError, where: str) -> str:
    # An unknown key is usually the typo behind the other errors ("event:" also makes "events"
    # missing), so it is the one to report.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    parts = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
    loc = ".".join(str(p) for p in parts)
    msg = err["msg"]
    others = len(errors) - 1
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        close = difflib.get_close_matches(str(parts[-1]), _keys_at(parts), n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
            meant = parts[:-1] + (close[0],)
            others -= sum(e["type"] == "missing" and tuple(e["loc"]) == meant for e in errors[1:])
    elif err["type"] == "missing":
        msg = "required key is missing"
    msg = msg.removeprefix("Value error, ")
    more = f" (and {others} more)" if others > 0 else ""
    return f"{where}: {loc or '<top>'}: {msg}{more}"


def _resolve_path(p: Path | None, base: Path) -> Path | None:
    if p is None:
        return None
    p = Path(p).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


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
        raise ConfigError(_format_validation_error(exc, where)) from None
    base = base_dir or Path.cwd()
    cfg.events.path = _resolve_path(cfg.events.path, base)
    if cfg.events.connection and "://" not in cfg.events.connection:
        cfg.events.connection = str(_resolve_path(Path(cfg.events.connection), base))
    if cfg.profiles is not None and cfg.profiles.path is not None:
        cfg.profiles.path = _resolve_path(cfg.profiles.path, base)
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
