"""Benchmark: score 1M profiles x ~60 features with a real LightGBM model, factors included.

Times `workbench.scoring.score_profiles` end to end: calibrated probability, percentile, bucket,
exact TreeSHAP contributions (`workbench.modeling.treeshap`: LightGBM's `pred_contrib` once per distinct
split pattern of each tree) and the per-profile factor text + JSON. Target: under 60 seconds
on 2 cores. In the same run it also times LightGBM's direct `pred_contrib` over every row on the
same matrix and checks the two agree (`--no-direct` skips that).

    .venv/bin/python benchmarks/scoring.py                  # 1M profiles, 60 features
    .venv/bin/python benchmarks/scoring.py --profiles 100000 --rounds 100

The model is `workbench.modeling.BoostedPropensity` (2 threads) trained on a synthetic sample
with a fixed number of boosting rounds (`--rounds`, no early stopping) and `--leaves`, so the
model size, which drives TreeSHAP's cost (about trees x leaves x depth^2 per profile), is known.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

from workbench.config import config_from_dict
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.scoring import score_profiles

CHANNELS = ["email", "web", "store", "app", "call"]


def make_specs(n_features: int) -> list[FeatureSpec]:
    specs = [FeatureSpec(RECENCY_FEATURE, "Days since last event", unit="days", family="recency")]
    n_cat = 4
    n_money = 10
    n_count = n_features - 1 - n_cat - n_money
    specs += [
        FeatureSpec(f"events_{i}_30d", f"Events of type {i} in the last 30 days")
        for i in range(n_count)
    ]
    specs += [
        FeatureSpec(
            f"revenue_{i}_90d", f"Revenue from category {i} in the last 90 days", unit="USD"
        )
        for i in range(n_money)
    ]
    specs += [
        FeatureSpec(f"attr_{i}", f"Profile attribute {i}", kind="categorical", family="profile")
        for i in range(n_cat)
    ]
    return specs


def make_frame(n: int, specs: list[FeatureSpec], seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "profile_id": np.char.add("p", np.arange(n).astype(str)).astype(object)
    }
    logit = np.full(n, -2.0)
    for j, s in enumerate(specs):
        if s.kind == "categorical":
            codes = rng.integers(0, len(CHANNELS), n)
            cols[s.code] = pd.Categorical.from_codes(codes, CHANNELS)
            logit += 0.2 * (codes == j % len(CHANNELS))
        elif s.code == RECENCY_FEATURE:
            x = np.floor(rng.exponential(40, n))
            cols[s.code] = x
            logit -= 0.02 * x
        elif s.unit == "USD":
            x = np.round(rng.lognormal(3, 1, n) * (rng.random(n) < 0.3), 2)
            x[rng.random(n) < 0.05] = np.nan
            cols[s.code] = x
            logit += 0.003 * np.nan_to_num(x) * (j % 3 == 0)
        else:
            x = rng.poisson(0.5 + (j % 5), n).astype(float)
            cols[s.code] = x
            logit += (0.15 if j % 4 == 0 else 0.0) * x
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pd.DataFrame(cols), y


class _Timed:
    """Passes every call to the model, timing `propensity` and `contributions`."""

    def __init__(self, model):
        self._model = model
        self.seconds = {"propensity": 0.0, "contributions": 0.0}

    def __getattr__(self, name):
        return getattr(self._model, name)

    def _timed(self, name, X):
        t = time.perf_counter()
        out = getattr(self._model, name)(X)
        self.seconds[name] += time.perf_counter() - t
        return out

    def propensity(self, X):
        return self._timed("propensity", X)

    def contributions(self, X):
        return self._timed("contributions", X)


def train_model(
    specs, train: pd.DataFrame, y: np.ndarray, rounds: int, leaves: int, max_depth: int = -1
):
    from workbench.modeling import BoostedPropensity

    model = BoostedPropensity(
        specs,
        num_threads=2,
        max_rounds=rounds,
        early_stopping_rounds=rounds + 1,
        calibrate="always",
        params={"num_leaves": leaves, "max_depth": max_depth},
    )
    return model.fit(train[[s.code for s in specs]], y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=60)
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=100, help="boosting rounds (trees)")
    ap.add_argument("--leaves", type=int, default=15, help="LightGBM num_leaves")
    ap.add_argument("--max-depth", type=int, default=-1, help="LightGBM max_depth (-1: none)")
    ap.add_argument("--no-direct", action="store_true", help="skip the direct pred_contrib run")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    specs = make_specs(args.features)
    t0 = time.perf_counter()
    train, y = make_frame(args.train_rows, specs, seed=1)
    model = train_model(specs, train, y, args.rounds, args.leaves, args.max_depth)
    fit_s = time.perf_counter() - t0
    booster = model.state_["booster"]
    depths = booster.trees_to_dataframe().groupby("tree_index")["node_depth"].max()
    mean_depth = round(float(depths.mean()) - 1, 1)  # node_depth counts the root as 1

    snap, _ = make_frame(args.profiles, specs, seed=2)
    cfg = config_from_dict(
        {
            "events": {"path": "events.csv"},
            "goal": {
                "conditions": [{"field": "event_type", "value": "purchase"}],
                "window_days": 30,
            },
        }
    )
    timed = _Timed(model)
    t = time.perf_counter()
    scores = score_profiles(timed, snap, specs, cfg, dt.date(2024, 6, 1))
    total_s = time.perf_counter() - t
    proba_s, contrib_s = timed.seconds["propensity"], timed.seconds["contributions"]
    factors_s = total_s - proba_s - contrib_s

    assert len(scores) == args.profiles and scores["profile_id"].is_unique
    direct = {}
    if not args.no_direct:
        from workbench.modeling.treeshap import lightgbm_contributions

        M = model._matrix(snap, specs, model.state_["levels"])
        t = time.perf_counter()
        reference = booster.predict(M, pred_contrib=True, num_threads=2)
        direct_s = time.perf_counter() - t
        t = time.perf_counter()
        patterns = lightgbm_contributions(booster, M, num_threads=2)
        patterns_s = time.perf_counter() - t
        direct = {
            "direct_pred_contrib_seconds": round(direct_s, 1),
            "pattern_treeshap_seconds": round(patterns_s, 1),
            "direct_over_pattern_ratio": round(direct_s / patterns_s, 2),
            "max_abs_difference": float(np.abs(patterns - reference).max()),
        }
        del M, reference, patterns
    figures = {
        "profiles": args.profiles,
        "features": len(specs),
        "trees": booster.num_trees(),
        "num_leaves": args.leaves,
        "max_depth": args.max_depth,
        "mean_tree_depth": mean_depth,
        "threads": 2,
        "cpus_visible": os.cpu_count(),
        "train_seconds": round(fit_s, 1),
        "predict_proba_seconds": round(proba_s, 1),
        "contributions_seconds": round(contrib_s, 1),
        "contributions_us_per_row_tree": round(
            1e6 * contrib_s / args.profiles / booster.num_trees(), 2
        ),
        "factors_percentiles_assembly_seconds": round(factors_s, 1),
        "score_profiles_seconds": round(total_s, 1),
        **direct,
        "profiles_per_second": round(args.profiles / total_s),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(figures, indent=1))
    print(
        "example:",
        scores.loc[0, ["probability", "percentile", "bucket", "factor_1", "factor_down"]].to_dict(),
    )
    print(f"score_profiles: {total_s:.1f} s for {args.profiles:,} profiles (target < 60 s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)


if __name__ == "__main__":
    main()
