"""Bad configs: each is refused with one line naming the key (or read as meant); validate
checks what a run would hit; a config can neither cost minutes nor write over its inputs."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from reliability.kit import (
    GOAL_YAML,
    ONE_LINE,
    SNAPSHOT,
    TYPE,
    VALIDATE,
    Suite,
    base_config,
    base_rows,
    base_with,
    params,
    raw_config,
    run_case,
    write_config,
    yaml_with_goal,
)

S = Suite()

S.add(
    "duplicate_goal_key",
    raw_config(
        lambda ws: yaml_with_goal(
            GOAL_YAML.format(value="purchase", window=30)
            + "\n"
            + GOAL_YAML.format(value="add_to_cart", window=30)
        )
    ),
    VALIDATE,
    (2,),
    "a second `goal:` key is refused (not silently kept)",
    message=r"config\.yaml: not valid YAML at line 1\d: duplicate key 'goal' \(also at line \d+\)",
)
S.add(
    "duplicate_nested_key",
    raw_config(
        lambda ws: yaml_with_goal(
            GOAL_YAML.format(value="purchase", window=30) + "\n  window_days: 90"
        )
    ),
    VALIDATE,
    (2,),
    "goal.window_days given twice is refused",
    message=r"config\.yaml: .*duplicate key 'window_days'",
)
S.add(
    "window_days_true",
    base_with(goal={"window_days": True}),
    VALIDATE,
    (2,),
    "window_days: true refused (a boolean is not a number of days)",
    message=r"config\.yaml: goal\.window_days: expected a number, got true",
)
S.add(
    "min_positives_true",
    base_with(readiness={"min_positives": True}),
    VALIDATE,
    (2,),
    "readiness.min_positives: true refused (not read as 1)",
    message=r"readiness\.min_positives: expected a number, got true",
)
S.add(
    "window_days_text_number",
    base_with(goal={"window_days": "30"}),
    VALIDATE,
    (0,),
    "window_days: '30' (text) read as 30",
)
for key, column in (
    ("exclude", "no_such_column"),
    ("identifiers", "nope_id"),
    ("quantities", "nope_qty"),
):
    S.add(
        f"{key}_unknown_column",
        base_with(features={key: [column]}),
        VALIDATE,
        (2,),
        f"features.{key} naming no column is refused, naming it",
        message=rf"config\.yaml: features\.{key}: unknown column\(s\) \['{column}'\]",
    )


def output_is_file(ws):
    ws.base(output={"dir": "taken.txt"})
    (ws.inp / "taken.txt").write_text("not a folder\n")


S.add(
    "output_dir_is_existing_file",
    output_is_file,
    ["validate", "{in}/config.yaml"],
    (2,),
    "one line: output.dir is a file",
    message=r"taken\.txt/validate: output folder is a file",
)
S.add(
    "output_dir_dot_is_input_folder",
    lambda ws: ws.base(fmt="parquet", output={"dir": "."}),
    ["validate", "{in}/config.yaml"],
    (2,),
    "output.dir: . next to events.parquet refused: inputs are never written",
    message=r"the output\.dir holds the input <case>/in/\S+ \(",
)
S.add(
    "memory_limit_abc",
    base_with(duckdb={"memory_limit": "abc"}),
    VALIDATE,
    (2,),
    "one line naming duckdb.memory_limit",
    message=r"duckdb\.memory_limit: 'abc' is not an amount of memory",
)
for threads in (1000, 100_000):
    S.add(
        f"threads_{threads}",
        base_with(duckdb={"threads": threads}),
        VALIDATE,
        (2,),
        "duckdb.threads above cores x 4 refused at once, naming the key",
        message=r"duckdb\.threads: [\d,]+ threads on a machine with \d+ cores",
        max_seconds=10,
    )
S.add(
    "spark_bad_master",
    base_with(engine="spark", spark={"master": "nonsense://nowhere:1"}),
    VALIDATE,
    (2,),
    "one line naming spark.master",
    message=r"spark\.master 'nonsense://nowhere:1': cannot start a Spark session",
    needs=("java",),
    process=True,  # a JVM of its own: never the test session's Spark
    timeout=240,
    marks=(pytest.mark.spark,),
)


def binary_config(ws):
    ws.base()
    rng = random.Random(1)
    (ws.inp / "config.yaml").write_bytes(
        gzip.compress(bytes(rng.randrange(256) for _ in range(4096)))
    )


def latin1_config(ws):
    ws.base()
    p = ws.inp / "config.yaml"
    p.write_bytes(("# Café analytics\n" + p.read_text()).encode("latin-1"))


S.add(
    "binary_config",
    binary_config,
    VALIDATE,
    (2,),
    "one line: the config is not a text/YAML file",
    message=r"config\.yaml: not a UTF-8 text file",
)
S.add(
    "directory_config",
    lambda ws: (ws.base(), (ws.inp / "conf.d").mkdir()),
    ["validate", "{in}/conf.d", "--out", "{out}/v"],
    (2,),
    "one line: the config path is a folder",
    message=r"conf\.d: is a folder, expected a YAML config file",
)
S.add(
    "latin1_config",
    latin1_config,
    VALIDATE,
    (2,),
    "one line: the config is not UTF-8",
    message=r"config\.yaml: not a UTF-8 text file \(line 1: byte 5 is 0xe9\)",
)


def alias_bomb(levels: int):
    def text(ws):
        parts = ["&l0 [" + ", ".join(["purchase"] * 10) + "]"]
        for i in range(1, levels):
            parts.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
        goal = (
            "goal:\n  conditions:\n    - {field: event_type, op: in, value: ["
            + ", ".join(parts)
            + "]}\n  window_days: 30"
        )
        return yaml_with_goal(goal)

    return text


S.add(
    "yaml_alias_bomb_in_list",
    raw_config(alias_bomb(6)),
    VALIDATE,
    (2,),
    "a config whose YAML aliases expand past a size limit is refused at once",
    message=r"config\.yaml: the YAML expands to more than 200,000 values",
    max_seconds=10,
)
S.add(
    "yaml_alias_nested_lists_in_list",
    raw_config(alias_bomb(4)),
    VALIDATE,
    (2,),
    "lists inside an `in` list are refused (the expansion that stays under the size limit)",
    message=r"goal\.conditions\.0: operator 'in' needs a list of single values",
    max_seconds=10,
)
S.add(
    "yaml_recursive_alias",
    raw_config(lambda ws: yaml_with_goal(GOAL_YAML.format(value="&r [1, *r]", window=30))),
    VALIDATE,
    (2,),
    "an alias inside itself is refused",
    message=r"config\.yaml: a YAML alias refers to the list or mapping that contains it",
)
S.add(
    "yaml_deep_nesting",
    raw_config(
        lambda ws: yaml_with_goal(
            "goal:\n  conditions:\n    - {field: event_type, op: in, value: "
            + "[" * 3000
            + "]" * 3000
            + "}\n  window_days: 30"
        )
    ),
    VALIDATE,
    (2,),
    "one line: YAML nested too deeply",
    message=r"config\.yaml: .*(nested too deeply|exceeded maximum nesting depth)",
)
S.add(
    "huge_in_list",
    base_with(
        goal={
            "conditions": [
                {"field": "event_type", "op": "in", "value": [f"v{i}" for i in range(100_000)]}
            ]
        }
    ),
    VALIDATE,
    (2,),
    "an `in` list past the cap (10,000 values) refused naming the key",
    message=r"goal\.conditions\.0: too many values for 'in': 100,000 \(at most 10,000\)",
    max_seconds=30,
)
S.add(
    "as_of_int_20250101",
    base_with(scoring={"as_of": 20250101}),
    VALIDATE,
    (2,),
    "one line naming scoring.as_of and the expected YYYY-MM-DD form",
    message=r"scoring\.as_of: use a date written YYYY-MM-DD \(got 20250101\)",
)
S.add(
    "goal_value_never_occurs",
    base_with(goal={"conditions": [{"field": "event_type", "op": "==", "value": "purchse"}]}),
    VALIDATE,
    (3,),
    "not ready, with a hint that event_type == purchse never occurs (and purchase does)",
    message=r"event_type == 'purchse' never occurs in the events; did you mean 'purchase'\?",
)
S.add(
    "goal_value_wrong_case",
    base_with(goal={"conditions": [{"field": "event_type", "op": "==", "value": "Purchase"}]}),
    VALIDATE,
    (3,),
    "a hint that 'Purchase' never occurs but 'purchase' does",
    message=r"'Purchase' never occurs in the events; did you mean 'purchase'",
)
S.add(
    "segment_unknown_field",
    base_with(segments=[{"name": "g", "conditions": [{"field": "no_such_field", "value": "x"}]}]),
    VALIDATE,
    (2,),
    "validate checks segments: an unknown field named (run would fail in notebook 05)",
    message=r"config\.yaml: segments: segment 'g': conditions\[0\]: unknown field 'no_such_field'",
)
S.add(
    "segment_value_does_not_fit",
    base_with(
        segments=[{"name": "g", "conditions": [{"field": "age", "op": ">", "value": "old"}]}]
    ),
    VALIDATE,
    (2,),
    "validate checks a segment's value against the profile column's type",
    message=r"segments: segment 'g': conditions\[0\]: value 'old' does not fit field 'age'",
)
S.add(
    "segment_unknown_factor",
    base_with(segments=[{"name": "f", "factor": "no_such_factor"}]),
    VALIDATE,
    (2,),
    "validate checks segments: an unknown factor named",
    message=r"segment 'f': unknown factor 'no_such_factor'",
)
S.add(
    "segment_percentiles_inverted",
    base_with(segments=[{"name": "p", "percentile_min": 90, "percentile_max": 10}]),
    VALIDATE,
    (2,),
    "a segment with percentile_min above percentile_max (always empty) refused",
    message=r"segments\.0: percentile_min 90 is above percentile_max 10",
)


def custom_collision(ws):
    ws.base(
        custom_events=[
            {"name": "Big order", "conditions": [{"field": "value", "op": ">=", "value": 50}]},
            {"name": "big-order", "conditions": [{"field": "value", "op": ">=", "value": 150}]},
        ]
    )


def snapshot_columns(*codes: str):
    def check(ws, o):
        import pandas as pd

        columns = pd.read_parquet(ws.out / "snap.parquet").columns
        missing = [c for c in codes if c not in columns]
        return f"snapshot lacks {missing}" if missing else None

    return check


S.add(
    "custom_events_normalise_same",
    custom_collision,
    SNAPSHOT,
    (0,),
    "snapshot succeeds with custom events 'Big order' and 'big-order'",
    check=snapshot_columns("custom_big_order_count_7d", "custom_big_order_2_count_7d"),
)


def custom_vs_type(ws):
    rows = base_rows()
    ws.base(rows + [{**r, TYPE: "custom_vip", "value": None} for r in rows[::6]])
    cfg = base_config(
        custom_events=[
            {"name": "vip", "conditions": [{"field": "value", "op": ">=", "value": 100}]}
        ]
    )
    write_config(ws.inp / "config.yaml", cfg)


S.add(
    "custom_event_vs_event_type_code",
    custom_vs_type,
    SNAPSHOT,
    (0,),
    "snapshot succeeds with event type custom_vip and custom event vip",
    check=snapshot_columns("custom_vip_count_7d", "custom_vip_2_count_7d"),
)


def list_columns(cond):
    def setup(ws):
        lines = []
        for i, r in enumerate(base_rows()):
            record = {"customer_id": r["customer_id"], "ts": r["ts"].isoformat(), "type": r[TYPE]}
            lines.append(
                json.dumps({**record, "tags": ["a", "b"][: i % 3], "sizes": [i % 4, i % 7]})
            )
        (ws.inp / "events.jsonl").write_text("\n".join(lines) + "\n")
        goal = {"conditions": [{"field": "event_type", "op": "==", "value": "purchase"}, cond]}
        cfg = base_config(events={"path": "events.jsonl"}, goal=goal)
        cfg.pop("profiles")
        write_config(ws.inp / "config.yaml", cfg)

    return setup


for name, cond in (
    ("condition_eq_on_list_column", {"field": "tags", "op": "==", "value": "a"}),
    ("condition_in_on_list_column", {"field": "tags", "op": "in", "value": ["a"]}),
    ("condition_contains_on_list_column", {"field": "tags", "op": "contains", "value": "a"}),
):
    S.add(
        name,
        list_columns(cond),
        VALIDATE,
        (0, 3),
        f"{cond['op']} on a list field holds when any of its values does (no crash)",
    )
S.add(
    "condition_gt_on_list_column",
    list_columns({"field": "sizes", "op": ">", "value": 1}),
    VALIDATE,
    (2,),
    "one line: field 'sizes' is a list (ordering it means nothing)",
    message=r"goal\.conditions\[1\]: field 'sizes' is a list of values; use ==, in or contains",
)
S.add(
    "timestamp_format_invalid",
    base_with(events={"timestamp_format": "%Q-%d"}),
    VALIDATE,
    (2,),
    "one line naming events.timestamp_format",
    message=r"events\.timestamp_format: '%Q-%d': unknown directive\(s\) %Q",
)
S.add(
    "dedupe_empty_list",
    base_with(events={"dedupe": []}),
    VALIDATE,
    (2,),
    "dedupe: [] refused naming events.dedupe",
    message=r"events\.dedupe",
)
S.add(
    "unknown_key_typo",
    base_with(goal={"window_day": 30}),
    VALIDATE,
    (2,),
    ONE_LINE + " (did you mean)",
    message=r"goal\.window_day: unknown key \(did you mean 'window_days'\?\)",
)
S.add(
    "goal_unknown_field",
    base_with(goal={"conditions": [{"field": "nope", "op": "==", "value": 1}]}),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"goal\.conditions\[0\]\.field: unknown field 'nope'",
)
S.add(
    "condition_text_vs_number",
    base_with(goal={"conditions": [{"field": "channel", "op": ">=", "value": 5}]}),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"field 'channel' holds text, so '>= 5' would compare it as words",
)
S.add(
    "active_within_days_too_small",
    base_with(eligibility={"active_within_days": 10}),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"eligibility\.active_within_days: Input should be greater than or equal to 30",
)

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_bad_configs(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
