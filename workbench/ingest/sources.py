"""Sources: which files a `path` names, in which format, read as one table with declared types.

A path is a file, a glob (`ga4/events_*.json`, `logs/**/*.gz`), a folder (every file under it;
Hive-partitioned `year=2025/month=01/` folders give their partition values) or a list of these.
The format comes from the file names, else from the first bytes of the first file (Segment's
archive files end in `.gz` only). `format: snowplow_enriched` is a preset: Snowplow's enriched
TSV, 131 canonical fields, no header, no quoting, with the types the Snowplow SDKs give them.
`types:` declares a column's type where the file cannot (BigQuery's JSON export writes every
INT64 as text); values that do not fit become missing and are counted in a notice.
"""

from __future__ import annotations

import glob
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from workbench.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- the preset
# snowplow/documentation docs/pipeline/enriched-tsv-format: "As TSV files do not contain header
# information", the 131 fields in this order.
SNOWPLOW_ENRICHED_FIELDS: tuple[str, ...] = tuple(
    """app_id platform etl_tstamp collector_tstamp dvce_created_tstamp event event_id txn_id
    name_tracker v_tracker v_collector v_etl user_id user_ipaddress user_fingerprint
    domain_userid domain_sessionidx network_userid geo_country geo_region geo_city geo_zipcode
    geo_latitude geo_longitude geo_region_name ip_isp ip_organization ip_domain ip_netspeed
    page_url page_title page_referrer page_urlscheme page_urlhost page_urlport page_urlpath
    page_urlquery page_urlfragment refr_urlscheme refr_urlhost refr_urlport refr_urlpath
    refr_urlquery refr_urlfragment refr_medium refr_source refr_term mkt_medium mkt_source
    mkt_term mkt_content mkt_campaign contexts se_category se_action se_label se_property
    se_value unstruct_event tr_orderid tr_affiliation tr_total tr_tax tr_shipping tr_city
    tr_state tr_country ti_orderid ti_sku ti_name ti_category ti_price ti_quantity
    pp_xoffset_min pp_xoffset_max pp_yoffset_min pp_yoffset_max useragent br_name br_family
    br_version br_type br_renderengine br_lang br_features_pdf br_features_flash
    br_features_java br_features_director br_features_quicktime br_features_realplayer
    br_features_windowsmedia br_features_gears br_features_silverlight br_cookies
    br_colordepth br_viewwidth br_viewheight os_name os_family os_manufacturer os_timezone
    dvce_type dvce_ismobile dvce_screenwidth dvce_screenheight doc_charset doc_width
    doc_height tr_currency tr_total_base tr_tax_base tr_shipping_base ti_currency
    ti_price_base base_currency geo_timezone mkt_clickid mkt_network etl_tags
    dvce_sent_tstamp refr_domain_userid refr_device_tstamp derived_contexts domain_sessionid
    derived_tstamp event_vendor event_name event_format event_version event_fingerprint
    true_tstamp""".split()
)


def _snowplow_types() -> dict[str, str]:
    """Types as snowplow-python-analytics-sdk's event_transformer gives them (text otherwise;
    `geo_zipcode` stays text: leading zeros)."""
    types = {n: "timestamp" for n in SNOWPLOW_ENRICHED_FIELDS if n.endswith("_tstamp")}
    integers = """txn_id domain_sessionidx page_urlport refr_urlport ti_quantity pp_xoffset_min
        pp_xoffset_max pp_yoffset_min pp_yoffset_max br_viewwidth br_viewheight dvce_screenwidth
        dvce_screenheight doc_width doc_height""".split()
    numbers = """geo_latitude geo_longitude se_value tr_total tr_tax tr_shipping ti_price
        tr_total_base tr_tax_base tr_shipping_base ti_price_base""".split()
    booleans = [n for n in SNOWPLOW_ENRICHED_FIELDS if n.startswith("br_features_")]
    types.update({n: "integer" for n in integers})
    types.update({n: "number" for n in numbers})
    types.update({n: "boolean" for n in [*booleans, "br_cookies", "dvce_ismobile"]})
    return types


@dataclass(frozen=True)
class Preset:
    """A named layout: the csv options and column types a vendor's files always have."""

    delimiter: str
    names: tuple[str, ...]
    types: dict[str, str]
    quote: str | None = None


PRESETS = {
    "snowplow_enriched": Preset("\t", SNOWPLOW_ENRICHED_FIELDS, _snowplow_types(), quote=""),
}

# events.types values -> engine types
TYPES = {
    "integer": dt.int64,
    "number": dt.float64,
    "text": dt.string,
    "boolean": dt.boolean,
    "timestamp": dt.Timestamp(),
}


# ----------------------------------------------------------------------------- which files
GLOB_CHARS = re.compile(r"[*?\[]")
# Partition folders that repeat the event time (year=2025/month=01/dt=2025-01-01/...).
TIME_PARTITIONS = {"year", "month", "day", "date", "dt", "ds", "hour", "yyyy", "mm", "dd"}


@dataclass(frozen=True)
class SourceFiles:
    """The files a config's path names, their format and Hive partition keys."""

    files: tuple[Path, ...]
    fmt: str
    written: str  # the path as the config gives it, for messages
    partitions: tuple[str, ...] = ()
    skipped_empty: int = 0

    @property
    def where(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        return f"{self.written} ({len(self.files)} files)"


def _visible(path: Path, root: Path) -> bool:
    """Spark/Hadoop markers (_SUCCESS, .crc, _delta_log) are not data."""
    rel = path.relative_to(root).parts
    return not any(p.startswith((".", "_")) for p in rel) and not path.name.endswith(".crc")


def _expand(item: Path, what: str, key: str | None) -> list[Path]:
    text = str(item)
    at = f"{key}: " if key else f"{what}.path: "
    if GLOB_CHARS.search(text):
        found = [Path(p) for p in glob.glob(text, recursive=True)]
        files = sorted(p for p in found if p.is_file())
        if not files:
            raise DataError(f"{at}{text}: no file matches")
        return files
    if item.is_dir():
        files = sorted(p for p in item.rglob("*") if p.is_file() and _visible(p, item))
        if not files:
            raise DataError(f"{at}{item}: the folder holds no files")
        return files
    if not item.exists():
        raise DataError(
            f"{key}: {item}: file not found" if key else f"{item}: {what} file not found"
        )
    return [item]


def _partition_keys(files: list[Path]) -> tuple[str, ...]:
    """Hive partition keys (`year=2025/month=01/`) when every file sits in such folders."""
    keys: list[str] | None = None
    for f in files:
        found = [p.split("=", 1)[0] for p in f.parent.parts if re.fullmatch(r"[^=]+=[^=]*", p)]
        if keys is None:
            keys = found
        elif found != keys:
            return ()
    return tuple(keys or ())


def list_files(path, declared: str, what: str = "events", *, key: str | None = None) -> SourceFiles:
    """The files of a path (file, glob, folder or list), checked to exist and share a format.
    `key`: how errors name the config key (default `<what>.path`)."""
    if path is None:
        raise ConfigError(f"{what}.path is not set")
    items = path if isinstance(path, list) else [path]
    files: list[Path] = []
    for item in items:
        files += [f for f in _expand(Path(item), what, key) if f not in files]
    non_empty = [f for f in files if f.stat().st_size > 0]
    if not non_empty:
        raise DataError(f"{files[0]}: {what} file is empty")
    written = ", ".join(str(i) for i in items)
    fmt = _common_format(non_empty, declared, what, written)
    keys = _partition_keys(non_empty)
    return SourceFiles(tuple(non_empty), fmt, written, keys, len(files) - len(non_empty))


def _common_format(files: list[Path], declared: str, what: str, written: str) -> str:
    if declared == "snowplow_enriched":
        return "csv"
    if declared != "auto":
        return declared
    by_format: dict[str, Path] = {}
    for f in files:
        by_format.setdefault(detect_format(f), f)
    if len(by_format) > 1:
        shown = ", ".join(f"{fmt} ({p.name})" for fmt, p in by_format.items())
        raise DataError(
            f"{what}.path: {written}: files of several formats: {shown}; give a glob for one "
            f"of them (e.g. folder/**/*.parquet) or set {what}.format"
        )
    return next(iter(by_format))


def detect_format(path: Path, declared: str = "auto") -> str:
    """csv, parquet or jsonl from the name; a name that says nothing (`x.gz`) from the content."""
    if declared == "snowplow_enriched":
        return "csv"
    if declared != "auto":
        return declared
    name = path.name.lower()
    for suffix in (".gz", ".gzip", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv", ".txt", ".tab", ".psv", ".dat")):
        return "csv"
    return _format_from_content(path)


def _format_from_content(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(4096)
    except (OSError, EOFError):
        return "csv"
    if head[:4] == b"PAR1":
        return "parquet"
    return "jsonl" if head.lstrip()[:1] in (b"{", b"[") else "csv"


# ----------------------------------------------------------------------------- declared types
@dataclass
class TypedColumns:
    """Columns cast to their declared types. Each cast that can fail adds a boolean column
    `_cast_failed_<i>` (true where a value did not fit), counted after staging."""

    table: Any
    checks: list[str] = field(default_factory=list)  # "column (type)" of each _cast_failed_<i>
    unknown: dict[str, str] = field(default_factory=dict)  # declared but not (yet) a column


def cast_checked(col, kind: str):
    """`col` as the declared type; text that does not fit becomes NULL (never an error, and an
    integer is only read from whole numbers: DuckDB's text cast would round '11.7' to 12)."""
    target = TYPES[kind]
    if col.type() == target or (kind == "timestamp" and col.type().is_timestamp()):
        return col
    if col.type().is_string():
        text = col.strip().nullif("")
        if kind == "integer":
            whole = text.re_search(r"^[+-]?[0-9]{1,18}$")
            return ibis.cases((whole, text.try_cast(target)), else_=ibis.null(target))
        return text.try_cast(target)
    if kind == "text":
        return col.cast(target)
    return col.try_cast(target)


def apply_types(table, types: dict[str, str], start: int = 0) -> TypedColumns:
    """Cast the columns named in `types`; the ones not in `table` are returned as `unknown`
    (they may be fields inside arrays or key/value columns, typed later). `start`: the number
    of the first `_cast_failed_<i>` column."""
    casts, failed, labels, unknown = {}, {}, [], {}
    for name, kind in types.items():
        if name not in table.columns:
            unknown[name] = kind
            continue
        col = table[name]
        cast = cast_checked(col, kind)
        if cast is col:
            continue
        casts[name] = cast
        failed[f"_cast_failed_{start + len(labels)}"] = col.notnull() & cast.isnull()
        labels.append(f"{name} ({kind})")
    if casts:
        table = table.mutate(**casts, **failed)
    return TypedColumns(table, labels, unknown)


def failed_cast_notices(table, names: list[str], what: str = "events") -> list[str]:
    """Notices for declared types some values did not fit (they are now missing), counted from
    the boolean `_cast_failed_<i>` columns staging added for each check in `names`."""
    if not names:
        return []
    sums = {f"c{i}": table[f"_cast_failed_{i}"].cast("int64").sum() for i in range(len(names))}
    row = table.aggregate(**sums).to_pyarrow().to_pylist()[0]
    return [
        f"{what}.types: {name}: {int(row[f'c{i}']):,} values do not fit and are read as missing"
        for i, name in enumerate(names)
        if row[f"c{i}"]
    ]


# ----------------------------------------------------------------------------- reading
def csv_options(cfg, files: SourceFiles) -> dict[str, Any]:
    """DuckDB read_csv options from the config (and its preset)."""
    from workbench.config import DELIMITERS

    preset = PRESETS.get(cfg.format)
    kwargs: dict[str, Any] = {"header": cfg.header is not False}
    if preset is not None:
        kwargs.update(header=False, names=list(preset.names), delim=preset.delimiter)
        kwargs.update(quote=preset.quote, escape=preset.quote, all_varchar=True)
    elif cfg.names:
        kwargs["names"] = list(cfg.names)
    if cfg.delimiter is not None and preset is None:
        kwargs["delim"] = DELIMITERS[cfg.delimiter]
    if cfg.encoding is not None:
        kwargs["encoding"] = cfg.encoding
    if cfg.decimal_separator is not None:
        kwargs["decimal_separator"] = cfg.decimal_separator
    if files.partitions:
        kwargs["hive_partitioning"] = True
    if len(files.files) > 1:
        kwargs["union_by_name"] = True
    return kwargs


def declared_types(cfg) -> dict[str, str]:
    """The preset's types with the config's `types` on top."""
    preset = PRESETS.get(getattr(cfg, "format", "auto"))
    return {**(preset.types if preset else {}), **dict(getattr(cfg, "types", {}) or {})}


def read_parquet(con, files: SourceFiles):
    kwargs: dict[str, Any] = {}
    if files.partitions:
        kwargs["hive_partitioning"] = True
    if len(files.files) > 1:
        kwargs["union_by_name"] = True
    return con.read_parquet([str(f) for f in files.files], **kwargs)


def read_jsonl(con, files: SourceFiles, full_scan: bool):
    """Newline-delimited JSON. DuckDB's types come from a sample of rows (and files); when any
    record, however late, has a field the sample did not see (it would be dropped silently,
    nested ones too), the files are read again with every row in the sample."""
    paths = [str(f) for f in files.files]
    kwargs: dict[str, Any] = {"format": "newline_delimited"}
    if files.partitions:
        kwargs["hive_partitioning"] = True
    if len(paths) > 1:
        kwargs["union_by_name"] = True
    full = {"sample_size": -1, "maximum_sample_files": -1}
    table = con.read_json(paths, **kwargs, **(full if full_scan else {}))
    if not full_scan and _json_fields_beyond(con, paths, table.schema()):
        table = con.read_json(paths, **kwargs, **full)
    return table


def _json_fields_beyond(con, paths: list[str], schema) -> bool:
    """True when some record has a field (at any depth) that the sampled schema lacks. One
    parallel pass over the raw objects (DuckDB's json_group_structure merges every record's)."""
    import json

    row = con.con.execute(
        "SELECT json_group_structure(json) FROM read_json_objects(?, format = 'newline_delimited')",
        [paths],
    ).fetchall()
    if not row or row[0][0] is None:
        return False
    structure = json.loads(row[0][0])
    return _missing(structure, dt.Struct(dict(schema.items())))


def _missing(structure, dtype) -> bool:
    if isinstance(structure, dict):
        if dtype.is_map() or dtype.is_json():
            return False
        if not dtype.is_struct():
            return True
        names = set(dtype.names)
        return any(k not in names or _missing(v, dtype[k]) for k, v in structure.items())
    if isinstance(structure, list):
        if not structure:
            return False
        if not dtype.is_array():
            return not dtype.is_json()
        return _missing(structure[0], dtype.value_type)
    return False
