"""The configuration of where data comes from: the events, profiles and identities sources
(files, folders, globs, warehouse tables), how their columns map to the canonical ones and how
their text is read. Part of the YAML contract `workbench.config` validates (and re-exports).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

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


# A file, a folder (Hive-partitioned Parquet included) or a glob, or a list of them.
SourcePath = Path | list[Path]


# `snowplow_enriched`: Snowplow's enriched TSV (131 canonical fields, no header, no quoting).
FileFormat = Literal["auto", "csv", "parquet", "jsonl", "snowplow_enriched"]


# What `events.types` may declare a column to be (text is read with a checked cast).
ColumnType = Literal["integer", "number", "text", "boolean", "timestamp"]


class JoinedFields(BaseModel):
    """An event type made of several fields, e.g. Snowplow's `{join: [se_category, se_action],
    sep: ":"}`; empty when any part is empty (so a list can fall back to the next entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    join: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2)]
    sep: str = ":"


def canonical_sources(canonical: str, value: Any) -> str | list[str | JoinedFields]:
    """`columns.<canonical>` as written: one column, or (profile_id, event_type) an ordered list
    whose first non-empty entry wins; event_type entries may be `{join: [...], sep}`."""
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise ValueError(f"{canonical}: give a column or a non-empty list of columns")
    out: list[str | JoinedFields] = []
    for entry in entries:
        if isinstance(entry, str) and entry.strip():
            out.append(entry)
        elif isinstance(entry, dict) and canonical == "event_type":
            try:
                out.append(JoinedFields.model_validate(entry))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                raise ValueError(
                    f"event_type: {{join: [...], sep}}: {where}: {problem['msg']}"
                ) from None
        else:
            allowed = (
                "a column name or {join: [a, b], sep: ':'}"
                if canonical == "event_type"
                else "column names"
            )
            raise ValueError(f"{canonical}: entries must be {allowed}, got {entry!r}")
    if canonical == "timestamp" and (len(out) != 1 or not isinstance(value, str)):
        raise ValueError("timestamp: give one column")
    return out[0] if isinstance(value, str) else out


class _SourceOptions:
    """`header`, `names` and the `snowplow_enriched` preset (files of events, profiles, ids)."""

    @model_validator(mode="after")
    def _header_and_names(self):
        fmt, header, names = self.format, self.header, self.names  # type: ignore[attr-defined]
        if fmt == "snowplow_enriched" and (header is not None or names or self.delimiter):  # type: ignore[attr-defined]
            raise ValueError("format snowplow_enriched sets header, names and delimiter itself")
        if fmt in ("parquet", "jsonl") and (header is not None or names):
            raise ValueError(f"header and names are for csv files, not {fmt}")
        if names is not None:
            if header is not False:
                raise ValueError("names: only with header: false (the file has no header row)")
            if len(set(names)) != len(names) or not all(str(n).strip() for n in names):
                raise ValueError("names: give each column a different, non-empty name")
        return self


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


class EventsConfig(_SourceOptions, _TextOptions, _Strict):
    """Where the experience events come from and how their columns map to the canonical ones."""

    path: SourcePath | None = None
    table: str | None = None
    connection: str | None = None
    format: FileFormat = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    header: bool | None = None
    names: list[str] | None = None
    types: dict[str, ColumnType] = Field(default_factory=dict)
    columns: dict[str, Any] = Field(default_factory=dict)
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
    def _canonical_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = set(v) - {"profile_id", "timestamp", "event_type"}
        if unknown:
            raise ValueError(
                f"unknown canonical column(s) {sorted(unknown)}; map profile_id, timestamp, event_type"
            )
        return {key: canonical_sources(key, value) for key, value in v.items()}

    @model_validator(mode="after")
    def _one_source(self) -> EventsConfig:
        # Neither is allowed for events passed from Python as a frame; ingest then needs one.
        if self.path is not None and self.table is not None:
            raise ValueError("give one of 'path' (a file) or 'table' (a database table), not both")
        return self


class ProfilesConfig(_SourceOptions, _TextOptions, _Strict):
    """Optional profile attributes: one row per profile (`path` may be left out when the
    profiles are passed from Python as a frame)."""

    path: SourcePath | None = None
    format: FileFormat = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    header: bool | None = None
    names: list[str] | None = None
    types: dict[str, ColumnType] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _canonical_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - {"profile_id"}
        if unknown:
            raise ValueError(f"unknown canonical column(s) {sorted(unknown)}; map profile_id only")
        return v


class IdentitiesConfig(_SourceOptions, _TextOptions, _Strict):
    """An identity table that stitches ids before anything else: each event whose profile id
    is a `from` value takes the `to` value (anonymous cookie -> known user id)."""

    path: SourcePath
    format: FileFormat = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    header: bool | None = None
    names: list[str] | None = None
    types: dict[str, ColumnType] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=lambda: {"from": "from", "to": "to"})

    @field_validator("columns")
    @classmethod
    def _from_and_to(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - {"from", "to"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)}; map 'from' and 'to'")
        return {"from": v.get("from", "from"), "to": v.get("to", "to")}
