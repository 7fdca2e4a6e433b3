"""Who the model serves badly: cohort levels, the per-cohort table and its flag rule, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.cohorts import cohort_flags, cohort_levels, cohort_table, sparse_history


def test_text_cohorts_keep_the_most_frequent_values_and_missing():
    scored = pd.Series(["DE"] * 5 + ["FR"] * 3 + ["IT"] * 2 + ["ES", None])
    validation = pd.Series(["DE", "ES", "PT", None])
    a, b, order = cohort_levels(scored, validation, max_levels=2)
    assert order == ["DE", "FR", "other", "(missing)"]
    assert list(a) == ["DE"] * 5 + ["FR"] * 3 + ["other"] * 3 + ["(missing)"]
    assert list(b) == ["DE", "other", "other", "(missing)"]


def test_numeric_cohorts_are_quartiles_of_the_scored_population():
    scored = pd.Series(np.arange(1, 21, dtype=float))  # quartiles at 5, 10 and 15
    validation = pd.Series([1.0, 7.0, 15.0, 16.0, np.nan])
    a, b, order = cohort_levels(scored, validation, max_levels=4)
    assert order == ["1 to 5", "6 to 10", "11 to 15", "above 15", "(missing)"]
    assert a.value_counts().to_dict() == {"1 to 5": 5, "6 to 10": 5, "11 to 15": 5, "above 15": 5}
    assert list(b) == ["1 to 5", "6 to 10", "11 to 15", "above 15", "(missing)"]
    # counts where most profiles have 1: "1", "2 to 3", "above 3"
    counts = pd.Series([1.0] * 12 + [2, 3, 3, 5, 8, 9, 13, 21])
    assert cohort_levels(counts, counts, max_levels=4)[2] == ["1", "2 to 3", "above 3"]
    amounts = pd.Series(np.linspace(0.5, 10.5, 21))
    assert cohort_levels(amounts, amounts, max_levels=4)[2] == [
        "0.5 to 3", "3 to 5.5", "5.5 to 8", "above 8",
    ]  # fmt: skip


def test_sparse_history_counts_active_days_in_the_lookback():
    frame = pd.DataFrame({"active_days_90d": [0, 1, 2, 5, np.nan]})
    history = sparse_history(frame, 90)
    assert list(history) == ["sparse", "sparse", "regular", "regular", "sparse"]
    assert sparse_history(frame, 365) is None


def _validation():
    """Cohort A ranked perfectly, B backwards (its positives score lower); both calibrated:
    20 positives and 20 negatives each, expected 20 conversions each."""
    rows = []
    for region, pos_p, neg_p in (("A", 0.7, 0.3), ("B", 0.3, 0.7)):
        rows += [(region, pos_p, 1)] * 20 + [(region, neg_p, 0)] * 20
    return pd.DataFrame(rows, columns=["region", "probability", "label"])


def test_cohort_table_by_hand_and_the_ranking_flag():
    validation = _validation()
    scored = pd.DataFrame(
        {
            "region": ["A", "A", "A", "B"],
            "probability": [0.9, 0.5, 0.1, 0.3],
            "bucket": ["high", "medium", "low", "medium"],
        }
    )
    table = cohort_table(scored, validation, ["region"]).set_index("level")
    everyone, a, b = table.loc["all"], table.loc["A"], table.loc["B"]
    # all 80: positives at .7 and .3, negatives at .3 and .7: wins 400, ties 2 x 400 of 1600
    assert everyone["roc_auc"] == pytest.approx(0.5)
    assert (a["roc_auc"], b["roc_auc"]) == (1.0, 0.0)
    assert (a["validation_profiles"], a["positives"], a["base_rate"]) == (40, 20, 0.5)
    assert a["expected"] == pytest.approx(20) and a["mean_predicted"] == pytest.approx(0.5)
    assert (a["scored_profiles"], a["scored_share"]) == (3, 0.75)
    assert a["mean_probability"] == pytest.approx(0.5) and a["high_share"] == pytest.approx(1 / 3)
    assert a["flag"] == ""
    # the yardstick is the AUC typical of region cohorts: (40 * 1 + 40 * 0) / 80 = 0.5
    assert b["flag"] == (
        "ranks worse: AUC 0.000 (95% interval 0.000 to 0.000) against 0.500 typical of region cohorts"
    )
    assert cohort_flags(table.reset_index()) == [f"region = B: {b['flag']}"]


def test_calibration_flag_needs_a_gap_beyond_chance():
    # gold: 40 profiles at 0.2 (8 expected), 20 converted: 12 more, > 25% and > 2 * sqrt(8)
    # silver: 40 at 0.2, 10 converted: 2 more, within chance
    rows = [("gold", 0.2, 1)] * 20 + [("gold", 0.2, 0)] * 20
    rows += [("silver", 0.2, 1)] * 10 + [("silver", 0.2, 0)] * 30
    validation = pd.DataFrame(rows, columns=["tier", "probability", "label"])
    scored = pd.DataFrame(
        {"tier": ["gold", "silver"], "probability": [0.2, 0.2], "bucket": ["low", "low"]}
    )
    table = cohort_table(scored, validation, ["tier"]).set_index("level")
    assert (
        table.loc["gold", "flag"]
        == "miscalibrated: 20 actual conversions against 8.0 expected (150% more)"
    )
    assert table.loc["silver", "flag"] == ""
    # every score tied: an AUC of 0.5 for each tier, as for everyone, so no ranking flag
    assert table.loc["gold", "roc_auc"] == 0.5


def test_small_cohorts_get_no_auc_and_no_ranking_flag():
    validation = pd.DataFrame(
        {"c": ["x"] * 15, "probability": np.linspace(0.9, 0.1, 15), "label": [0] * 10 + [1] * 5}
    )
    scored = pd.DataFrame({"c": ["x"], "probability": [0.5], "bucket": ["high"]})
    row = cohort_table(scored, validation, ["c"]).set_index("level").loc["x"]
    assert np.isnan(row["roc_auc"]) and row["flag"] == ""  # 5 positives < 10


def test_a_predictive_attribute_is_not_flagged_for_what_separates_its_cohorts():
    """Inside each tier the model ranks alike (AUC 0.75); the tiers also differ in base rate
    and scores, so the whole population's AUC is higher than either: no tier is flagged."""
    rng = np.random.default_rng(0)
    frames = []
    for tier, shift, rate in (("basic", 0.0, 0.1), ("gold", 2.0, 0.5)):
        y = (rng.random(2000) < rate).astype(int)
        logit = shift + 1.0 * y + rng.normal(0, 1, 2000)
        frames.append(
            pd.DataFrame({"tier": tier, "probability": 1 / (1 + np.exp(-logit + 2)), "label": y})
        )
    validation = pd.concat(frames, ignore_index=True)
    scored = validation.assign(bucket="medium")
    table = cohort_table(scored, validation, ["tier"]).set_index("level")
    assert table.loc["all", "roc_auc"] > table.loc["basic", "roc_auc"] + 0.05
    assert table.loc["all", "roc_auc"] > table.loc["gold", "roc_auc"] + 0.05
    assert list(table["flag"].str.startswith("ranks worse")) == [False, False, False]
