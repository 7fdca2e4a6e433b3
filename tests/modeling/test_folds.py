"""The rolling-origin folds, the screen and the models' manners on hand-made frames whose right
answer is known: folds out of time, a lapsed state unseen in training, collinear features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REPO  # noqa: F401  (the tests' path setup)

from workbench.config import config_from_dict
from workbench.factor_groups import grouped_factors
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling import LogisticPropensity, compare_models, refit_champion
from workbench.modeling import folds as folds_module

WINDOW = 30
# a purchase log's features: the goal event's frequency (+1) and recency (-1), and a neutral one
SPECS = [
    FeatureSpec("purchases_90d", "Purchases in the last 90 days", unit="purchases",
                group="Purchase frequency", direction=1, phrase="{} in the last 90 days"),
    FeatureSpec("purchases_ever", "Purchases ever", unit="purchases",
                group="Purchase frequency", direction=1, phrase="{} ever"),
    FeatureSpec("dollars_ever", "Dollars ever", unit="$", group="Dollar value"),
    FeatureSpec(RECENCY_FEATURE, "Days since last event", unit="days",
                group="Recency of purchase", direction=-1, phrase="{} since the last purchase"),
]  # fmt: skip
CODES = [s.code for s in SPECS]


def config(**training):
    raw = {
        "events": {"path": "events.csv"},
        "goal": {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30},
        "scoring": {"as_of": "2024-09-01"},
        "training": {"step_days": 30, "cutoff_every_days": 14, **training},
    }
    return config_from_dict(raw)


def purchase_log(n=3000, seed=0, max_recency=100.0) -> pd.DataFrame:
    """Snapshots at the cutoffs `plan_cutoffs` places (origins a month apart, training cutoffs
    every 14 days): more purchases and a recent one make a purchase likelier; every training
    profile bought within `max_recency` days."""
    from workbench.goals import plan_cutoffs

    rng = np.random.default_rng(seed)
    frames = []
    for cutoff in plan_cutoffs(config(), "2024-09-01").labelled:
        recency = rng.uniform(1, max_recency, n)
        ever = rng.poisson(2, n) + 1.0
        recent = np.minimum(ever, rng.poisson(1, n))
        dollars = ever * rng.gamma(4, 10, n)
        logit = -1.0 + 0.5 * np.log1p(ever) + 0.3 * recent - 0.02 * recency
        frames.append(
            pd.DataFrame(
                {
                    "profile_id": [f"p{i:05d}" for i in range(n)],
                    "cutoff": pd.Timestamp(cutoff, tz="UTC"),
                    "purchases_90d": recent,
                    "purchases_ever": ever,
                    "dollars_ever": dollars,
                    RECENCY_FEATURE: recency,
                    "label": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_folds_never_train_on_a_label_window_that_reaches_their_origin(monkeypatch):
    seen: list[tuple[pd.Timestamp, list]] = []
    original = folds_module.fit_fold

    def spy(snapshots, origin, *args, **kwargs):
        fold = original(snapshots, origin, *args, **kwargs)
        seen.append((pd.Timestamp(origin), list(fold.train_cutoffs)))
        return fold

    monkeypatch.setattr("workbench.modeling.selection.fit_fold", spy)
    snaps = purchase_log(n=1500)
    c = compare_models(snaps, SPECS, config(validation_folds=3))
    newest = snaps["cutoff"].max()
    assert [o for o, _ in seen] == [newest - pd.Timedelta(days=30 * k) for k in range(3)]
    for origin, train in seen:
        assert train and all(t + pd.Timedelta(days=WINDOW) <= origin for t in train)
        assert max(train) + pd.Timedelta(days=WINDOW + 14) > origin  # and every such cutoff
    folds = c.metrics["folds"]
    assert [f["origin"] for f in folds] == [o.date().isoformat() for o, _ in seen]
    # the champion is chosen on the fold mean, every fold is in metrics.json
    means = {k: v["roc_auc_fold_mean"] for k, v in c.metrics["models"].items()}
    assert means["logistic"] == pytest.approx(
        np.mean([f["models"]["logistic"]["roc_auc"] for f in folds])
    )


def test_a_lapsed_state_unseen_in_training_is_flagged_and_not_extrapolated():
    """Scoring meets profiles silent for 400 days while every training profile bought within
    100: the drift check names the feature, and neither the logistic model nor the champion
    scores them below what the oldest recency seen in training gets."""
    snaps = purchase_log(n=2000, seed=3)
    scoring = snaps[snaps["cutoff"] == snaps["cutoff"].max()].drop(columns="label").copy()
    lapsed = np.arange(len(scoring)) % 5 < 2  # 40% lapsed
    scoring.loc[lapsed, RECENCY_FEATURE] = 400.0
    scoring.loc[lapsed, "purchases_90d"] = 0.0
    c = compare_models(snaps, SPECS, config(), scoring=scoring)
    drift = c.metrics["features"]["drift"]
    assert drift[RECENCY_FEATURE]["outside"] == pytest.approx(0.4, abs=1e-9)
    assert drift[RECENCY_FEATURE]["psi"] > 0.25  # a shift by any usual reading of the PSI
    assert RECENCY_FEATURE in c.metrics["features"]["flagged"]  # named, yet kept (clipped)
    assert RECENCY_FEATURE in c.metrics["features"]["used"]
    assert c.metrics["quality"]["unlike_training"] is True
    assert any(m.startswith("unlike training") for m in c.metrics["quality"]["messages"])
    at_edge = scoring.copy()
    at_edge.loc[lapsed, RECENCY_FEATURE] = snaps[RECENCY_FEATURE].max()
    for name in ("logistic", c.champion):
        c.champion = name
        model = refit_champion(c, snaps, SPECS, config())
        p_lapsed = model.propensity(scoring)[lapsed]
        p_edge = model.propensity(at_edge)[lapsed]
        np.testing.assert_allclose(p_lapsed, p_edge, rtol=1e-9)  # held at the range's edge
        assert p_lapsed.min() > 0.2 * model.propensity(snaps).min()


def test_collinear_features_keep_sane_factor_signs():
    """Purchases ever, dollars ever and purchases in 90 days move together; the logistic model
    must not say more purchases lower a purchase propensity, and no factor may either."""
    rng = np.random.default_rng(5)
    n = 20_000
    ever = rng.poisson(3, n) + 1.0
    frame = pd.DataFrame(
        {
            "purchases_ever": ever,
            "purchases_90d": np.minimum(ever, rng.poisson(0.3 * ever)),
            "dollars_ever": ever * 30 + rng.normal(0, 3, n),  # nearly a copy of purchases
            RECENCY_FEATURE: rng.uniform(1, 200, n),
        }
    )
    logit = -2 + 0.9 * np.log1p(frame["dollars_ever"]) - 0.01 * frame[RECENCY_FEATURE]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cut = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 4 * 30, "D"))
    model = LogisticPropensity(SPECS, window_days=WINDOW).fit(frame[CODES], y, cut)
    coef = {c["feature"]: c["coef"] for c in model.state_["columns"] if c["type"] == "numeric"}
    # without the check purchases_90d gets a negative coefficient here (its collinear partners
    # carry the effect); with it, it is left out and the model says so
    assert "purchases_90d" not in coef
    assert any("'purchases_90d' left out" in note for note in model.notes_)
    for spec in SPECS:
        if spec.code in coef and spec.direction:
            assert coef[spec.code] * spec.direction > 0, (spec.code, coef[spec.code])
    factors, guard = grouped_factors(model.contributions(frame), frame, SPECS, ranges=model.ranges_)
    typical = {code: r[2] for code, r in model.ranges_.items()}
    for text in factors["factors_json"]:
        for entry in json.loads(text):
            spec = next(s for s in SPECS if s.code == entry["code"])
            if spec.direction:  # more activity than typical raises, less lowers; never the reverse
                more = spec.direction * (entry["value"] - typical[spec.code])
                assert (entry["direction"] == "raises") == (more > 0), entry
    assert factors["factor_1"].notna().mean() > 0.5  # the rule leaves most profiles a factor
