"""Goal counts per cutoff computed independently of the workbench, in plain DuckDB SQL.

The exports' natural goals with a 30-day window and eligibility "active in the 60 days before
the cutoff" (the example configs' settings), at the cutoffs a run planned (`cutoffs`; its
validation origins must be `ORIGINS`, 30 days apart up to as_of - window): the workbench's
`goal_summary.json` must give the same eligible, positive and negative counts.
The SQL reads test files with paths the test made; it is a check, never product code.
"""

from __future__ import annotations

from pathlib import Path

from workbench.ingest.sources import PRESETS, SNOWPLOW_ENRICHED_FIELDS

# the three validation origins: the newest at as_of (2025-07-01) - 30 days, then a month apart
ORIGINS = ("2025-04-02", "2025-05-02", "2025-06-01")
_DUCK = {"integer": "INTEGER", "number": "DOUBLE", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP"}


def _goal_counts(con, relation: str, who: str, when: str, is_goal: str, cutoffs) -> list[tuple]:
    cuts = ", ".join(f"TIMESTAMP '{c}'" for c in cutoffs)
    sql = f"""
    WITH ev AS (SELECT {who} AS pid, {when} AS ts, ({is_goal}) AS goal FROM {relation}),
    cut AS (SELECT unnest([{cuts}]) AS c)
    SELECT strftime(c, '%Y-%m-%d'), count(*), sum(pos::INT), count(*) - sum(pos::INT)
    FROM (SELECT c, pid,
                 bool_or(goal AND ts >= c AND ts < c + INTERVAL 30 DAY) AS pos,
                 bool_or(ts < c AND ts >= c - INTERVAL 60 DAY) AS active
          FROM ev, cut GROUP BY c, pid)
    WHERE active GROUP BY c ORDER BY c"""
    return [tuple(r) for r in con.sql(sql).fetchall()]


def _value(field: str) -> str:
    return f"list_filter(event_params, lambda p: p.key = 'value')[1].value.{field}"


def goal_counts(folder: str | Path, export: str, cutoffs) -> list[tuple]:
    """(cutoff, eligible, positives, negatives) for one export in `folder` at `cutoffs`
    (YYYY-MM-DD)."""
    import duckdb

    f = Path(folder)
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    if export == "ga4_json":
        value = f"coalesce({_value('int_value')}::DOUBLE, {_value('double_value')})"
        return _goal_counts(
            con, f"read_json('{f}/ga4/json/events_*.json', format='newline_delimited')",
            "coalesce(user_id, user_pseudo_id)", "make_timestamp(event_timestamp::BIGINT)",
            f"event_name = 'purchase' AND {value} >= 50", cutoffs,
        )  # fmt: skip
    if export == "ga4_parquet":
        value = f"coalesce({_value('int_value')}, {_value('double_value')})"
        return _goal_counts(
            con, f"read_parquet('{f}/ga4/parquet/*.parquet')",
            "coalesce(user_id, user_pseudo_id)", "make_timestamp(event_timestamp)",
            f"event_name = 'purchase' AND {value} >= 50", cutoffs,
        )  # fmt: skip
    if export == "xdm_parquet":
        return _goal_counts(
            con, f"read_parquet('{f}/xdm/parquet/**/*.parquet', hive_partitioning = true)",
            "coalesce(identityMap['CRMID'][1].id, identityMap['ECID'][1].id)",
            "timezone('UTC', \"timestamp\")", "eventType = 'commerce.purchases'", cutoffs,
        )  # fmt: skip
    if export == "xdm_jsonl":
        return _goal_counts(
            con, f"read_json('{f}/xdm/jsonl/*.json', format='newline_delimited')",
            "coalesce(identityMap.CRMID[1].id, identityMap.ECID[1].id)",
            "\"timestamp\"::TIMESTAMP", "eventType = 'commerce.purchases'", cutoffs,
        )  # fmt: skip
    if export == "segment":
        seg = (
            f"(SELECT s.*, i.user_id AS stitched FROM read_json('{f}/segment/segment-logs/*/*/*.gz', "
            f"format='newline_delimited') s LEFT JOIN read_csv('{f}/segment/identities.csv') i "
            "ON s.anonymousId::VARCHAR = i.anonymous_id::VARCHAR)"
        )
        return _goal_counts(
            con, seg, "coalesce(userId, stitched, anonymousId::VARCHAR)",
            "\"timestamp\"::TIMESTAMP", "coalesce(event, type) = 'Order Completed'", cutoffs,
        )  # fmt: skip
    if export == "snowplow":
        types = PRESETS["snowplow_enriched"].types
        columns = ", ".join(
            f"'{n}': '{_DUCK.get(types.get(n, ''), 'VARCHAR')}'" for n in SNOWPLOW_ENRICHED_FIELDS
        )
        sp = (
            f"read_csv('{f}/snowplow/enriched/*/*/*.tsv.gz', header = false, delim = '\\t', "
            f"quote = '', escape = '', columns = {{{columns}}}, auto_detect = false)"
        )
        return _goal_counts(
            con, sp, "coalesce(nullif(user_id, ''), domain_userid)", "derived_tstamp",
            "event = 'transaction'", cutoffs,
        )  # fmt: skip
    if export == "mixpanel":
        return _goal_counts(
            con, f"read_json('{f}/mixpanel/export_*.json', format='newline_delimited')",
            "coalesce(properties.\"$user_id\", properties.distinct_id)",
            "to_timestamp(properties.time)::TIMESTAMP", "event = 'Purchase'", cutoffs,
        )  # fmt: skip
    raise ValueError(export)
