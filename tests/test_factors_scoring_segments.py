"""Factors, scores and segments on tiny hand-made frames whose answers are computed by hand.

The model is a fake linear candidate with known weights (follows the candidate protocol of
docs/ARCHITECTURE.md), so these tests do not depend on `workbench.models`.

The hand-made example (bias -1):

| profile | purchases_30d (x0.5) | revenue_90d (x0.01) | days_since_last_event (x-0.05) | channel       | raw score |
|---------|----------------------|---------------------|-------------------------------|---------------|-----------|
| p1      | 3 -> 1.5             | 12.5 -> 0.125       | 2 -> -0.1                     | email -> 0.3  | 0.825     |
| p2      | 0 -> 0               | 0 -> 0              | 50 -> -2.5                    | web -> 0      | -3.5      |
| p3      | 1 -> 0.5             | 100 -> 1.0          | 1 -> -0.05                    | store -> -0.2 | 0.25      |
| p4      | NaN -> 0             | 2 -> 0.02           | 10 -> -0.5                    | email -> 0.3  | -1.18     |

Non-zero |contributions| sorted: .02 .05 .1 .125 .2 .3 .3 .5 .5 1 1.5 2.5 -> median 0.3 and
80th percentile (linear) 0.5 + 0.8 * 0.5 = 0.9: medium from 0.3, high from 0.9.
Ranks by score: p2 < p4 < p3 < p1 -> percentiles 1, 26, 51, 76 -> low, medium, medium, high.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from workbench.config import BucketsConfig, Condition, SegmentRule, config_from_dict
from workbench.errors import ConfigError, DataError, ModelMismatchError
from workbench.factors import (
    bucket_factors,
    format_value,
    global_factors,
    importance_thresholds,
    influential_factors,
)
from workbench.features import FeatureSpec
from workbench.run import Run
from workbench.scoring import (
    SCORE_COLUMNS,
    assign_buckets,
    assign_percentiles,
    expected_vs_actual,
    realised_performance,
    score_profiles,
)
from workbench.segments import build_segments
from workbench.workflow.stages import save_scores

SPECS = [
    FeatureSpec("purchases_30d", "Purchases in the last 30 days"),
    FeatureSpec("revenue_90d", "Revenue in the last 90 days", unit="USD"),
    FeatureSpec("days_since_last_event", "Days since last event", unit="days"),
    FeatureSpec("channel", "Preferred channel", kind="categorical", family="profile"),
]
CODES = [s.code for s in SPECS]


class LinearFake:
    """A fitted linear candidate with known weights: contributions = weight * value (NaN -> 0)."""

    def __init__(self, weights, levels, bias, specs=SPECS):
        self.weights, self.levels, self.bias = weights, levels, bias
        self.feature_specs_ = list(specs)

    def contributions(self, X):
        out = {c: X[c].fillna(0).to_numpy(dtype=float) * w for c, w in self.weights.items()}
        out["channel"] = (
            X["channel"].astype(object).map(self.levels).fillna(0).to_numpy(dtype=float)
        )
        frame = pd.DataFrame(out, index=X.index)[[s.code for s in self.feature_specs_]]
        frame["bias"] = self.bias
        return frame

    def raw_score(self, X):
        return self.contributions(X).sum(axis=1).to_numpy()

    def propensity(self, X):
        return 1 / (1 + np.exp(-self.raw_score(X)))


MODEL = LinearFake(
    {"purchases_30d": 0.5, "revenue_90d": 0.01, "days_since_last_event": -0.05},
    {"email": 0.3, "web": 0.0, "store": -0.2},
    bias=-1.0,
)


def snapshot() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "profile_id": ["p1", "p2", "p3", "p4"],
            "purchases_30d": [3.0, 0.0, 1.0, np.nan],
            "revenue_90d": [12.5, 0.0, 100.0, 2.0],
            "days_since_last_event": [2.0, 50.0, 1.0, 10.0],
            "channel": pd.Categorical(["email", "web", "store", "email"]),
        }
    )


def config(outcome="occurs"):
    return config_from_dict(
        {
            "events": {"path": "events.csv"},
            "goal": {
                "outcome": outcome,
                "conditions": [{"field": "event_type", "value": "purchase"}],
                "window_days": 30,
            },
        }
    )


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


RAW = {"p1": 0.825, "p2": -3.5, "p3": 0.25, "p4": -1.18}


@pytest.fixture
def scores():
    return score_profiles(MODEL, snapshot(), SPECS, config(), "2024-06-01")


# --------------------------------------------------------------------------- factors
def test_contributions_add_up_to_the_raw_score():
    X = snapshot()[CODES]
    contrib = MODEL.contributions(X)
    np.testing.assert_allclose(
        contrib.sum(axis=1), [RAW[p] for p in ["p1", "p2", "p3", "p4"]], atol=1e-12
    )
    np.testing.assert_allclose(contrib.sum(axis=1), MODEL.raw_score(X), atol=1e-6)


def test_importance_thresholds_by_hand():
    med, high = importance_thresholds(MODEL.contributions(snapshot()[CODES])[CODES].to_numpy())
    assert med == pytest.approx(0.3)
    assert high == pytest.approx(0.9)


def test_top_factors_text_by_hand():
    f = influential_factors(MODEL, snapshot()[CODES], SPECS)
    assert list(f.columns) == ["factor_1", "factor_2", "factor_3", "factor_down", "factors_json"]
    assert f.loc[0, "factor_1"] == "Purchases in the last 30 days: 3 (raises, high)"
    assert f.loc[0, "factor_2"] == "Preferred channel: email (raises, medium)"
    assert f.loc[0, "factor_3"] == "Revenue in the last 90 days: 12.50 USD (raises, low)"
    assert f.loc[0, "factor_down"] == "Days since last event: 2 days (lowers, low)"
    # p2: nothing raises its score; one factor lowers it a lot
    assert f.loc[1, ["factor_1", "factor_2", "factor_3"]].isna().all()
    assert f.loc[1, "factor_down"] == "Days since last event: 50 days (lowers, high)"
    # p3: two raising factors only; a categorical lowers it
    assert f.loc[2, "factor_1"] == "Revenue in the last 90 days: 100.00 USD (raises, high)"
    assert f.loc[2, "factor_2"] == "Purchases in the last 30 days: 1 (raises, medium)"
    assert pd.isna(f.loc[2, "factor_3"])
    assert f.loc[2, "factor_down"] == "Preferred channel: store (lowers, low)"
    # p4: missing purchases contributes nothing, so it is not a factor
    assert f.loc[3, "factor_1"] == "Preferred channel: email (raises, medium)"
    assert f.loc[3, "factor_2"] == "Revenue in the last 90 days: 2.00 USD (raises, low)"
    assert f.loc[3, "factor_down"] == "Days since last event: 10 days (lowers, medium)"


def test_factors_json_by_hand():
    f = influential_factors(MODEL, snapshot()[CODES], SPECS)
    p1 = json.loads(f.loc[0, "factors_json"])
    assert [d["code"] for d in p1] == [
        "purchases_30d",
        "channel",
        "revenue_90d",
        "days_since_last_event",
    ]
    assert p1[0] == {
        "code": "purchases_30d",
        "label": "Purchases in the last 30 days",
        "value": 3,
        "contribution": 1.5,
        "importance": "high",
        "direction": "raises",
    }
    assert p1[1]["value"] == "email"
    assert p1[2]["value"] == 12.5
    assert p1[3]["contribution"] == pytest.approx(-0.1)
    assert p1[3]["direction"] == "lowers"
    assert json.loads(f.loc[1, "factors_json"]) == [
        {
            "code": "days_since_last_event",
            "label": "Days since last event",
            "value": 50,
            "contribution": -2.5,
            "importance": "high",
            "direction": "lowers",
        }
    ]


def test_fixed_thresholds_and_counts():
    f = influential_factors(
        MODEL, snapshot()[CODES], SPECS, top_up=1, top_down=1, thresholds=(0.1, 1.0)
    )
    assert "factor_2" not in f.columns
    assert f.loc[0, "factor_1"] == "Purchases in the last 30 days: 3 (raises, high)"
    assert f.loc[0, "factor_down"] == "Days since last event: 2 days (lowers, medium)"
    assert f.loc[3, "factor_1"] == "Preferred channel: email (raises, medium)"


def test_format_value():
    count = FeatureSpec("n", "Purchases")
    money = FeatureSpec("revenue_90d", "Revenue", unit="USD")
    days = FeatureSpec("d", "Days since", unit="days")
    cat = FeatureSpec("c", "Channel", kind="categorical")
    assert format_value(3.0, count) == "3"
    assert format_value(2.5, count) == "2.5"
    assert format_value(1 / 3, count) == "0.33"
    assert format_value(float("nan"), count) == "none"
    assert format_value(None, cat) == "none"
    assert format_value(1234.5, money) == "1,234.50 USD"
    assert format_value(7, FeatureSpec("x", "Spend", unit="$")) == "$7.00"
    assert format_value(1.0, days) == "1 day"
    assert format_value(12.0, days) == "12 days"
    assert format_value(0.09, days) == "2 hours"  # not "0.09 days"
    assert format_value(1 / 24, days) == "1 hour"
    assert format_value(0.01, days) == "under an hour"
    assert format_value("email", cat) == "email"


def test_global_factors_by_hand():
    g = global_factors(MODEL.contributions(snapshot()[CODES]), SPECS)
    assert list(g.columns) == [
        "feature",
        "label",
        "mean_abs_contribution",
        "share",
        "mean_contribution",
        "raises_share",
        "lowers_share",
    ]
    assert list(g["feature"]) == [
        "days_since_last_event",
        "purchases_30d",
        "revenue_90d",
        "channel",
    ]
    np.testing.assert_allclose(g["mean_abs_contribution"], [0.7875, 0.5, 0.28625, 0.2])
    assert g["share"].iloc[0] == pytest.approx(0.7875 / 1.77375)
    assert g["share"].sum() == pytest.approx(1.0)
    assert g["label"].iloc[0] == "Days since last event"
    # |contribution| >= 0.3 is notable: days lowers p2 (-2.5) and p4 (-0.5), raises nobody
    np.testing.assert_allclose(g["raises_share"], [0.0, 0.5, 0.25, 0.5])
    np.testing.assert_allclose(g["lowers_share"], [0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(g["mean_contribution"], [-0.7875, 0.5, 0.28625, 0.1])


def test_bucket_factors_coverage_by_hand():
    X = snapshot()[CODES]
    buckets = pd.Series(["high", "low", "high", "low"])
    b = bucket_factors(MODEL.contributions(X), X, buckets, SPECS, top=10)
    assert list(b.columns) == [
        "bucket",
        "feature",
        "label",
        "mean_abs_contribution",
        "coverage",
        "typical_value",
        "mean_contribution",
        "raises_share",
        "lowers_share",
        "typical_text",
        "value_range",
    ]
    assert list(b["bucket"].unique()) == ["low", "high"]
    high = b[b["bucket"] == "high"].set_index("feature")
    assert list(high.index) == ["purchases_30d", "revenue_90d", "channel", "days_since_last_event"]
    np.testing.assert_allclose(high["mean_abs_contribution"], [1.0, 0.5625, 0.25, 0.075])
    # own top factors: p1 {purchases, channel, revenue, days}; p3 {revenue, purchases, channel}
    np.testing.assert_allclose(high["coverage"], [1.0, 1.0, 1.0, 0.5])
    assert high.loc["purchases_30d", "typical_value"] == 2.0
    assert high.loc["revenue_90d", "typical_value"] == 56.25
    # direction: notable = |contribution| >= 0.3 (the medium threshold); signed means
    np.testing.assert_allclose(high["raises_share"], [1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(high["lowers_share"], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(high["mean_contribution"], [1.0, 0.5625, 0.05, -0.075])
    assert high.loc["purchases_30d", "typical_text"] == "2"
    assert high.loc["purchases_30d", "value_range"] == "1.5–2.5"
    low = bucket_factors(MODEL.contributions(X), X, buckets, SPECS, top=2)
    low = low[low["bucket"] == "low"].set_index("feature")
    # p2 {days}; p4 {channel, revenue, days}
    assert list(low.index) == ["days_since_last_event", "channel"]
    np.testing.assert_allclose(low["mean_abs_contribution"], [1.5, 0.15])
    np.testing.assert_allclose(low["coverage"], [1.0, 0.5])
    assert low.loc["days_since_last_event", "typical_value"] == 30.0
    assert low.loc["days_since_last_event", "typical_text"] == "30 days"
    assert low.loc["days_since_last_event", "value_range"] == "20–40 days"
    np.testing.assert_allclose(low["lowers_share"], [1.0, 0.0])


def test_value_ranges_say_when_most_profiles_have_none():
    from workbench.factor_summary import value_range

    days = FeatureSpec("d", "Days since last purchase", unit="days")
    assert value_range(pd.Series([2.0, 4.0, 6.0, 8.0, 10.0]), days) == ("6 days", "4–8 days")
    many = pd.Series([10.0, 20.0, 30.0, np.nan, np.nan, np.nan, np.nan, np.nan])
    assert value_range(many, days) == ("none", "none for 62%; 15–25 days for the others")
    some = pd.Series([10.0, 20.0, 30.0, np.nan])
    assert value_range(some, days) == ("20 days", "15–25 days (25% have none)")
    tier = FeatureSpec("t", "Tier", kind="categorical")
    assert value_range(pd.Series(["gold", "gold", "silver", None]), tier) == ("gold", "gold (50%)")
    overdue = FeatureSpec("o", "Overdue", phrase="the last purchase was {} usual gaps ago")
    assert value_range(pd.Series([0.2, 0.3, 1.0, 2.0, 3.0]), overdue) == (
        "1",
        "the last purchase was 0.3–2 usual gaps ago",
    )


# --------------------------------------------------------------------------- scores
def test_percentiles_by_hand_and_ties():
    assert list(assign_percentiles(np.array([0.1, 0.5, 0.5, 0.9]))) == [1, 26, 26, 76]
    assert list(assign_percentiles(np.array([0.3]))) == [1]
    rng = np.random.default_rng(0)
    p = np.round(rng.random(1000), 2)  # many ties
    pct = assign_percentiles(p)
    assert pct.min() >= 1 and pct.max() <= 100
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(pct[order]) >= 0)  # monotone in probability
    for v in np.unique(p):
        assert len(np.unique(pct[p == v])) == 1  # ties share a percentile
    distinct = assign_percentiles(rng.permutation(1000) / 1000)
    assert np.all(np.bincount(distinct)[1:] == 10)  # 1% of the population per percentile
    with pytest.raises(ValueError):
        assign_percentiles(np.array([0.1, np.nan]))


def test_buckets_follow_config_bounds():
    pct = np.array([1, 24, 25, 74, 75, 100])
    assert list(assign_buckets(pct, BucketsConfig())) == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    assert list(assign_buckets(pct, BucketsConfig(medium=50, high=90))) == ["low"] * 3 + [
        "medium",
        "medium",
        "high",
    ]


def test_score_profiles_by_hand(scores):
    assert list(scores.columns) == SCORE_COLUMNS
    assert list(scores["profile_id"]) == ["p1", "p2", "p3", "p4"]
    assert scores["profile_id"].is_unique
    np.testing.assert_allclose(
        scores["probability"], [sigmoid(RAW[p]) for p in scores["profile_id"]]
    )
    assert list(scores["percentile"]) == [76, 1, 51, 26]
    assert list(scores["bucket"]) == ["high", "low", "medium", "medium"]
    # one entry per family (a feature without a group is its own), beside the mean of the
    # population when the model has no training ranges: (3 + 0 + 1) / 3
    assert scores.loc[0, "factor_1"] == (
        "Purchases in the last 30 days: 3; typical: 1.33 (raises, high)"
    )
    assert str(scores.loc[0, "score_date"]) == "2024-06-01"
    assert set(scores["propensity_type"]) == {"conversion"}
    churn = score_profiles(MODEL, snapshot(), SPECS, config("does_not_occur"), "2024-06-01")
    assert set(churn["propensity_type"]) == {"churn"}


def test_buckets_agree_with_percentiles(scores):
    cfg = BucketsConfig()
    low = scores["bucket"] == "low"
    high = scores["bucket"] == "high"
    assert (scores.loc[low, "percentile"] < cfg.medium).all()
    assert (scores.loc[high, "percentile"] >= cfg.high).all()
    assert scores.loc[~low & ~high, "percentile"].between(cfg.medium, cfg.high - 1).all()


def test_duplicate_profile_ids_rejected():
    snap = pd.concat([snapshot(), snapshot().iloc[[2]]], ignore_index=True)
    with pytest.raises(DataError, match="p3"):
        score_profiles(MODEL, snap, SPECS, config(), "2024-06-01")


def test_model_spec_mismatch_rejected():
    other = LinearFake(MODEL.weights, MODEL.levels, -1.0, specs=SPECS[:3])
    with pytest.raises(ModelMismatchError):
        score_profiles(other, snapshot(), SPECS, config(), "2024-06-01")
    with pytest.raises(ModelMismatchError, match="channel"):
        score_profiles(MODEL, snapshot().drop(columns="channel"), SPECS, config(), "2024-06-01")


def test_saved_scores_round_trip(scores, tmp_path):
    run = Run(tmp_path)
    save_scores(run, scores, config())
    back = pd.read_parquet(run.file("scores"))
    assert list(back.columns) == SCORE_COLUMNS
    np.testing.assert_allclose(back["probability"], scores["probability"], atol=1e-12)
    csv = pd.read_csv(run.file("scores_csv"))
    assert list(csv.columns) == SCORE_COLUMNS
    assert list(csv["score_date"]) == ["2024-06-01"] * 4
    assert json.loads(csv.loc[0, "factors_json"])[0]["code"] == "purchases_30d"


def test_expected_vs_actual_by_hand():
    v = pd.DataFrame({"prob": [0.1, 0.5, 0.5, 0.9], "label": [0, 1, 0, 1]})
    t = expected_vs_actual(v, "prob", BucketsConfig())
    b = t["bucket"].set_index("bucket")
    assert list(b.index) == ["low", "medium", "high"]
    assert list(b["profiles"]) == [1, 2, 1]
    np.testing.assert_allclose(b["mean_predicted"], [0.1, 0.5, 0.9])
    np.testing.assert_allclose(b["actual_rate"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(b["expected"], [0.1, 1.0, 0.9])
    assert list(b["actual"]) == [0, 1, 1]
    # percentiles 1, 26, 26, 76 -> deciles 10, 8, 8, 3 (1 = the highest scores)
    d = t["decile"].set_index("decile")
    assert list(d.index) == list(range(1, 11))
    assert list(d["profiles"]) == [0, 0, 1, 0, 0, 0, 0, 2, 0, 1]
    assert d.loc[8, "expected"] == pytest.approx(1.0) and d.loc[8, "actual"] == 1
    assert d.loc[3, "mean_predicted"] == pytest.approx(0.9)
    assert np.isnan(d.loc[2, "actual_rate"])


def test_realised_performance_by_hand():
    prob = np.arange(1, 11) / 10 - 0.05  # 0.05 .. 0.95
    scores = pd.DataFrame({"profile_id": [f"q{i}" for i in range(10)], "probability": prob})
    scores["percentile"] = assign_percentiles(prob)  # 1, 11, ..., 91
    scores["bucket"] = assign_buckets(scores["percentile"], BucketsConfig())
    labels = [0, 0, 0, 1, 0, 0, 0, 1, 0, 1]
    actual = pd.DataFrame(
        {"profile_id": [*scores["profile_id"], "stranger"], "label": [*labels, 1]}
    )
    r = realised_performance(scores, actual)
    assert r["profiles"] == 10 and r["unmatched_actual"] == 1 and r["unmatched_scores"] == 0
    assert r["base_rate"] == pytest.approx(0.3)
    # positives at ranks 4, 8, 10: (22 - 6) / (3 * 7)
    assert r["roc_auc"] == pytest.approx(16 / 21)
    assert r["lift_top_decile"] == pytest.approx(1 / 0.3)
    bb = r["by_bucket"].set_index("bucket")  # percentiles 1,11,21 low; 31..71 medium; 81,91 high
    assert list(bb["profiles"]) == [3, 5, 2]
    assert list(bb["actual"]) == [0, 2, 1]


# --------------------------------------------------------------------------- segments
PROFILES = pd.DataFrame(
    {
        "profile_id": ["p1", "p2", "p3", "p4", "p9"],
        "country": ["FR", "DE", "FR", None, "FR"],
        "age": [31, 45, 22, 60, 50],
        "email": ["a@shop.fr", "b@mail.de", "c@shop.fr", "d@mail.com", "e@x"],
        "signup": pd.to_datetime(
            ["2020-01-01", "2023-06-01", "2024-01-15", "2019-03-01", "2020-01-01"], utc=True
        ),
    }
)


def ids(segments, name):
    return list(segments[name]["profile_id"])


def test_segments_by_bucket_percentile_and_factor(scores):
    rules = [
        SegmentRule(name="high-propensity", bucket="high"),
        SegmentRule(name="not-high", bucket=["low", "medium"]),
        SegmentRule(name="middle", percentile_min=26, percentile_max=51),
        SegmentRule(name="top-half", percentile_min=51),
        SegmentRule(name="channel-driven", factor="channel"),
        SegmentRule(name="medium-purchasers", bucket="medium", factor="purchases_30d"),
    ]
    segs, summary = build_segments(scores, rules)
    assert ids(segs, "high-propensity") == ["p1"]
    assert ids(segs, "not-high") == ["p2", "p3", "p4"]
    assert ids(segs, "middle") == ["p3", "p4"]
    assert ids(segs, "top-half") == ["p1", "p3"]
    assert ids(segs, "channel-driven") == ["p1", "p3", "p4"]  # p3: channel lowers its score
    assert ids(segs, "medium-purchasers") == ["p3"]
    assert list(summary.columns) == ["segment", "size", "mean_probability", "expected_conversions"]
    row = summary.set_index("segment").loc["middle"]
    expected = sigmoid(0.25) + sigmoid(-1.18)
    assert row["size"] == 2
    assert row["expected_conversions"] == pytest.approx(expected)
    assert row["mean_probability"] == pytest.approx(expected / 2)


def test_segments_on_profile_attributes(scores):
    rules = [
        SegmentRule(name="fr", conditions=[Condition(field="country", value="FR")]),
        SegmentRule(name="not-fr", conditions=[Condition(field="country", op="!=", value="FR")]),
        SegmentRule(name="known-country", conditions=[Condition(field="country", op="exists")]),
        SegmentRule(name="no-country", conditions=[Condition(field="country", op="not_exists")]),
        SegmentRule(
            name="in", conditions=[Condition(field="country", op="in", value=["DE", "IT"])]
        ),
        SegmentRule(
            name="not-in", conditions=[Condition(field="country", op="not_in", value=["DE"])]
        ),
        SegmentRule(name="older", conditions=[Condition(field="age", op=">=", value=45)]),
        SegmentRule(
            name="young-fr",
            conditions=[
                Condition(field="age", op="<", value=40),
                Condition(field="country", value="FR"),
            ],
        ),
        SegmentRule(
            name="shop", conditions=[Condition(field="email", op="contains", value="@shop")]
        ),
        SegmentRule(
            name="starts-d", conditions=[Condition(field="email", op="starts_with", value="d@")]
        ),
        SegmentRule(
            name="recent", conditions=[Condition(field="signup", op=">", value="2023-01-01")]
        ),
        SegmentRule(
            name="high-fr", bucket="high", conditions=[Condition(field="country", value="FR")]
        ),
        SegmentRule(
            name="score-col", conditions=[Condition(field="probability", op=">", value=0.5)]
        ),
    ]
    segs, summary = build_segments(scores, rules, PROFILES)
    assert ids(segs, "fr") == ["p1", "p3"]
    # one missing-value rule (workbench.conditions): a missing country is in `!= FR`, not `== FR`
    assert ids(segs, "not-fr") == ["p2", "p4"]
    assert ids(segs, "known-country") == ["p1", "p2", "p3"]
    assert ids(segs, "no-country") == ["p4"]
    assert ids(segs, "in") == ["p2"]
    assert ids(segs, "not-in") == ["p1", "p3", "p4"]
    assert ids(segs, "older") == ["p2", "p4"]
    assert ids(segs, "young-fr") == ["p1", "p3"]
    assert ids(segs, "shop") == ["p1", "p3"]
    assert ids(segs, "starts-d") == ["p4"]
    assert ids(segs, "recent") == ["p2", "p3"]
    assert ids(segs, "high-fr") == ["p1"]
    assert ids(segs, "score-col") == ["p1", "p3"]  # sigmoid(0.825), sigmoid(0.25)
    assert list(segs["fr"].columns) == SCORE_COLUMNS  # segment rows are the scores only
    assert summary.set_index("segment").loc["no-country", "size"] == 1


def test_default_segments_one_per_bucket(scores, tmp_path):
    segs, summary = build_segments(scores, [])
    assert list(segs) == ["high", "medium", "low"]
    assert ids(segs, "high") == ["p1"]
    assert ids(segs, "medium") == ["p3", "p4"]
    assert ids(segs, "low") == ["p2"]
    assert summary["size"].sum() == len(scores)
    assert summary["expected_conversions"].sum() == pytest.approx(scores["probability"].sum())
    run = Run(tmp_path)
    save_scores(run, scores, config())
    out = run.file("segments")
    assert out == tmp_path / "segments"
    assert sorted(p.name for p in out.iterdir()) == [
        "high.csv",
        "low.csv",
        "medium.csv",
        "summary.csv",
    ]
    medium = pd.read_csv(out / "medium.csv")
    assert list(medium["profile_id"]) == ["p3", "p4"]
    assert "probability" in medium.columns
    assert list(pd.read_csv(out / "summary.csv")["segment"]) == ["high", "medium", "low"]


def test_unknown_field_lists_available_fields(scores):
    rule = SegmentRule(name="x", conditions=[Condition(field="contry", value="FR")])
    with pytest.raises(ConfigError, match=r"contry.*available fields.*country"):
        build_segments(scores, [rule], PROFILES)
    with pytest.raises(ConfigError, match="available fields"):
        build_segments(scores, [rule])
    with pytest.raises(ConfigError, match="unknown factor"):
        build_segments(scores, [SegmentRule(name="f", factor="nope")], feature_codes=CODES)
    with pytest.raises(ConfigError, match="reserved"):
        build_segments(scores, [SegmentRule(name="summary", bucket="high")])


def test_plots_return_axes(scores):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.plots import scores as plots

    X = snapshot()[CODES]
    contrib = MODEL.contributions(X)
    bf = bucket_factors(contrib, X, scores["bucket"], SPECS)
    table = expected_vs_actual(
        pd.DataFrame({"p": scores["probability"], "label": [1, 0, 0, 1]}), "p", BucketsConfig()
    )
    for ax in (
        plots.plot_global_factors(global_factors(contrib, SPECS)),
        plots.plot_bucket_factors(bf, "medium"),
        plots.plot_expected_vs_actual(table["bucket"]),
        plots.plot_expected_vs_actual(table["decile"]),
        plots.plot_score_histogram(scores),
        plots.plot_bucket_sizes(scores),
    ):
        assert isinstance(ax, matplotlib.axes.Axes)
    plt.close("all")


# --------------------------------------------------------------------------- real candidates
def _synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "profile_id": [f"r{i}" for i in range(n)],
            "purchases_30d": rng.poisson(1.0, n).astype(float),
            "revenue_90d": np.round(rng.lognormal(3, 1, n), 2),
            "days_since_last_event": np.floor(rng.exponential(30, n)),
            "channel": pd.Categorical(rng.choice(["email", "web", "store"], n)),
        }
    )
    frame.loc[rng.random(n) < 0.1, "revenue_90d"] = np.nan
    logit = (
        -1
        + 0.8 * frame["purchases_30d"]
        - 0.04 * frame["days_since_last_event"]
        + 0.6 * (frame["channel"] == "email")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(np.int8)
    return frame, y


@pytest.mark.parametrize("kind", ["logistic", "boosted"])
def test_real_candidates_score_explain_and_rescore(kind, tmp_path):
    models = pytest.importorskip("workbench.modeling")
    train, y = _synthetic(1500, seed=1)
    if kind == "logistic":
        model = models.LogisticPropensity(SPECS)
    else:
        model = models.BoostedPropensity(SPECS, num_threads=1, max_rounds=40)
    model.fit(train[CODES], y)
    snap, _ = _synthetic(400, seed=2)
    X = snap[CODES]
    contrib = model.contributions(X)
    assert list(contrib.columns) == [*CODES, "bias"]
    np.testing.assert_allclose(contrib.sum(axis=1), model.raw_score(X), atol=1e-6)

    scores = score_profiles(model, snap, model.feature_specs_, config(), "2024-06-01")
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == len(snap) and scores["profile_id"].is_unique
    order = np.argsort(scores["probability"].to_numpy(), kind="stable")
    assert np.all(np.diff(scores["percentile"].to_numpy()[order]) >= 0)
    # the first factor in the JSON is the largest raising contribution of that profile
    c = contrib[CODES].to_numpy()
    for i in range(0, len(snap), 37):
        listed = json.loads(scores.loc[i, "factors_json"])
        raising = [d for d in listed if d["direction"] == "raises"]
        if c[i].max() > 0:
            assert raising[0]["code"] == CODES[int(np.argmax(c[i]))]
            assert raising[0]["contribution"] == pytest.approx(c[i].max(), abs=1e-6)
            assert scores.loc[i, "factor_1"].startswith(raising[0]["label"] + ": ")
        if c[i].min() < 0:
            assert listed[-1]["code"] == CODES[int(np.argmin(c[i]))]

    # a saved model re-scores the same data to the same probabilities
    models.save_model(model, SPECS, config(), tmp_path / "model")
    again = score_profiles(
        models.load_model(tmp_path / "model"), snap, SPECS, config(), "2024-06-01"
    )
    np.testing.assert_allclose(again["probability"], scores["probability"], rtol=0, atol=1e-9)
    assert (again["factors_json"] == scores["factors_json"]).all()


def test_values_are_rounded_for_reading():
    days = FeatureSpec("d", "Days since last event", unit="days")
    plain = FeatureSpec("x", "Trend")
    assert format_value(312.88, days) == "313 days"
    assert format_value(1.5, days) == "1.5 days"
    assert format_value(14.53, plain) == "14.5"
    assert format_value(0.2666, plain) == "0.27"
    assert format_value(1234.6, plain) == "1,235"


# ------------------------------------------------------------------------ factor families
FAMILY_SPECS = [
    FeatureSpec("buys_90d", "Purchases in the last 90 days", unit="purchases",
                group="Purchase frequency", direction=1, phrase="{} in the last 90 days"),
    FeatureSpec("buys_ever", "Purchases ever", unit="purchases", group="Purchase frequency",
                direction=1, phrase="{} ever"),
    FeatureSpec("days_since_last_event", "Days since last event", unit="days",
                group="Recency of purchase", direction=-1, phrase="{} since the last purchase"),
    FeatureSpec("spend", "Spend ever", unit="$", group="Spend"),
]  # fmt: skip
RANGES = {"buys_90d": [0, 9, 1.0], "buys_ever": [1, 40, 3.0], "days_since_last_event": [1, 300, 60.0], "spend": [0, 900, 80.0]}  # fmt: skip


def _family_frames(rows):
    X = pd.DataFrame([r[0] for r in rows])
    C = pd.DataFrame([r[1] for r in rows]).assign(bias=-1.0)
    return C, X


def test_factor_families_sum_their_features_and_read_in_words():
    from workbench.factor_groups import grouped_factors

    C, X = _family_frames(
        [
            (
                {"buys_90d": 3, "buys_ever": 2, "days_since_last_event": 12, "spend": 40},
                {"buys_90d": 0.6, "buys_ever": -0.1, "days_since_last_event": 0.3, "spend": -0.2},
            )
        ]
    )
    factors, guard = grouped_factors(C, X, FAMILY_SPECS, ranges=RANGES, thresholds=(0.1, 0.4))
    # the family's contribution is 0.6 - 0.1; it reads the feature that agrees with it
    assert factors.loc[0, "factor_1"] == (
        "Purchase frequency: 3 purchases in the last 90 days; typical: 1 purchase (raises, high)"
    )
    assert factors.loc[0, "factor_2"] == (
        "Recency of purchase: 12 days since the last purchase; typical: 60 days (raises, medium)"
    )
    assert (
        factors.loc[0, "factor_down"]
        == "Spend: Spend ever: $40.00; typical: $80.00 (lowers, medium)"
    )
    entries = json.loads(factors.loc[0, "factors_json"])
    assert entries[0] == {
        "factor": "Purchase frequency",
        "code": "buys_90d",
        "label": "Purchases in the last 90 days",
        "value": 3,
        "typical": 1.0,
        "contribution": 0.5,
        "importance": "high",
        "direction": "raises",
    }
    assert guard == {"withheld": 0, "profiles": 0, "by_family": {}}


def test_no_factor_says_doing_nothing_raises_a_purchase_propensity():
    """A tree's interactions can give a family a positive contribution for a profile with
    fewer purchases than typical, or a negative one for a recent profile: those entries are
    withheld (counted), never shown; for a churn goal the rule turns round."""
    from workbench.factor_groups import grouped_factors

    C, X = _family_frames(
        [
            (  # nothing lately, yet "Purchase frequency raises": withheld
                {"buys_90d": 0, "buys_ever": 1, "days_since_last_event": 200, "spend": 10},
                {"buys_90d": 0.5, "buys_ever": 0.2, "days_since_last_event": -0.8, "spend": 0.1},
            ),
            (  # recent, yet "Recency lowers": withheld; the frequency entry is fine
                {"buys_90d": 4, "buys_ever": 9, "days_since_last_event": 3, "spend": 500},
                {"buys_90d": 0.7, "buys_ever": 0.1, "days_since_last_event": -0.4, "spend": 0.2},
            ),
            (  # missing values are "nothing happened": 0 purchases, never
                {"buys_90d": np.nan, "buys_ever": 1, "days_since_last_event": np.nan, "spend": 5},
                {"buys_90d": 0.3, "buys_ever": 0.0, "days_since_last_event": 0.2, "spend": -0.1},
            ),
        ]
    )
    factors, guard = grouped_factors(C, X, FAMILY_SPECS, ranges=RANGES, thresholds=(0.1, 0.4))
    texts = factors[["factor_1", "factor_2", "factor_3", "factor_down"]].astype(object)
    assert not texts.iloc[0].str.startswith("Purchase frequency").fillna(False).any()
    assert texts.loc[0, "factor_down"].startswith("Recency of purchase: 200 days")
    assert texts.loc[1, "factor_1"].startswith("Purchase frequency: 4 purchases")
    assert not texts.iloc[1].str.startswith("Recency").fillna(False).any()
    assert not texts.iloc[2].str.contains("raises").fillna(False).iloc[:3].any()
    assert guard["withheld"] == 4 and guard["profiles"] == 3
    assert guard["by_family"] == {"Purchase frequency": 2, "Recency of purchase": 2}
    churn, _ = grouped_factors(C, X, FAMILY_SPECS, direction=-1, ranges=RANGES)
    # for "will not purchase", 0 purchases lately may raise the score and 200 days lower nothing
    assert churn.loc[0, "factor_1"].startswith("Purchase frequency: 0 purchases in the last 90")


def test_factor_text_built_in_row_chunks_reads_as_built_at_once(monkeypatch):
    """At 1M profiles the factor text is built a chunk of rows at a time to bound memory; the
    chunks join into exactly the columns one pass would give (thresholds from every row)."""
    import workbench.factor_groups as factor_groups

    rng = np.random.default_rng(7)
    n = 50
    X = pd.DataFrame(
        {
            "buys_90d": rng.integers(0, 6, n).astype(float),
            "buys_ever": rng.integers(1, 30, n).astype(float),
            "days_since_last_event": rng.integers(1, 300, n).astype(float),
            "spend": rng.uniform(0, 900, n).round(2),
        },
        index=pd.RangeIndex(100, 100 + n),  # not 0..n-1: chunks must keep the rows' labels
    )
    X.loc[[103, 140], "days_since_last_event"] = np.nan
    C = pd.DataFrame(rng.normal(0, 0.5, (n, 4)), columns=X.columns, index=X.index).assign(bias=-1)
    whole, whole_guard = factor_groups.grouped_factors(C, X, FAMILY_SPECS, ranges=RANGES)
    monkeypatch.setattr(factor_groups, "FACTOR_TEXT_CHUNK_ROWS", 7)  # 8 chunks, the last short
    chunked, chunked_guard = factor_groups.grouped_factors(C, X, FAMILY_SPECS, ranges=RANGES)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_guard == whole_guard
    assert whole["factors_json"].map(json.loads).map(len).gt(0).all()


def test_family_tables_read_values_in_the_leading_features_words():
    """The landing page's factor table reads each family's range in its leading feature's
    phrase and unit ("3-5 days since the last purchase"), not bare numbers."""
    from workbench.factor_groups import family_tables

    C, X = _family_frames(
        [
            (
                {"buys_90d": b, "buys_ever": b + 2, "days_since_last_event": d, "spend": 40.0},
                {"buys_90d": 0.1, "buys_ever": 0.0, "days_since_last_event": 0.6, "spend": 0.0},
            )
            for b, d in ((1, 3), (2, 4), (3, 5), (4, 6))
        ]
    )
    buckets = pd.Series(["high"] * 4, index=X.index)
    _overall, by_bucket = family_tables(C, X, buckets, FAMILY_SPECS)
    row = by_bucket.set_index("feature").loc["Recency of purchase"]
    assert row["value_range"].endswith("days since the last purchase"), row["value_range"]
    assert row["leading_feature"] == "Days since last event"
