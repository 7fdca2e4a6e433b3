"""Goals, eligibility, labels and every feature family on hand-made events, plus future invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ingest_quality, write_config

from workbench.conditions import condition_expr
from workbench.config import Condition, load_config
from workbench.engine import duckdb_connection, events_table
from workbench.errors import ConfigError
from workbench.features import RECENCY_FEATURE, plan_features
from workbench.goals import goal_counts, plan_cutoffs
from workbench.snapshots import build_snapshots
from workbench.training_sample import TrainingSample

CUTOFF = pd.Timestamp("2024-03-01")


def snapshot(config, tmp_path, cutoffs=(CUTOFF,), events_csv=None, **kwargs):
    out = tmp_path / f"ingest{len(list(tmp_path.iterdir()))}"
    if events_csv is not None:
        events_csv.to_csv(config.events.path, index=False)
    ingest_quality(config, out)
    con = duckdb_connection()
    events = events_table(con, out / "events.parquet")
    frame, plan = build_snapshots(events, config, list(cutoffs), **kwargs)
    return frame.set_index("profile_id"), plan, events


def test_hand_computed_features_and_labels(tiny_config, tmp_path):
    snap, plan, _ = snapshot(tiny_config, tmp_path)
    assert sorted(snap.index) == ["a", "b"]  # c has no event before the cutoff: not eligible
    a, b = snap.loc["a"], snap.loc["b"]
    assert (a["label"], b["label"]) == (1, 0)
    assert (a["page_view_count_7d"], a["page_view_count_30d"], a["page_view_count_90d"]) == (
        1,
        2,
        2,
    )
    assert a["page_view_days_since_last"] == pytest.approx(1 + 14 / 24)
    assert a["page_view_days_since_first"] == pytest.approx(9 + 14 / 24)
    assert (a["purchase_count_30d"], a["purchase_count_90d"]) == (0, 1)
    assert a["purchase_days_since_last"] == pytest.approx(45 + 15 / 24)
    assert a["amount_sum_30d"] == 0 and np.isnan(a["amount_mean_30d"])
    assert a["amount_sum_90d"] == 40 and a["amount_mean_90d"] == 40
    assert a["sku_distinct_90d"] == 2
    assert (a["events_count_30d"], a["events_count_90d"], a["active_days_90d"]) == (2, 3, 3)
    assert a["trend_30d_vs_prev60d"] == pytest.approx((2 + 1) / (1 / 2 + 1))
    assert a[RECENCY_FEATURE] == pytest.approx(1 + 14 / 24)
    assert a["days_since_first_event"] == pytest.approx(45 + 15 / 24)
    # b's purchase is 91 days old: outside every window, but recency uses all history
    assert b["purchase_count_90d"] == 0 and b["purchase_days_since_last"] == pytest.approx(91)
    assert b["amount_sum_90d"] == 0 and np.isnan(b["amount_mean_90d"])
    assert b["days_since_first_event"] == pytest.approx(91)
    labels = {s.code: s.label for s in plan.specs}
    assert labels["purchase_count_30d"] == "Purchases in the last 30 days"
    assert labels[RECENCY_FEATURE] == "Days since last event"


def test_churn_goal_flips_the_label(tiny_config, tmp_path):
    churn = tiny_config.model_copy(deep=True)
    churn.goal.outcome = "does_not_occur"
    snap, _, _ = snapshot(churn, tmp_path)
    assert (snap.loc["a", "label"], snap.loc["b", "label"]) == (0, 1)


@pytest.mark.parametrize(
    "active, conditions, expected",
    [
        (None, [], ["a", "b"]),
        (30, [], ["a", "b"]),
        (30, [{"field": "event_type", "value": "purchase"}], []),
        (60, [{"field": "event_type", "value": "purchase"}], ["a"]),
        (None, [{"field": "amount", "op": ">=", "value": 100}], ["b"]),
    ],
)
def test_eligibility(tiny_config, tmp_path, active, conditions, expected):
    cfg = tiny_config.model_copy(deep=True)
    cfg.eligibility.active_within_days = active
    cfg.eligibility.conditions = [Condition(**c) for c in conditions]
    snap, _, _ = snapshot(cfg, tmp_path)
    assert sorted(snap.index) == expected


def test_outcome_window_boundaries(tiny_config, tmp_path, tiny_events):
    # A purchase exactly at the cutoff counts for the label (not the features); one exactly at
    # cutoff + window does not count.
    extra = pd.DataFrame(
        [
            ("b", "2024-03-01T00:00:00Z", "purchase", 1.0, "x"),
            ("a", "2024-03-31T00:00:00Z", "purchase", 1.0, "x"),
        ],
        columns=tiny_events.columns,
    )
    events = pd.concat([tiny_events[tiny_events.user != "a"].iloc[:0], tiny_events, extra])
    events = events[~((events.user == "a") & (events.ts == "2024-03-05T09:00:00Z"))]
    snap, _, _ = snapshot(tiny_config, tmp_path, events_csv=events)
    assert snap.loc["b", "label"] == 1 and snap.loc["b", "purchase_count_7d"] == 0
    assert snap.loc["a", "label"] == 0


def _random_events(rng, n_profiles=60, n_events=1500):
    start = pd.Timestamp("2024-01-01")
    seconds = rng.integers(0, 150 * 86400, n_events)
    return pd.DataFrame(
        {
            "user": [f"u{i:03d}" for i in rng.integers(0, n_profiles, n_events)],
            "ts": [(start + pd.Timedelta(seconds=int(s))).isoformat() + "Z" for s in seconds],
            "kind": rng.choice(["page_view", "purchase", "cart"], n_events, p=[0.6, 0.15, 0.25]),
            "amount": np.where(
                rng.random(n_events) < 0.5, rng.gamma(2, 20, n_events).round(2), np.nan
            ),
            "sku": rng.choice([f"s{i}" for i in range(12)], n_events),
        }
    )


@pytest.mark.parametrize("ids", [True, False], ids=["with-ids", "without-ids"])
def test_active_days_count_each_day_once_within_the_lookback(tiny_config, tmp_path, ids):
    """A day with several events, two at the same second, counts once; the lookback's first
    second counts, the second before it and the cutoff itself do not. Without ids to count
    (no sku here), active days come from each profile's first event of a day instead of a
    distinct count: the same figures."""
    rows = [
        ("2023-12-01T23:59:59Z", "page_view"),  # the day before the 90-day lookback
        ("2023-12-02T00:00:00Z", "page_view"),  # its first second
        ("2023-12-02T10:00:00Z", "purchase"),
        ("2024-01-15T08:00:00Z", "page_view"),  # two events at the same second
        ("2024-01-15T08:00:00Z", "cart"),
        ("2024-02-29T23:59:59Z", "purchase"),
        ("2024-03-01T00:00:00Z", "purchase"),  # at the cutoff: after it
    ]
    events = pd.DataFrame(
        {
            "user": ["a"] * len(rows) + ["b"],
            "ts": [t for t, _ in rows] + ["2024-02-20T12:00:00Z"],
            "kind": [k for _, k in rows] + ["page_view"],
            "amount": [5.0] * (len(rows) + 1),
            "sku": [f"s{i % 3}" for i in range(len(rows) + 1)],
        }
    )
    if not ids:
        events["sku"] = None
    snap, plan, _ = snapshot(tiny_config, tmp_path, events_csv=events)
    assert bool(plan.id_fields) == ids
    assert snap.loc["a", "active_days_90d"] == 3
    assert snap.loc["b", "active_days_90d"] == 1


def test_future_invariance(tiny_config, tmp_path):
    """Changing, adding or deleting events at or after a cutoff never moves that snapshot's features."""
    rng = np.random.default_rng(7)
    events = _random_events(rng)
    cutoffs = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01")]
    base, plan, _ = snapshot(tiny_config, tmp_path, cutoffs=cutoffs, events_csv=events)
    features = [s.code for s in plan.specs]
    ts = pd.to_datetime(events["ts"]).dt.tz_localize(None)
    for cutoff in cutoffs:
        future = ts >= cutoff
        changed = events.copy()
        # change: move future events around (still in the future) and alter their values
        changed.loc[future, "amount"] = 999.0
        changed.loc[future, "kind"] = "purchase"
        # delete some future events, add new ones exactly at and after the cutoff
        drop = future & (rng.random(len(events)) < 0.3)
        changed = changed[~drop]
        added = pd.DataFrame(
            {
                "user": ["u001", "u002", "new"],
                "ts": [
                    cutoff.isoformat() + "Z",
                    (cutoff + pd.Timedelta(days=3)).isoformat() + "Z",
                    cutoff.isoformat() + "Z",
                ],
                "kind": ["page_view", "purchase", "purchase"],
                "amount": [5.0, 7.0, 9.0],
                "sku": ["s99", "s1", "s2"],
            }
        )
        changed = pd.concat([changed, added], ignore_index=True)
        again, _, _ = snapshot(
            tiny_config, tmp_path, cutoffs=[cutoff], events_csv=changed, plan=plan
        )
        expected = base[base["cutoff"] == pd.Timestamp(cutoff, tz="UTC")]
        assert sorted(again.index) == sorted(expected.index)
        pd.testing.assert_frame_equal(
            again.loc[expected.index, features], expected[features], check_exact=False, rtol=1e-12
        )


def test_condition_operators(tmp_path, tiny_config):
    out = tmp_path / "ops"
    ingest_quality(tiny_config, out)
    events = events_table(duckdb_connection(), out / "events.parquet")

    def count(field, op, value=None):
        expr = condition_expr(events, Condition(field=field, op=op, value=value))
        return int(events.filter(expr).count().to_pyarrow().as_py())

    assert count("event_type", "==", "purchase") == 4
    assert count("event_type", "!=", "purchase") == 4
    assert count("amount", ">", 25) == 2
    assert count("amount", ">=", 25) == 3
    assert count("amount", "<", 25) == 1
    assert count("amount", "<=", 25) == 2
    assert count("sku", "in", ["sku1", "sku3"]) == 5
    assert count("sku", "not_in", ["sku1"]) == 4
    assert count("amount", "exists") == 4
    assert count("amount", "not_exists") == 4
    assert count("event_type", "contains", "view") == 4
    assert count("sku", "starts_with", "sku") == 8
    assert count("timestamp", ">=", "2024-03-01") == 3
    with pytest.raises(
        ConfigError, match="unknown field 'nope'; available fields: amount, event_type"
    ):
        count("nope", "==", 1)
    with pytest.raises(ConfigError, match="does not fit field 'amount'"):
        count("amount", ">", "lots")


def test_cutoff_plan_rolling_origins_on_a_dense_grid(tiny_config):
    """Origins a step apart, training cutoffs every 14 days; no fold trains on a label window
    that reaches its origin, and every labelled cutoff is complete by as_of (the refit's)."""
    cfg = tiny_config.model_copy(deep=True)
    cfg.goal.window_days = 90
    cfg.training.snapshots = 6
    cfg.training.step_days = 30
    plan = plan_cutoffs(cfg, "1998-03-01")
    assert [o.date().isoformat() for o in plan.origins] == [
        "1997-12-01",
        "1997-11-01",
        "1997-10-02",
    ]
    assert plan.validation == pd.Timestamp("1997-12-01")
    window = pd.Timedelta(days=90)
    grid = [c for c in plan.training]
    assert all((b - a).days == 14 for a, b in zip(grid, grid[1:], strict=False))
    # back two windows and two cutoffs before the oldest origin (its own hold-out needs them)
    assert min(plan.labelled) == pd.Timestamp("1997-03-10")
    for origin in plan.origins:
        train = plan.fold_training(origin)
        assert len(train) >= 7 and all(c + window <= origin for c in train)
        assert plan.role(origin) == "validation"
    assert max(plan.fold_training(plan.origins[0])) == pd.Timestamp("1997-08-25")
    assert all(c + window <= plan.as_of for c in plan.labelled)
    assert plan.role("1997-11-17") == "training" and plan.role("1998-03-01") == "scoring"
    with pytest.raises(ConfigError, match="no training cutoff fits"):
        plan_cutoffs(cfg, "1998-03-01", first_event="1997-10-01")
    late = plan_cutoffs(cfg, "1998-03-01", first_event="1997-05-01")
    assert [o.date().isoformat() for o in late.origins] == [
        "1997-12-01",
        "1997-11-01",
        "1997-10-02",
    ]
    later = plan_cutoffs(cfg, "1998-03-01", first_event="1997-07-20")
    assert [o.date().isoformat() for o in later.origins] == ["1997-12-01", "1997-11-01"]


def test_goal_counts_agree_with_snapshots(tiny_config, tmp_path):
    rng = np.random.default_rng(3)
    events = _random_events(rng)
    cutoffs = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01")]
    snap, _, ev = snapshot(tiny_config, tmp_path, cutoffs=cutoffs, events_csv=events)
    counts = goal_counts(ev, tiny_config, cutoffs).set_index("cutoff")
    for cutoff in cutoffs:
        rows = snap[snap["cutoff"] == pd.Timestamp(cutoff, tz="UTC")]
        assert counts.loc[cutoff, "eligible"] == len(rows)
        assert counts.loc[cutoff, "positives"] == rows["label"].sum()


def test_profiles_and_personal_data_exclusion(tmp_path, tiny_events):
    tiny_events.to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "tier": ["gold", "silver", "gold"],
            "age": [30, None, 50],
            "email": ["x@y.z", "q@r.s", "t@u.v"],
            "signup": pd.to_datetime(["2023-01-01", "2024-02-01", "2024-01-01"]),
        }
    ).to_parquet(tmp_path / "profiles.parquet")
    cfg = load_config(
        write_config(
            tmp_path,
            {
                "events": {
                    "path": "events.csv",
                    "columns": {"profile_id": "user", "timestamp": "ts", "event_type": "kind"},
                },
                "profiles": {"path": "profiles.parquet", "columns": {"profile_id": "id"}},
                "goal": {
                    "conditions": [{"field": "event_type", "value": "purchase"}],
                    "window_days": 30,
                },
                "features": {"lookback_days": 90, "exclude": ["sku"]},
            },
        )
    )
    out = tmp_path / "o"
    ingest_quality(cfg, out)
    con = duckdb_connection()
    events = events_table(con, out / "events.parquet")
    profiles = con.read_parquet(str(out / "profiles.parquet"))
    plan = plan_features(events, cfg, profiles, before=CUTOFF)
    codes = {s.code: s for s in plan.specs}
    assert "profile_tier" in codes and codes["profile_tier"].kind == "categorical"
    assert "profile_age" in codes and "profile_days_since_signup" in codes
    assert not any("email" in c for c in codes) and not any("sku" in c for c in codes)
    assert any("email" in n and "personal data" in n for n in plan.notices)
    snap, _ = build_snapshots(events, cfg, [CUTOFF], plan, profiles)
    snap = snap.set_index("profile_id")
    assert snap.loc["a", "profile_tier"] == "gold" and str(snap["profile_tier"].dtype) == "category"
    assert np.isnan(snap.loc["b", "profile_age"])
    assert snap.loc["b", "profile_days_since_signup"] == 29  # 2024-02-01 -> 2024-03-01


def test_numeric_identifiers_are_counted_not_summed(tmp_path):
    events = pd.DataFrame(
        {
            "profile_id": ["a", "a", "a", "b", "b", "b"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-02",
                    "2024-01-03",
                    "2024-01-04",
                    "2024-01-04",
                    "2024-01-04",
                ],
                utc=True,
            ),
            "event_type": "view",
            "product_id": [1001, 1001, 1002, 1001, 1002, 1002],
            "price": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    events.to_parquet(tmp_path / "e.parquet")
    cfg = load_config(
        write_config(
            tmp_path,
            {
                "events": {"path": "e.parquet"},
                "goal": {
                    "conditions": [{"field": "event_type", "value": "view"}],
                    "window_days": 30,
                },
            },
        )
    )
    ingest_quality(cfg, tmp_path / "o")
    ev = events_table(duckdb_connection(), tmp_path / "o" / "events.parquet")
    plan = plan_features(ev, cfg)
    assert plan.id_fields == ["product_id"] and plan.numeric_fields == ["price"]
    snap, _ = build_snapshots(ev, cfg, [pd.Timestamp("2024-01-05")], plan)
    assert snap.set_index("profile_id").loc["a", "product_id_distinct_365d"] == 2


def test_sampling_keeps_validation_whole_and_is_deterministic(tiny_config, tmp_path):
    rng = np.random.default_rng(11)
    events = _random_events(rng, n_profiles=400, n_events=6000)
    cutoffs = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-01")]
    full, plan, ev = snapshot(tiny_config, tmp_path, cutoffs=cutoffs, events_csv=events)
    validation = pd.Timestamp("2024-05-01", tz="UTC")
    training_rows = int((full["cutoff"] != validation).sum())
    unknown = TrainingSample(max_rows=training_rows // 2, exempt_cutoff=cutoffs[-1], seed=3)
    known = TrainingSample(
        training_rows // 2, rows=training_rows, exempt_cutoff=cutoffs[-1], seed=3
    )
    a, _ = build_snapshots(ev, tiny_config, cutoffs, plan, sample=unknown)
    b, _ = build_snapshots(ev, tiny_config, cutoffs, plan, sample=known)
    pd.testing.assert_frame_equal(a, b)  # a known row count gives the same sample
    assert (a["cutoff"] == validation).sum() == (full["cutoff"] == validation).sum()
    kept = int((a["cutoff"] != validation).sum())
    assert 0.35 * training_rows < kept < 0.65 * training_rows
    merged = a.merge(full, on=["profile_id", "cutoff"], suffixes=("", "_full"))
    assert len(merged) == len(a) and (merged["label"] == merged["label_full"]).all()


def test_sampling_before_aggregation_selects_what_filtering_after_would(tiny_config, tmp_path):
    """The training sample is applied to event rows before the group-by (a sampled-out profile
    costs nothing); the rows and every feature value must be those of filtering the result."""
    from workbench.snapshots import finish_frame, snapshot_expr
    from workbench.training_sample import sample_predicate

    rng = np.random.default_rng(5)
    events = _random_events(rng, n_profiles=500, n_events=8000)
    cutoffs = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-01")]
    full, plan, ev = snapshot(tiny_config, tmp_path, cutoffs=cutoffs, events_csv=events)
    training_rows = int((full["cutoff"] != pd.Timestamp("2024-05-01", tz="UTC")).sum())
    sample = TrainingSample(training_rows // 3, training_rows, cutoffs[-1], seed=9)
    sampled, _ = build_snapshots(ev, tiny_config, cutoffs, plan, sample=sample)
    expr = snapshot_expr(ev, tiny_config, cutoffs, plan)
    keep = sample_predicate((training_rows // 3) / training_rows, 1714521600, 9)  # 2024-05-01
    after = finish_frame(expr.filter(keep(expr)).to_pandas(), plan)
    pd.testing.assert_frame_equal(sampled, after)
    assert 0 < len(sampled) < len(full)
    merged = sampled.merge(full, on=["profile_id", "cutoff"], suffixes=("", "_full"))
    assert len(merged) == len(sampled)
    for code in [s.code for s in plan.specs] + ["label"]:
        pd.testing.assert_series_equal(
            merged[code], merged[f"{code}_full"], check_names=False, check_dtype=False
        )


# -------------------------------------------------- reference: one wide conditional aggregate
def _wide_reference(events, config, cutoffs, plan):
    """The snapshot features as the direct conditional aggregates over every event row (the
    original single-aggregation formulation), to check the two-stage one against."""
    from workbench.column_names import slug
    from workbench.conditions import conditions_expr
    from workbench.features import event_codes
    from workbench.goals import (
        DAY,
        cutoff_table,
        eligibility_aggregates,
        eligible_filter,
        with_seconds,
    )
    from workbench.snapshots import finish_frame

    ev = with_seconds(events)
    cuts = cutoff_table(cutoffs)
    joined = ev.join(cuts, ev._t < cuts.cutoff_s)
    L = plan.lookback_days
    age = joined.cutoff_s - joined._t
    in_window = {w: age <= w * DAY for w in set(plan.windows) | {30, 90, L}}
    kinds = [joined.event_type == t for t in plan.event_types]
    kinds += [conditions_expr(joined, ce.conditions, ce.match) for ce in plan.custom_events]
    aggs = {}
    for (prefix, _, _), is_kind in zip(event_codes(plan), kinds, strict=True):
        for w in plan.windows:
            aggs[f"{prefix}_count_{w}d"] = joined.count(where=is_kind & in_window[w])
        aggs[f"{prefix}_count_ever"] = joined.count(where=is_kind)
        aggs[f"{prefix}_days_since_last"] = age.min(where=is_kind) / DAY
        aggs[f"{prefix}_days_since_first"] = age.max(where=is_kind) / DAY
    for f in plan.numeric_fields:
        value = joined[f].cast("float64")
        for w in sorted({30, L}):
            aggs[f"{slug(f)}_sum_{w}d"] = value.sum(where=in_window[w])
            aggs[f"{slug(f)}_mean_{w}d"] = value.mean(where=in_window[w])
        aggs[f"{slug(f)}_sum_ever"] = value.sum()
        aggs[f"{slug(f)}_mean_ever"] = value.mean()
    for f in plan.id_fields:
        aggs[f"{slug(f)}_distinct_{L}d"] = joined[f].nunique(where=in_window[L])
    aggs["events_count_30d"] = joined.count(where=in_window[30])
    aggs[f"events_count_{L}d"] = joined.count(where=in_window[L])
    aggs["events_count_ever"] = joined.count()
    aggs["_events_prev60d"] = joined.count(where=(age > 30 * DAY) & in_window[90])
    aggs[f"active_days_{L}d"] = (joined._t // DAY).nunique(where=in_window[L])
    aggs[RECENCY_FEATURE] = age.min() / DAY
    aggs["days_since_first_event"] = age.max() / DAY
    aggs.update(eligibility_aggregates(joined, config))
    grouped = joined.group_by(["profile_id", "cutoff_s"]).aggregate(**aggs)
    table = grouped.filter(eligible_filter(grouped))
    table = table.mutate(
        trend_30d_vs_prev60d=(table.events_count_30d + 1) / (table._events_prev60d / 2.0 + 1)
    )
    frame = table.to_pandas()
    frame = frame.merge(_timing_reference(events, plan, cutoffs), on=["profile_id", "cutoff_s"])
    cols = ["profile_id", "cutoff_s"] + [s.code for s in plan.specs]
    return finish_frame(frame[cols], plan, with_label=False)


def _timing_reference(events, plan, cutoffs) -> pd.DataFrame:
    """The goal event's timing features by hand, in pandas: for each profile and cutoff, the
    distinct days it happened on before the cutoff and the gaps between them."""
    from workbench.conditions import conditions_expr

    seconds = events.timestamp.epoch_seconds().cast("int64")
    ev = events.filter(conditions_expr(events, plan.goal_conditions, plan.goal_match))
    hits = ev.select("profile_id", t=ev.timestamp.epoch_seconds().cast("int64")).to_pandas()
    everyone = events.select("profile_id", t=seconds).to_pandas()
    p, L = plan.goal_prefix, plan.lookback_days
    short = max(w for w in plan.windows if w < L)
    rows = []
    for cutoff in cutoffs:
        c = int(pd.Timestamp(cutoff, tz="UTC").timestamp())
        first = everyone[everyone["t"] < c].groupby("profile_id")["t"].min()
        for pid in first.index:
            t = hits.loc[(hits["profile_id"] == pid) & (hits["t"] < c), "t"].to_numpy()
            d = np.unique(t // 86_400)
            gaps = np.diff(d).astype(float)
            tenure = (c - first[pid]) / 86_400
            age = (c - t) / 86_400
            recent, in_l = (age <= short).sum(), (age <= L).sum()
            mean = gaps.mean() if len(gaps) else np.nan
            cv = (gaps.std() / mean if mean > 0 else 0.0) if len(gaps) >= 2 else np.nan
            last = age.min() if len(age) else np.nan
            rows.append(
                {
                    "profile_id": pid,
                    "cutoff_s": c,
                    f"{p}_days_ever": float(len(d)),
                    f"{p}_rate_30d": 30.0 * len(d) / max(tenure, 30.0),
                    f"{p}_gap_mean": mean,
                    f"{p}_gap_last": gaps[-1] if len(gaps) else np.nan,
                    f"{p}_gap_cv": cv,
                    f"{p}_overdue": last / mean if mean > 0 else np.nan,
                    f"{p}_trend": (recent + 1.0) / ((in_l - recent) * short / (L - short) + 1.0),
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "eligibility": {
                "active_within_days": 45,
                "conditions": [{"field": "event_type", "op": "in", "value": ["cart", "purchase"]}],
            },
            "custom_events": [
                {"name": "Big order", "conditions": [{"field": "amount", "op": ">=", "value": 50}]},
                {
                    "name": "Cheap or cart",
                    "match": "any",
                    "conditions": [
                        {"field": "amount", "op": "<", "value": 10},
                        {"field": "event_type", "value": "cart"},
                    ],
                },
            ],
        },
        {"eligibility": {"active_within_days": None}, "features": {"lookback_days": 60}},
        {"features": {"exclude": ["sku"]}},  # no ids: active days from first events of a day
    ],
    ids=["defaults", "custom-events-and-eligibility", "no-activity-rule", "no-ids"],
)
def test_two_stage_aggregation_equals_the_direct_aggregates(tiny_config, tmp_path, extra):
    from workbench.config import config_from_dict

    raw = tiny_config.to_yaml_dict()
    for key, value in extra.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    config = config_from_dict(raw)
    rng = np.random.default_rng(21)
    events = _random_events(rng, n_profiles=300, n_events=6000)
    cutoffs = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-20")]
    snap, plan, ev = snapshot(config, tmp_path, cutoffs=cutoffs, events_csv=events)
    assert plan.custom_events or "custom" not in extra
    assert bool(plan.id_fields) != ("exclude" in extra.get("features", {}))
    got = snap.reset_index().drop(columns="label")
    want = _wide_reference(ev, config, cutoffs, plan)
    assert len(got) > 100 and got["profile_id"].nunique() > 50
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)


def _perturb_future(events: pd.DataFrame, when: pd.Timestamp, rng) -> pd.DataFrame:
    """The events with everything at or after `when` changed: values and kinds altered, some
    deleted, new ones added exactly at `when` and after it."""
    ts = pd.to_datetime(events["ts"]).dt.tz_localize(None)
    future = ts >= when
    changed = events.copy()
    changed.loc[future, "amount"] = 999.0
    changed.loc[future, "kind"] = "purchase"
    changed = changed[~(future & (rng.random(len(events)) < 0.3))]
    added = pd.DataFrame(
        {
            "user": ["u001", "u002", "new"],
            "ts": [when.isoformat() + "Z", (when + pd.Timedelta(days=3)).isoformat() + "Z"] * 1
            + [when.isoformat() + "Z"],
            "kind": ["page_view", "purchase", "purchase"],
            "amount": [5.0, 7.0, 9.0],
            "sku": ["s99", "s1", "s2"],
        }
    )
    return pd.concat([changed, added], ignore_index=True)


def test_future_invariance_for_every_fold(tiny_config, tmp_path):
    """What each fold trains on (features and labels of every cutoff whose outcome window
    closes by its origin), and so each fold's models, never move when the events at or after
    its origin change, are added or deleted."""
    from workbench.goals import plan_cutoffs
    from workbench.modeling.folds import fit_fold

    cfg = tiny_config.model_copy(deep=True)
    cfg.training.fit_rows = 100_000  # no sampling: every row of every fold
    rng = np.random.default_rng(17)
    events = _random_events(rng, n_profiles=300, n_events=9000)
    cutoffs = plan_cutoffs(cfg, "2024-05-31", first_event="2024-01-01")
    assert len(cutoffs.origins) == 3
    base, plan, _ = snapshot(cfg, tmp_path, cutoffs=cutoffs.labelled, events_csv=events)
    base = base.reset_index()
    window = pd.Timedelta(days=cfg.goal.window_days)
    probe = base[base["cutoff"] == base["cutoff"].max()].reset_index(drop=True)
    names = ["logistic", "boosted", "recency_rule"]
    for origin in cutoffs.origins:
        changed = _perturb_future(events, origin, rng)
        again, _, _ = snapshot(
            cfg, tmp_path, cutoffs=cutoffs.labelled, events_csv=changed, plan=plan
        )
        again = again.reset_index()
        at = pd.Timestamp(origin, tz="UTC")
        pd.testing.assert_frame_equal(
            base[base["cutoff"] + window <= at], again[again["cutoff"] + window <= at]
        )
        one = fit_fold(base, at, names, plan.specs, cfg, blend=True)
        two = fit_fold(again, at, names, plan.specs, cfg, blend=True)
        assert one.rows == two.rows > 0
        for name in [*names, "blend"]:  # to the last bits BLAS may sum in another order
            np.testing.assert_allclose(
                one.models[name].raw_score(probe), two.models[name].raw_score(probe), atol=1e-12
            )


def test_sums_do_not_depend_on_the_order_the_engine_added_them_in(tiny_config, tmp_path):
    """A sum that differs in its last bits (another thread order) gives the same features: the
    sums rounded to 12 significant digits, the means rebuilt from them and the count."""
    import functools

    from workbench.stable_sums import round_significant, stabilise_sums

    _, plan, _ = snapshot(tiny_config, tmp_path)
    values = np.array([0.1, 0.2, 0.7, 19.99, 5.01, 1e-3])
    orders = [values, values[::-1], values[[2, 0, 4, 1, 5, 3]]]
    sums = [functools.reduce(lambda a, b: a + b, v.tolist()) for v in orders]  # left to right
    assert len(set(sums)) > 1  # floating-point addition is not associative
    frames = [
        pd.DataFrame({"amount_sum_90d": [s, 0.0, np.nan], "amount_mean_90d": [s / 6, 0.0, np.nan]})
        for s in sums
    ]
    for frame in frames:
        stabilise_sums(frame, plan)
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0], check_exact=True)
    assert frames[0]["amount_sum_90d"].iloc[0] == 26.001  # the double nearest the true sum
    assert frames[0]["amount_mean_90d"].iloc[0] == 26.001 / 6
    assert frames[0]["amount_mean_90d"].iloc[1] == 0.0
    assert np.isnan(frames[0]["amount_mean_90d"].iloc[2])
    assert round_significant(np.array([123.45000000000002, -0.0, 1e-300]))[0] == 123.45
