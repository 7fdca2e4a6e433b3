"""Who and what an event is: the profile id and event type from one field or several, and the
identity table that stitches anonymous ids to known ones before anything else.

- `columns.profile_id: [user_id, user_pseudo_id]`: the first non-empty id wins (GA4's "user_id,
  else user_pseudo_id", Segment's "userId, else anonymousId", XDM's "CRMID, else ECID" with map
  keys such as `identityMap.CRMID`).
- `columns.event_type: [event, type]` or `[{join: [se_category, se_action], sep: ":"}, event]`:
  the first non-empty entry wins; a join is empty unless every part is present.
- `identities: {path, columns: {from, to}}`: every event whose id is a `from` value takes the
  `to` value; `data_quality.json` counts the events and profiles this changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from workbench.errors import DataError
from workbench.ingest.nested import head_column, resolve

if TYPE_CHECKING:
    from workbench.config import Config, JoinedFields


def entries(value) -> list:
    """`columns.<canonical>` as a list of entries (one column is a list of one)."""
    return list(value) if isinstance(value, list) else [value]


def source_columns(value) -> list[str]:
    """Every field path an entry list reads (join parts included)."""
    out: list[str] = []
    for entry in entries(value):
        out += [entry] if isinstance(entry, str) else list(entry.join)
    return out


def _text(table, path: str, canonical: str, where) -> Any:
    from workbench.ingest.readers import normalise_profile_id, scalar_column

    found = resolve(table, path)
    if found is None:
        available = ", ".join(c for c in table.columns if not c.startswith("_"))
        hint = "" if path == canonical else f" (mapped to {canonical})"
        raise DataError(f"{where}: column '{path}'{hint} not found; available: {available}")
    col = scalar_column(found, path, canonical, where)
    if canonical == "profile_id":
        return normalise_profile_id(col).nullif("")
    return col.cast("string").strip().nullif("")


def profile_id_expr(table, value, where):
    """The profile id: the first non-empty of the listed fields, as normalised text."""
    ids = [_text(table, path, "profile_id", where) for path in entries(value)]
    return ids[0] if len(ids) == 1 else ibis.coalesce(*ids)


def event_type_expr(table, value, where):
    """The event type: the first non-empty entry; a `{join: [...], sep}` needs every part."""
    parts = [_event_type_entry(table, entry, where) for entry in entries(value)]
    return parts[0] if len(parts) == 1 else ibis.coalesce(*parts)


def _event_type_entry(table, entry: str | JoinedFields, where):
    if isinstance(entry, str):
        return _text(table, entry, "event_type", where)
    cols = [_text(table, path, "event_type", where) for path in entry.join]
    joined = cols[0]
    for col in cols[1:]:
        joined = joined.concat(entry.sep, col)
    present = ibis.and_(*[c.notnull() for c in cols])
    return ibis.cases((present, joined), else_=ibis.null("string"))


def used_columns(table, columns: dict[str, Any]) -> set[str]:
    """The source columns the canonical mapping reads (map columns as a whole)."""
    used = set()
    for value in columns.values():
        for path in source_columns(value):
            head = head_column(table, path)
            if head is not None:
                used.add(head)
    return used


# ----------------------------------------------------------------------------- identities
def read_identities(con, config: Config, tmpdir: Path):
    """The identity table as (from_id, to_id), ids normalised as the events' are; one `to` per
    `from` (the smallest when a `from` has several: counted as conflicts)."""
    from workbench.ingest.readers import normalise_profile_id, read_source, require_columns

    cfg = config.identities
    cols = cfg.columns
    source = read_source(con, cfg, [cols["from"], cols["to"]], tmpdir, "identities")
    require_columns(source, {"from": cols["from"], "to": cols["to"]}, cfg.path)
    pairs = source.select(
        _from=normalise_profile_id(source[cols["from"]]).nullif(""),
        _to=normalise_profile_id(source[cols["to"]]).nullif(""),
    )
    pairs = pairs.filter(pairs._from.notnull() & pairs._to.notnull() & (pairs._from != pairs._to))
    table = pairs.group_by("_from").aggregate(_to=pairs._to.min(), _choices=pairs._to.nunique())
    return con.create_table("_identities", table, temp=True, overwrite=True)


def stitch(staged, identities):
    """`staged` with each `from` id replaced by its `to` id; `_unstitched_id` keeps the id as
    read (for the counts in data_quality.json; dropped after)."""
    joined = staged.left_join(identities, staged.profile_id == identities._from)
    columns = [joined[c] for c in staged.columns if c != "profile_id"]
    return joined.select(
        ibis.coalesce(joined._to, joined.profile_id).name("profile_id"),
        *columns,
        joined.profile_id.name("_unstitched_id"),
    )


def stitching_report(staged, identities, where: str) -> dict[str, Any]:
    """What the identity table did: its ids, conflicts, events and profiles it changed."""
    ids = identities.aggregate(
        ids=identities.count(), conflicts=(identities._choices > 1).cast("int64").sum()
    )
    id_row = ids.to_pyarrow().to_pylist()[0]
    changed = staged.profile_id != staged._unstitched_id
    row = (
        staged.aggregate(
            events_stitched=changed.fill_null(False).cast("int64").sum(),
            profiles_before=staged._unstitched_id.nunique(),
            profiles_after=staged.profile_id.nunique(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    if not id_row["ids"]:
        raise DataError(f"{where}: the identities table has no pairs of ids")
    return {
        "source": where,
        "ids": int(id_row["ids"]),
        "conflicts": int(id_row["conflicts"] or 0),
        "events_stitched": int(row["events_stitched"] or 0),
        "profiles_before": int(row["profiles_before"] or 0),
        "profiles_after": int(row["profiles_after"] or 0),
    }
