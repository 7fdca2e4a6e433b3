"""Scores turned into a target size: the profit curve, the cut-offs and the `top_by_profit`
audience, checked by hand on a ten-profile validation frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from workbench.config import EconomicsConfig, SegmentRule, load_config
from workbench.economics import group_economics, money, profit_curve, target_decision, top_profiles
from workbench.errors import ConfigError
from workbench.segments import build_segments

# Ten validation profiles, highest score first; 4 of them converted.
VALIDATION = pd.DataFrame(
    {
        "probability": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
        "label": [1, 1, 0, 1, 0, 0, 1, 0, 0, 0],
    }
)
# Contacting the top k: conversions 1 2 2 3 3 3 4 4 4 4; at cost 1 and value 4 the profit
# 4 * conversions - k is 3 6 5 8 7 6 9 8 7 6: best at k = 7 (9 per 10 profiles).
PROFIT_BY_HAND = [0, 3, 6, 5, 8, 7, 6, 9, 8, 7, 6]
ECONOMICS = EconomicsConfig(cost_per_contact=1, value_per_conversion=4)
TODAY = np.linspace(0.95, 0.0, 20)  # today's 20 scored profiles


def test_profit_curve_by_hand():
    curve = profit_curve([VALIDATION], ECONOMICS)
    assert len(curve) == 1001 and curve["target_share"].iloc[-1] == 1.0
    at = curve.set_index(curve["target_share"].round(3))
    for k, profit in enumerate(PROFIT_BY_HAND):
        assert at.loc[k / 10, "profit_per_profile"] == pytest.approx(profit / 10)
    assert at.loc[0.3, "conversions_per_contact"] == pytest.approx(2 / 3)
    assert at.loc[0.3, "captured_share"] == pytest.approx(2 / 4)
    # between two whole profiles the top floor(share * n) are contacted
    assert at.loc[0.35, "profit_per_profile"] == pytest.approx(0.5)
    assert at.loc[0.0, "profit_per_profile"] == 0


def test_profit_optimal_cut_off_and_its_profit_by_hand():
    decision = target_decision(profit_curve([VALIDATION], ECONOMICS), TODAY, ECONOMICS)
    best = decision["optimal"]
    assert best["target_share"] == 0.7  # the smallest share that reaches k = 7
    assert best["contacts"] == 14  # 70% of today's 20
    assert best["cost"] == 14
    assert best["validated_profit"] == pytest.approx(20 * 9 / 10)  # 18
    assert best["validated_conversions"] == pytest.approx(20 * 4 / 10)
    expected = TODAY[:14].sum()
    assert best["expected_conversions"] == pytest.approx(expected)
    assert best["expected_profit"] == pytest.approx(4 * expected - 14)
    assert best["lowest_probability_contacted"] == pytest.approx(TODAY[13])
    assert decision["break_even_probability"] == 0.25
    assert decision["within_budget"] is None and decision["audience"] == best
    assert decision["pays"]


def test_cut_off_under_the_budget_by_hand():
    economics = EconomicsConfig(cost_per_contact=1, value_per_conversion=4, budget=10)
    decision = target_decision(profit_curve([VALIDATION], economics), TODAY, economics)
    # the optimum (14 contacts) costs 14: the budget pays for 10 of today's 20, the top 50%,
    # which on the validation frame is k = 5 (profit 7 per 10 profiles)
    cut = decision["within_budget"]
    assert cut["target_share"] == 0.5 and cut["contacts"] == 10 and cut["cost"] == 10
    assert cut["validated_profit"] == pytest.approx(20 * 7 / 10)
    assert cut["expected_profit"] == pytest.approx(4 * TODAY[:10].sum() - 10)
    assert decision["budget_binds"] and decision["audience"] == cut
    assert decision["optimal"]["contacts"] == 14  # still reported
    roomy = EconomicsConfig(cost_per_contact=1, value_per_conversion=4, budget=100)
    decision = target_decision(profit_curve([VALIDATION], roomy), TODAY, roomy)
    assert not decision["budget_binds"] and decision["within_budget"] == decision["optimal"]


def test_nothing_pays_when_a_contact_costs_more_than_any_conversion_brings():
    economics = EconomicsConfig(cost_per_contact=10, value_per_conversion=1)
    decision = target_decision(profit_curve([VALIDATION], economics), TODAY, economics)
    assert not decision["pays"]
    assert decision["optimal"]["contacts"] == 0 and decision["optimal"]["cost"] == 0


def test_several_validation_origins_are_averaged():
    other = VALIDATION.assign(label=[0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    curve = profit_curve([VALIDATION, other], ECONOMICS)
    at = curve.set_index(curve["target_share"].round(3))
    # at k = 7: 9 and -7 per 10 profiles; at k = 10: 6 and -6
    assert at.loc[0.7, "profit_per_profile"] == pytest.approx((0.9 - 0.7) / 2)
    assert at.loc[0.7, "profit_low"] == pytest.approx(-0.7)
    assert at.loc[0.7, "profit_high"] == pytest.approx(0.9)
    assert curve.attrs["folds"] == 2


def test_without_economics_the_curve_is_in_conversions():
    curve = profit_curve([VALIDATION])
    assert "profit_per_profile" not in curve.columns
    with pytest.raises(ValueError, match="without economics"):
        target_decision(curve, TODAY, ECONOMICS)


def test_group_economics_cost_value_profit():
    groups = pd.DataFrame(
        {
            "group": ["high", "vip"],
            "kind": ["bucket", "segment"],
            "profiles": [10, 4],
            "expected_conversions": [3.0, 2.5],
        }
    )
    out = group_economics(groups, ECONOMICS).set_index("group")
    assert list(out.loc["high", ["cost", "value", "profit"]]) == [10, 12, 2]
    assert list(out.loc["vip", ["cost", "value", "profit"]]) == [4, 10, 6]
    assert "profit" not in group_economics(groups, None).columns


def test_top_by_profit_segment_takes_the_audience_and_combines_with_other_rules():
    scores = pd.DataFrame(
        {
            "profile_id": list("abcdef"),
            "probability": [0.2, 0.9, 0.5, 0.9, 0.1, 0.7],
            "percentile": [34, 84, 51, 84, 1, 67],
            "bucket": ["medium", "high", "medium", "high", "low", "medium"],
        }
    )
    assert list(top_profiles(scores["probability"], 3)) == [False, True, False, True, False, True]
    rules = [
        SegmentRule(name="best", top_by_profit=True),
        SegmentRule(name="best-medium", top_by_profit=True, bucket="medium"),
    ]
    segments, summary = build_segments(scores, rules, top_by_profit=3)
    assert list(segments["best"]["profile_id"]) == ["b", "d", "f"]
    assert list(segments["best-medium"]["profile_id"]) == ["f"]
    assert list(summary["size"]) == [3, 1]
    with pytest.raises(ConfigError, match="top_by_profit needs the economics cut-off"):
        build_segments(scores, rules)


def test_config_economics_and_cohorts_errors_name_the_key(tmp_path):
    base = {
        "events": {"path": "e.csv"},
        "goal": {"conditions": [{"field": "event_type", "value": "buy"}], "window_days": 30},
    }

    def error(extra):
        with pytest.raises(ConfigError) as info:
            load_config(write_config(tmp_path, {**base, **extra}))
        return str(info.value)

    assert error({"segments": [{"name": "x", "top_by_profit": True}]}).endswith(
        "config.yaml: segments.0.top_by_profit: needs an economics section (cost_per_contact, value_per_conversion)"
    )
    assert "economics.value_per_conversion: required key is missing" in error(
        {"economics": {"cost_per_contact": 1}}
    )
    assert "economics.cost_per_contact: Input should be greater than or equal to 0" in error(
        {"economics": {"cost_per_contact": -1, "value_per_conversion": 2}}
    )
    assert "economics.budjet: unknown key (did you mean 'budget'?)" in error(
        {"economics": {"cost_per_contact": 1, "value_per_conversion": 2, "budjet": 5}}
    )
    assert "reporting.cohort: unknown key (did you mean 'cohorts'?)" in error(
        {"reporting": {"cohort": ["a"]}}
    )
    ok = load_config(
        write_config(
            tmp_path,
            {
                **base,
                "economics": {"cost_per_contact": 0.5, "value_per_conversion": 30, "currency": "$"},
            },
        )
    )
    assert ok.economics.budget is None and ok.reporting.cohorts == []


def test_money_reads_as_an_amount():
    assert money(1234.4, "$") == "$1,234"
    assert money(-56, "$") == "-$56"
    assert money(1000, "EUR") == "1,000 EUR"
    assert money(float("nan")) == "–"
