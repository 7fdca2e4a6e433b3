from __future__ import annotations

import pytest
from helpers import write_config

from workbench.config import load_config
from workbench.config_files import parse_overrides
from workbench.errors import ConfigError

MINIMAL = {
    "events": {"path": "events.csv"},
    "goal": {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30},
}


def test_minimal_config_gets_sensible_defaults(tmp_path):
    cfg = load_config(write_config(tmp_path, MINIMAL))
    assert cfg.goal.outcome == "occurs" and cfg.goal.match == "all"
    assert cfg.events.path == (tmp_path / "events.csv").resolve()  # relative to the config file
    assert cfg.training.snapshots == 4 and cfg.features.lookback_days == 365
    assert cfg.scoring.buckets.medium == 25 and cfg.scoring.buckets.high == 75
    assert cfg.engine == "duckdb"
    assert cfg.goal.propensity_type == "conversion"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"surprise": 1}, "surprise: unknown key"),
        (
            {"goal": {"conditions": [{"field": "x", "value": 1}], "window_days": 0}},
            "goal.window_days",
        ),
        ({"goal": {"conditions": [], "window_days": 5}}, "goal.conditions"),
        (
            {"goal": {"conditions": [{"field": "x", "op": "~=", "value": 1}], "window_days": 5}},
            "goal.conditions.0.op",
        ),
        (
            {"goal": {"conditions": [{"field": "x", "op": "in", "value": 3}], "window_days": 5}},
            "non-empty list",
        ),
        ({"eligibility": {"active_within_days": 10}}, "eligibility.active_within_days"),
        ({"scoring": {"buckets": {"medium": 80, "high": 20}}}, "'medium' must be below 'high'"),
        ({"events": {"path": "e.csv", "delimiter": "#"}}, "unknown delimiter"),
        ({"events": {"path": "e.csv", "columns": {"user": "u"}}}, "unknown canonical column"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, change, key):
    path = write_config(tmp_path, {**MINIMAL, **change})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message and key in message


def test_missing_required_sections(tmp_path):
    with pytest.raises(ConfigError, match="goal: required key is missing"):
        load_config(write_config(tmp_path, {"events": {"path": "x.csv"}}))


def test_missing_and_empty_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(empty)
    bad = tmp_path / "bad.yaml"
    bad.write_text("goal: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)


def test_overrides_set_dotted_keys_with_yaml_values(tmp_path):
    path = write_config(tmp_path, MINIMAL)
    cfg = load_config(
        path, ["goal.window_days=60", "goal.outcome=does_not_occur", "goal.conditions.0.value=cart"]
    )
    assert cfg.goal.window_days == 60
    assert cfg.goal.propensity_type == "churn"
    assert cfg.goal.conditions[0].value == "cart"
    assert parse_overrides(["a.b=[1, 2]"]) == {"a.b": [1, 2]}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["nonsense"])


GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {"event": {"path": "e.csv"}, "goal": GOAL},
            r": event: unknown key \(did you mean 'events'\?\)$",
        ),
        (
            {"events": {"path": "e.csv"}, "goal": {**GOAL, "window_day": 30}},
            r": goal.window_day: unknown key \(did you mean 'window_days'\?\)$",
        ),
        (
            {"events": {"path": "e.csv", "colums": {}}, "goal": GOAL},
            r": events.colums: unknown key \(did you mean 'columns'\?\)$",
        ),
        (
            {
                "events": {"path": "e.csv"},
                "goal": {**GOAL, "conditions": [{"feild": "x", "value": 1}]},
            },
            r": goal.conditions.0.feild: unknown key \(did you mean 'field'\?\)",
        ),
        ({"events": {"path": "e.csv"}, "goal": GOAL, "zzz": 1}, r": zzz: unknown key$"),
    ],
)
def test_a_typo_is_reported_with_the_key_it_probably_meant(body, expected):
    from workbench.config import config_from_dict

    with pytest.raises(ConfigError, match=expected):
        config_from_dict(body)


def test_run_folder_config_names_the_file_the_analyst_edits(tmp_path):
    from workbench.config import dump_config
    from workbench.run import Run

    original = write_config(
        tmp_path,
        {"events": {"path": "e.csv"}, "goal": GOAL},
        name="my.yaml",
    )
    run = tmp_path / "run"
    run.mkdir()
    dump_config(load_config(original), run / "config.yaml")
    config = Run.open(run).config
    assert config.where() == str(original)
    assert config.events.path == tmp_path / "e.csv"  # the copy still loads on its own


def test_yaml_repeated_keys_and_alias_expansion_are_refused_merge_keys_are_not(tmp_path):
    from workbench.config_files import MAX_NODES, load_yaml_text

    with pytest.raises(ConfigError, match=r"line 3: duplicate key 'a' \(also at line 1\)"):
        load_yaml_text("a: 1\nb: 2\na: 3\n", "c.yaml")
    merged = load_yaml_text("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", "c.yaml")
    assert merged["use"] == {"x": 1, "y": 3}  # an explicit key overriding a merged one
    shared = load_yaml_text("a: &l [1, 2]\nb: *l\n", "c.yaml")  # plain aliases still work
    assert shared["b"] == [1, 2]
    levels = ["&l0 [" + ", ".join(["x"] * 10) + "]"]
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    with pytest.raises(ConfigError, match=f"more than {MAX_NODES:,} values"):
        load_yaml_text("v: [" + ", ".join(levels) + "]", "c.yaml")
    with pytest.raises(ConfigError, match="refers to the list or mapping that contains it"):
        load_yaml_text("v: &r [1, *r]", "c.yaml")


def test_numbers_are_not_booleans_and_engine_settings_are_bounded(tmp_path):
    import os

    goal = {"conditions": [{"field": "x", "value": 1}], "window_days": 30}
    body = {"events": {"path": "e.csv"}, "goal": goal}
    for section, values, message in (
        ("goal", {**goal, "window_days": True}, "goal.window_days: expected a number, got true"),
        ("training", {"snapshots": False}, "training.snapshots: expected a number, got false"),
        ("duckdb", {"memory_limit": "80%"}, "duckdb.memory_limit: '80%' is not an amount"),
        ("duckdb", {"threads": (os.cpu_count() or 1) * 4 + 1}, "duckdb.threads: .* threads on"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(write_config(tmp_path, {**body, section: values}))
    ok = {**body, "duckdb": {"memory_limit": "1.5GiB", "threads": 1}}
    assert load_config(write_config(tmp_path, ok)).duckdb.memory_limit == "1.5GiB"
