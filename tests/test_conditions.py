"""One condition language: the same answers on events (Ibis) and on profiles (pandas), with one
missing-value rule, on a hand-made frame whose answers are written out by hand."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from workbench.conditions import condition_expr, condition_mask, conditions_expr
from workbench.config import Condition
from workbench.errors import ConfigError

FRAME = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d"],
        "tier": ["gold", "silver", None, "gold"],
        "spend": [120.0, 40.0, None, 0.0],
        "seen": pd.to_datetime(["2024-01-05", "2024-03-01", None, "2024-02-10"], utc=True),
        "note": ["vip customer", "new", None, "vip"],
    }
)

# (condition, the ids that meet it): missing values meet not_exists, != and not_in only
CASES = [
    ({"field": "tier", "op": "==", "value": "gold"}, ["a", "d"]),
    ({"field": "tier", "op": "!=", "value": "gold"}, ["b", "c"]),
    ({"field": "tier", "op": "in", "value": ["silver", "bronze"]}, ["b"]),
    ({"field": "tier", "op": "not_in", "value": ["silver"]}, ["a", "c", "d"]),
    ({"field": "tier", "op": "exists"}, ["a", "b", "d"]),
    ({"field": "tier", "op": "not_exists"}, ["c"]),
    ({"field": "spend", "op": ">", "value": 40}, ["a"]),
    ({"field": "spend", "op": ">=", "value": 40}, ["a", "b"]),
    ({"field": "spend", "op": "<", "value": 40}, ["d"]),
    ({"field": "spend", "op": "<=", "value": 0}, ["d"]),
    ({"field": "spend", "op": "!=", "value": 0}, ["a", "b", "c"]),
    ({"field": "seen", "op": ">", "value": "2024-02-01"}, ["b", "d"]),
    ({"field": "note", "op": "contains", "value": "vip"}, ["a", "d"]),
    ({"field": "note", "op": "starts_with", "value": "ne"}, ["b"]),
]


@pytest.fixture(scope="module")
def table():
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    events = FRAME.assign(seen=FRAME["seen"].dt.tz_localize(None))  # the engine's naive UTC
    return con.create_table("frame", events)


@pytest.mark.parametrize(("raw", "ids"), CASES, ids=lambda v: str(v))
def test_events_and_profiles_give_the_same_rows(table, raw, ids):
    cond = Condition(**raw)
    on_events = table.filter(condition_expr(table, cond)).id.to_pandas().sort_values().tolist()
    on_profiles = FRAME.loc[condition_mask(FRAME, cond), "id"].tolist()
    assert on_events == ids
    assert on_profiles == ids


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        (
            {"field": "tier", "op": "==", "value": "gold"},
            {"field": "tier", "op": "!=", "value": "gold"},
        ),
        (
            {"field": "tier", "op": "in", "value": ["gold"]},
            {"field": "tier", "op": "not_in", "value": ["gold"]},
        ),
        ({"field": "spend", "op": "==", "value": 0}, {"field": "spend", "op": "!=", "value": 0}),
    ],
)
def test_a_condition_and_its_negation_split_every_row(positive, negative):
    yes = condition_mask(FRAME, Condition(**positive))
    no = condition_mask(FRAME, Condition(**negative))
    assert (yes ^ no).all()  # each row on exactly one side, missing values included


def test_all_and_any(table):
    gold = Condition(field="tier", value="gold")
    big = Condition(field="spend", op=">", value=100)
    both = table.filter(conditions_expr(table, [gold, big], "all")).id.to_pandas().tolist()
    either = table.filter(conditions_expr(table, [gold, big], "any")).id.to_pandas()
    assert both == ["a"] and sorted(either) == ["a", "d"]


def test_wrong_values_are_one_line_errors(table):
    with pytest.raises(ConfigError, match="compare it as words"):
        condition_mask(FRAME, Condition(field="tier", op=">=", value=5))
    with pytest.raises(ConfigError, match="compare it as words"):
        condition_expr(table, Condition(field="tier", op=">=", value=5))
    with pytest.raises(ConfigError, match="does not fit field 'spend'"):
        condition_mask(FRAME, Condition(field="spend", value="lots"))
    with pytest.raises(ConfigError, match="unknown field 'teir'.*available fields"):
        condition_expr(table, Condition(field="teir", value="gold"))


LISTS = pd.DataFrame({"id": ["a", "b", "c", "d"], "tags": [["x", "y"], ["z"], [], None]})
LIST_CASES = [
    ({"field": "tags", "op": "==", "value": "x"}, ["a"]),
    ({"field": "tags", "op": "!=", "value": "x"}, ["b", "c", "d"]),
    ({"field": "tags", "op": "in", "value": ["z", "q"]}, ["b"]),
    ({"field": "tags", "op": "not_in", "value": ["z"]}, ["a", "c", "d"]),
    ({"field": "tags", "op": "contains", "value": "y"}, ["a"]),
    ({"field": "tags", "op": "exists"}, ["a", "b"]),  # a non-empty list
    ({"field": "tags", "op": "not_exists"}, ["c", "d"]),
]


@pytest.mark.parametrize(("raw", "ids"), LIST_CASES, ids=lambda v: str(v))
def test_list_fields_answer_alike_on_events_and_profiles(raw, ids):
    table = ibis.duckdb.connect().create_table("lists", LISTS)
    cond = Condition(**raw)
    assert table.filter(condition_expr(table, cond)).id.to_pandas().sort_values().tolist() == ids
    assert LISTS.loc[condition_mask(LISTS, cond), "id"].tolist() == ids


def test_ordering_a_list_is_refused_on_both():
    table = ibis.duckdb.connect().create_table("lists", LISTS)
    cond = Condition(field="tags", op=">", value="x")
    for check in (lambda: condition_expr(table, cond), lambda: condition_mask(LISTS, cond)):
        with pytest.raises(ConfigError, match="field 'tags' is a list of values"):
            check()
