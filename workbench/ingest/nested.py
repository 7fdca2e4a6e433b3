"""Nested columns made into fields: key/value arrays, arrays of objects, lists and maps.

Records are flattened to dotted columns first (`readers.flatten_structs`); what is left nested:

- **key/value arrays** (GA4's `event_params`, `user_properties`: `[{key, value: {string_value,
  int_value, float_value, double_value}}]`) become one typed column per key,
  `event_params.page_location`, `event_params.value`. The keys and the types their values
  take are found in one pass; a key whose value is sometimes an `int_value` and sometimes a
  `double_value` (GA4's `value`) is one number column.
- **maps** (XDM's `identityMap` as Parquet stores it) give one column per key
  (`identityMap.ECID`); identity lists (`[{id, authenticatedState, primary}]`) give the id
  flagged primary, else the first.
- **arrays of objects** (`items`, `productListItems`, `properties.products`) give per-event
  fields: how many objects (`items.items_count`), the sum of each numeric field
  (`productListItems.priceTotal`), and the distinct values of each id-like or category field
  (`items.item_id`, a list: the snapshots count distinct values over a profile's events).
- **lists of text** stay lists (distinct counts); anything else is kept but not used, and named
  in a notice.

Every new column is a plain field: goals, eligibility, custom events and features use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from workbench.errors import ConfigError

# A key/value array gets at most this many keys as columns (the most frequent ones).
MAX_KEYS = 60
# GA4's value slots, in the order a number is taken from.
NUMBER_SLOTS = ("int_value", "double_value", "float_value")
TEXT_SLOTS = ("string_value",)
IDENTITY_FIELDS = {"id", "authenticatedState", "primary", "namespace", "type"}
CATEGORY_WORDS = {"category", "categories", "brand", "type", "variant"}


# ----------------------------------------------------------------------------- shapes
def is_key_value(dtype) -> bool:
    """`[{key, value}]`: an array of records with a text `key` and a `value`."""
    if not (dtype.is_array() and dtype.value_type.is_struct()):
        return False
    item = dtype.value_type
    return set(item.names) >= {"key", "value"} and item["key"].is_string()


def is_identity_list(dtype) -> bool:
    """XDM's identity items: `[{id, authenticatedState, primary}]`."""
    if not (dtype.is_array() and dtype.value_type.is_struct()):
        return False
    names = set(dtype.value_type.names)
    return "id" in names and names <= IDENTITY_FIELDS


def is_object_array(dtype) -> bool:
    return dtype.is_array() and dtype.value_type.is_struct()


def is_nested(dtype) -> bool:
    return dtype.is_array() or dtype.is_map() or dtype.is_struct()


def needs_discovery(table) -> bool:
    """Whether making fields of `table` needs a pass over its rows (keys of key/value arrays
    and maps are found in the data)."""
    return any(is_key_value(t) or t.is_map() for t in table.schema().types)


def identity_id(col):
    """The id flagged `primary`, else the first id, of an identity list."""
    first = col[0]["id"]
    item = col.type().value_type
    if "primary" in item.names and item["primary"].is_boolean():
        return ibis.coalesce(col.filter(lambda e: e["primary"])[0]["id"], first)
    return first


def _slots(value_type) -> list[str]:
    if not value_type.is_struct():
        return []
    return [s for s in (*NUMBER_SLOTS, *TEXT_SLOTS) if s in value_type.names]


def _as_number(value, slot: str):
    part = value[slot]
    if part.type().is_string():  # BigQuery's JSON export writes INT64 as text
        part = part.try_cast("int64")
    return part.cast("float64")


def key_value(col, key: str, kind: str = "auto"):
    """The value of `key` in a key/value array: a number, text, or (kind auto) whichever the
    value record holds, numbers first."""
    value = col.filter(lambda p: p["key"] == key)[0]["value"]
    slots = _slots(value.type())
    if not slots:  # [{key, value: <scalar>}]
        return value
    numbers = [_as_number(value, s) for s in slots if s in NUMBER_SLOTS]
    texts = [value[s] for s in slots if s in TEXT_SLOTS]
    if kind == "integer" and numbers:
        return (
            ibis.coalesce(*numbers).cast("int64") if len(numbers) > 1 else numbers[0].cast("int64")
        )
    if kind in ("number", "integer") or (kind == "auto" and numbers and not texts):
        return ibis.coalesce(*numbers) if len(numbers) > 1 else numbers[0]
    as_text = texts + [value[s].cast("string") for s in slots if s in NUMBER_SLOTS]
    return ibis.coalesce(*as_text) if len(as_text) > 1 else as_text[0]


# ----------------------------------------------------------------------------- paths
def resolve(table, path: str):
    """A field path as a column: a (flattened) column, a map key (`identityMap.ECID`), or a key
    of a key/value array (`event_params.ga_session_id`); None when the table has no such field."""
    if path in table.columns:
        return table[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head, rest = ".".join(parts[:i]), ".".join(parts[i:])
        if head not in table.columns:
            continue
        col, dtype = table[head], table[head].type()
        if dtype.is_map():
            value = col[rest]
            return identity_id(value) if is_identity_list(dtype.value_type) else value
        if is_key_value(dtype):
            return key_value(col, rest)
    return None


def head_column(table, path: str) -> str | None:
    """The source column a path reads (`identityMap` for `identityMap.ECID`)."""
    if path in table.columns:
        return path
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head in table.columns:
            return head
    return None


# ----------------------------------------------------------------------------- expansion
@dataclass
class Expansion:
    """The columns nested ones become, what each became, and the ones left unused."""

    columns: dict[str, Any] = field(default_factory=dict)  # name -> expression
    checks: dict[str, Any] = field(default_factory=dict)  # failed declared casts
    described: dict[str, dict[str, Any]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # declared types still unclaimed


def expand_nested(table, skip: set[str], types: dict[str, str], what: str = "events") -> Expansion:
    """Fields for every nested column of `table` not in `skip` (see the module docstring).
    `types`: declared types of fields inside arrays (`items.quantity: integer`) or of keys
    (`event_params.x: number`); the ones that name nothing here are returned unclaimed."""
    from workbench.ingest.sources import cast_checked

    out = Expansion(types=dict(types))
    for name in table.columns:
        dtype = table[name].type()
        if name in skip or not is_nested(dtype):
            continue
        col = table[name]
        if is_key_value(dtype):
            _expand_key_values(table, name, out)
        elif dtype.is_map():
            _expand_map(table, name, out)
        elif is_identity_list(dtype):
            out.columns[name] = identity_id(col)
            out.described[name] = {"kind": "identity list", "columns": [name]}
        elif is_object_array(dtype):
            _expand_objects(col, name, out)
        elif dtype.is_array() and dtype.value_type.is_string():
            out.columns[name] = col.unique()
            out.described[name] = {"kind": "list of text", "columns": [name]}
        else:
            out.columns[name] = col
            out.notices.append(
                f"column '{name}' ({dtype}) is nested in a way no field is made from; it is "
                "kept but not used as a feature"
            )
    for target, expr in list(out.columns.items()):
        kind = out.types.pop(target, None)
        if kind is not None:
            cast = cast_checked(expr, kind)
            out.columns[target] = cast
            out.checks[f"{target} ({kind})"] = expr.notnull() & cast.isnull()
    return out


def _expand_key_values(table, name: str, out: Expansion) -> None:
    col = table[name]
    slots = _slots(col.type().value_type["value"])
    unnested = table.select(_p=col.unnest())
    unnested = unnested.filter(unnested._p["key"].notnull())
    p = unnested._p
    counts: dict[str, Any] = {"_rows": unnested.count()}
    for s in slots:
        counts[s] = p["value"][s].count()
    stats = (
        unnested.group_by(_key=p["key"])
        .aggregate(**counts)
        .order_by(ibis.desc("_rows"))
        .to_pyarrow()
        .to_pylist()
    )
    made, mixed = [], []
    for row in stats[:MAX_KEYS]:
        key = str(row["_key"])
        numbers = sum(int(row.get(s) or 0) for s in slots if s in NUMBER_SLOTS)
        texts = sum(int(row.get(s) or 0) for s in slots if s in TEXT_SLOTS)
        if slots and numbers + texts == 0:
            continue
        declared = out.types.get(f"{name}.{key}")
        if declared in ("number", "integer"):
            kind = declared
        elif numbers and texts:
            kind = "text"
            mixed.append(key)
        elif numbers:
            ints = all(not row.get(s) for s in ("double_value", "float_value"))
            kind = "integer" if ints else "number"
        else:
            kind = "text" if slots else "auto"
        out.columns[f"{name}.{key}"] = key_value(col, key, kind)
        made.append(f"{name}.{key}")
    out.described[name] = {"kind": "key/value", "keys": len(stats), "columns": made}
    if len(stats) > MAX_KEYS:
        out.notices.append(
            f"column '{name}' has {len(stats)} keys; the {MAX_KEYS} most frequent became fields"
        )
    if mixed:
        out.notices.append(
            f"column '{name}': keys {mixed[:5]} hold text on some events and numbers on others; "
            f"read as text (events.types: {{{name}.{mixed[0]}: number}} reads them as numbers)"
        )


def _expand_map(table, name: str, out: Expansion) -> None:
    col = table[name]
    value_type = col.type().value_type
    if is_nested(value_type) and not is_identity_list(value_type):
        out.columns[name] = col
        out.notices.append(
            f"column '{name}' (a map of {value_type}) is kept but not used as a feature"
        )
        return
    keys = (
        table.select(_k=col.keys().unnest())
        .group_by("_k")
        .aggregate(_n=ibis._.count())
        .order_by(ibis.desc("_n"))
        .limit(MAX_KEYS + 1)
        .to_pyarrow()
        .column("_k")
        .to_pylist()
    )
    made = []
    for key in keys[:MAX_KEYS]:
        value = col[key]
        out.columns[f"{name}.{key}"] = identity_id(value) if is_identity_list(value_type) else value
        made.append(f"{name}.{key}")
    out.described[name] = {"kind": "map", "columns": made}
    if len(keys) > MAX_KEYS:
        out.notices.append(f"column '{name}': only the {MAX_KEYS} most frequent keys became fields")


def _expand_objects(col, name: str, out: Expansion) -> None:
    """Per event: how many objects, the sum of each numeric field, the distinct ids."""
    from workbench.column_names import looks_like_identifier
    from workbench.ingest.sources import cast_checked

    item = col.type().value_type
    last = name.split(".")[-1]
    made = {f"{name}.{last}_count": col.length().fill_null(0)}
    for f in item.names:
        ftype, target = item[f], f"{name}.{f}"
        declared = out.types.pop(target, None)
        if declared is not None:
            made[target] = _sum_or_list(col, f, declared, cast_checked)
            continue
        if ftype.is_numeric() and not ftype.is_boolean():
            if looks_like_identifier(f):
                made[target] = col.map(lambda e, f=f: e[f].cast("string")).unique()
            else:
                made[target] = col.map(lambda e, f=f: e[f]).sums()
        elif ftype.is_string() and (looks_like_identifier(f) or _is_category(f)):
            made[target] = col.map(lambda e, f=f: e[f]).unique()
    out.columns.update(made)
    out.described[name] = {"kind": "array of objects", "columns": list(made)}


def _sum_or_list(col, f: str, kind: str, cast_checked):
    if kind in ("integer", "number"):
        return col.map(lambda e: cast_checked(e[f], kind)).sums()
    if kind == "text":
        return col.map(lambda e: e[f].cast("string")).unique()
    raise ConfigError(f"events.types: {f} inside an array can be integer, number or text")


def _is_category(name: str) -> bool:
    from workbench.column_names import _words

    words = _words(name)
    return bool(words) and words[-1] in CATEGORY_WORDS


def unused_nested(table, used: set[str]) -> list[str]:
    """Nested columns of `table` that nothing reads (named in a notice)."""
    return [c for c in table.columns if c not in used and is_nested(table[c].type())]


@ibis.udf.agg.builtin(name="json_group_structure")
def _json_structure(value: dt.JSON) -> dt.JSON:  # type: ignore[valid-type]
    """DuckDB's JSON_GROUP_STRUCTURE: the merged structure of every value (all keys, any depth)."""


def parse_json_columns(table, names: list[str] | None = None):
    """JSON text columns (a warehouse's JSON/JSONB, a Parquet JSON column) as nested values,
    typed from the structure every row has, so they flatten like a JSON file's records (a key
    a row lacks is missing there, not an error)."""
    import json as _json

    from ibis.backends.sql.datatypes import DuckDBType

    names = names if names is not None else [c for c in table.columns if table[c].type().is_json()]
    if not names:
        return table
    found = table.aggregate(
        **{f"s{i}": _json_structure(table[n].cast("json")) for i, n in enumerate(names)}
    )
    row = found.to_pyarrow().to_pylist()[0]
    casts = {}
    for i, name in enumerate(names):
        structure = _structure(_json.loads(row[f"s{i}"])) if row[f"s{i}"] is not None else None
        if structure is None or not isinstance(structure, dict | list):
            continue
        dtype = DuckDBType.from_string(_duckdb_type(structure))
        transform = ibis.udf.scalar.builtin(
            lambda value, structure: None,
            name="json_transform",
            signature=((dt.json, dt.string), dtype),
        )
        casts[name] = transform(table[name].cast("json"), _json.dumps(structure))
    return table.mutate(**casts) if casts else table


# DuckDB's JSON structure types -> the types values are read as (mixed ones stay JSON text).
_JSON_SCALARS = {"UBIGINT": "BIGINT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR",
                 "BOOLEAN": "BOOLEAN", "NULL": "VARCHAR", "JSON": "VARCHAR"}  # fmt: skip


def _structure(structure):
    """json_group_structure's output with read types; None for an object with no keys."""
    if isinstance(structure, dict):
        inner = {
            k: v for k, v in ((k, _structure(v)) for k, v in structure.items()) if v is not None
        }
        return inner or None
    if isinstance(structure, list):
        item = _structure(structure[0]) if structure else None
        return [item if item is not None else "VARCHAR"]
    return _JSON_SCALARS.get(str(structure), "VARCHAR")


def _duckdb_type(structure) -> str:
    if isinstance(structure, dict):
        fields = ", ".join(
            f'"{key.replace(chr(34), chr(34) * 2)}" {_duckdb_type(v)}'
            for key, v in structure.items()
        )
        return f"STRUCT({fields})"
    if isinstance(structure, list):
        return f"{_duckdb_type(structure[0])}[]"
    return structure
