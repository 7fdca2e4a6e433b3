"""Two runs compared: PSI, bucket migration, factor drift and realised figures, on frames small
enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench import monitoring as mon
from workbench.features import FeatureSpec
from workbench.scoring import realised_performance


def test_psi_of_numbers_cut_at_the_reference_deciles():
    reference = pd.Series(np.arange(1, 11), dtype=float)  # its median, 5, splits it in halves
    current = pd.Series([1, 1, 1, 1, 1, 1, 9, 9], dtype=float)  # 6/8 low, 2/8 high
    table = mon.psi_table(reference, current, bins=2)
    assert list(table["bin"]) == ["<= 5", "> 5"]
    assert list(table["reference_share"]) == [0.5, 0.5]
    assert list(table["current_share"]) == [0.75, 0.25]
    by_hand = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert by_hand == pytest.approx(0.274653, abs=1e-6)
    assert mon.psi(reference, current, bins=2) == pytest.approx(by_hand)
    assert mon.psi(reference, reference) == 0.0


def test_psi_gives_missing_values_a_bin_and_empty_bins_a_floor():
    reference = pd.Series(np.arange(1, 11), dtype=float)
    current = pd.Series([1, 1, 1, 9, np.nan])  # 0.6 low, 0.2 high, 0.2 missing (never before)
    table = mon.psi_table(reference, current, bins=2)
    assert list(table["bin"]) == ["<= 5", "> 5", "(missing)"]
    missing = (0.2 - mon.PSI_FLOOR) * math.log(0.2 / mon.PSI_FLOOR)
    low = (0.6 - 0.5) * math.log(0.6 / 0.5)
    high = (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert table["psi"].sum() == pytest.approx(low + high + missing)


def test_psi_of_text_by_value_and_ties_merge_bins():
    assert mon.psi(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.274653, abs=1e-6)
    # a count that is 0 for most profiles: the deciles collapse into few bins, none empty
    counts = pd.Series([0] * 8 + [1, 5], dtype=float)
    table = mon.psi_table(counts, counts)
    assert list(table["bin"]) == ["<= 0", "0 to 1", "> 1"]
    assert table["psi"].sum() == 0


def test_drift_levels_follow_the_documented_thresholds():
    assert [mon.drift_level(v) for v in (0.0, 0.099, 0.10, 0.249, 0.25, 3.0)] == [
        "stable", "stable", "moderate", "moderate", "major", "major",
    ]  # fmt: skip
    assert mon.drift_level(float("nan")) == "unknown"


def _scores(rows):
    return pd.DataFrame(rows, columns=["profile_id", "probability", "bucket"])


EARLIER = _scores(
    [
        ("p1", 0.05, "low"),
        ("p2", 0.10, "low"),
        ("p3", 0.30, "medium"),
        ("p4", 0.80, "high"),
        ("p5", 0.90, "high"),
        ("p6", 0.40, "medium"),
    ]
)
LATER = _scores(
    [
        ("p1", 0.05, "low"),
        ("p2", 0.30, "medium"),
        ("p3", 0.35, "medium"),
        ("p4", 0.40, "medium"),
        ("p5", 0.95, "high"),
        ("p7", 0.90, "high"),
    ]
)


def test_bucket_migration_counts_every_move_new_and_gone_profiles():
    matrix = mon.bucket_migration(EARLIER, LATER)
    expected = pd.DataFrame(
        [[1, 1, 0, 0], [0, 1, 0, 1], [0, 1, 1, 0], [0, 0, 1, 0]],
        index=["low", "medium", "high", "new"],
        columns=["low", "medium", "high", "no longer scored"],
    )
    assert (matrix.to_numpy() == expected.to_numpy()).all()
    assert list(matrix.index) == list(expected.index)
    assert list(matrix.columns) == list(expected.columns)
    summary = mon.migration_summary(matrix)
    # rows (earlier) 2/1/2 of 5, columns (later) 1/3/1 of 5: chance keeps .4*.2+.2*.6+.4*.2
    chance = 0.4 * 0.2 + 0.2 * 0.6 + 0.4 * 0.2
    assert summary["profiles_in_both"] == 5 and summary["kept_bucket"] == 3
    assert (summary["moved_up"], summary["moved_down"]) == (1, 1)
    assert summary["kept_share"] == pytest.approx(0.6)
    assert summary["chance_kept_share"] == pytest.approx(chance)
    assert summary["kappa"] == pytest.approx((0.6 - chance) / (1 - chance))
    assert summary["high_still_high"] == 0.5
    assert (summary["new_profiles"], summary["no_longer_scored"]) == (1, 1)


def test_score_drift_reports_the_psi_of_the_probabilities_and_bucket_shares():
    drift = mon.score_drift(EARLIER, LATER)
    assert drift["psi"] == pytest.approx(mon.psi(EARLIER["probability"], LATER["probability"]))
    assert drift["earlier_bucket_shares"] == pytest.approx(
        {"low": 2 / 6, "medium": 2 / 6, "high": 2 / 6}
    )
    assert drift["later_bucket_shares"] == pytest.approx(
        {"low": 1 / 6, "medium": 3 / 6, "high": 2 / 6}
    )
    assert drift["later_mean_probability"] == pytest.approx(LATER["probability"].mean())


SPECS = [
    FeatureSpec("purchases_count_7d", "Purchases in the last 7 days", family="event_type"),
    FeatureSpec("purchases_days_since_last", "Days since last purchase", family="event_type"),
    FeatureSpec(
        "price_total_sum_30d", "Total price total in the last 30 days", family="numeric_field"
    ),
    FeatureSpec("events_count_30d", "Events in the last 30 days", family="overall"),
    FeatureSpec("profile_country", "Country (profile)", "categorical", "profile"),
]


def test_feature_families_read_as_a_marketer_names_them():
    assert mon.feature_families(SPECS) == {
        "purchases_count_7d": "Purchase",
        "purchases_days_since_last": "Purchase",
        "price_total_sum_30d": "Price total",
        "events_count_30d": "Overall activity",
        "profile_country": "Country",
    }


def test_factor_drift_shares_per_family_and_flags_big_moves():
    def weights(purchases, days, events, country):
        return pd.DataFrame(
            {
                "feature": [
                    "purchases_count_7d",
                    "purchases_days_since_last",
                    "events_count_30d",
                    "profile_country",
                ],
                "mean_abs_contribution": [purchases, days, events, country],
            }
        )

    # earlier: Purchase 4 of 10, Overall 4, Country 2; later: Purchase 2, Overall 6, Country 2
    drift = mon.factor_drift(weights(3, 1, 4, 2), weights(1, 1, 6, 2), mon.feature_families(SPECS))
    by = drift.set_index("family")
    assert by.loc["Purchase", "earlier_share"] == pytest.approx(0.4)
    assert by.loc["Purchase", "later_share"] == pytest.approx(0.2)
    assert by.loc["Overall activity", "change"] == pytest.approx(0.2)
    assert by.loc["Country", "change"] == pytest.approx(0.0)
    assert list(by["shifted"]) == [True, True, False]  # largest change first
    flags = mon.drift_flags(None, None, None, drift)
    assert flags == [
        "factor drift: Overall activity gained 20% points of the factor weight (40% -> 60%)",
        "factor drift: Purchase lost 20% points of the factor weight (40% -> 20%)",
    ]


def test_feature_drift_per_common_feature_largest_first():
    earlier = pd.DataFrame(
        {"purchases_count_7d": [0, 0, 1, 2] * 5, "profile_country": ["DE", "FR"] * 10}
    )
    later = pd.DataFrame(
        {"purchases_count_7d": [3, 4, 5, 6] * 5, "profile_country": ["DE", "FR"] * 10}
    )
    table = mon.feature_drift(earlier, later, SPECS)
    assert list(table["feature"]) == ["purchases_count_7d", "profile_country"]  # others absent
    assert table.loc[0, "level"] == "major" and table.loc[1, "psi"] == 0.0
    assert (table.loc[0, "earlier"], table.loc[0, "later"]) == (0.5, 4.5)  # medians
    flags = mon.drift_flags(None, table, None, None)
    assert flags[0].startswith(
        "1 feature(s) shifted majorly (PSI >= 0.25): Purchases in the last 7 days"
    )


def test_realised_figures_and_their_flags_by_hand():
    scores = pd.DataFrame(
        {
            "profile_id": ["a", "b", "c", "d", "e"],
            "probability": [0.9, 0.8, 0.3, 0.1, 0.05],
            "percentile": [81, 61, 41, 21, 1],
            "bucket": ["high", "high", "medium", "low", "low"],
        }
    )
    actual = pd.DataFrame(
        {"profile_id": ["a", "b", "c", "d", "e", "f"], "label": [1, 0, 1, 0, 0, 1]}
    )
    perf = realised_performance(scores, actual)
    # positives a (0.9) and c (0.3) against negatives b (0.8), d, e: a wins 3, c wins 2 of 6
    assert perf["roc_auc"] == pytest.approx(5 / 6)
    assert (perf["profiles"], perf["unmatched_actual"]) == (5, 1)
    by = perf["by_bucket"].set_index("bucket")
    assert by.loc["high", "expected"] == pytest.approx(1.7) and by.loc["high", "actual"] == 1
    assert by.loc["medium", "expected"] == pytest.approx(0.3) and by.loc["medium", "actual"] == 1
    assert by.loc["low", "expected"] == pytest.approx(0.15) and by.loc["low", "actual"] == 0
    flags = mon.realised_flags(perf, validation_auc=0.95)
    # 5/6 <= 0.95 - 0.05; medium's 1 against 0.3 is within chance (2 * sqrt(0.3) > 0.7)
    assert flags == [
        "the earlier run ranked worse than its validation promised: realised ROC AUC 0.833 against 0.950"
    ]
    assert mon.realised_flags(perf, validation_auc=0.85) == []


def test_miscalibrated_needs_a_big_gap_beyond_chance():
    assert mon.miscalibrated(100, 130)  # 30 > 25% of 100 and > 2 * sqrt(100)
    assert not mon.miscalibrated(100, 120)  # 20 is within 25%
    assert not mon.miscalibrated(4, 6)  # 50% off, but 2 < 2 * sqrt(4): chance
    assert mon.miscalibrated(4, 9)
    assert not mon.miscalibrated(0, 3)
