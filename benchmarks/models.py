"""Benchmark: the model comparison on synthetic snapshot frames of 100k and 1M training rows.

Each frame has 40 numeric features (counts, amounts, days, some missing) and 2 categorical
ones (5 and 60 levels), four training cutoffs plus one validation cutoff of the same size.
Prints fit and predict seconds per candidate and the whole `compare_models` time.

    .venv/bin/python benchmarks/models.py                 # 100k and 1M training rows
    .venv/bin/python benchmarks/models.py --rows 100000   # one size
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from workbench.config import config_from_dict
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling import compare_models

N_NUMERIC = 40
TRAINING_CUTOFFS = 4


def make_frame(training_rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[FeatureSpec]]:
    rng = np.random.default_rng(seed)
    per_cutoff = training_rows // TRAINING_CUTOFFS
    n = per_cutoff * (TRAINING_CUTOFFS + 1)
    cols: dict[str, np.ndarray] = {}
    specs = [FeatureSpec(RECENCY_FEATURE, "Days since the last event", unit="days")]
    days = rng.exponential(60, size=n)
    days[rng.random(n) < 0.05] = np.nan
    cols[RECENCY_FEATURE] = days
    for j in range(N_NUMERIC - 1):
        kind = j % 3
        if kind == 0:
            v = rng.poisson(1 + j % 5, size=n).astype(float)
        elif kind == 1:
            v = rng.gamma(2.0, 20.0, size=n)
        else:
            v = rng.normal(size=n)
        if j % 7 == 0:
            v[rng.random(n) < 0.2] = np.nan
        code = f"f{j:02d}"
        cols[code] = v
        specs.append(FeatureSpec(code, f"Feature {j}"))
    channel = rng.choice(np.array(["web", "app", "store", "call", "partner"]), size=n)
    region = rng.integers(0, 60, size=n)
    cols["channel"] = pd.Categorical(channel)
    cols["region"] = pd.Categorical([f"r{r:02d}" for r in region])
    specs += [
        FeatureSpec("channel", "Channel", "categorical"),
        FeatureSpec("region", "Region", "categorical"),
    ]
    d = np.nan_to_num(days, nan=400.0)
    logit = (
        -2.0
        - 0.012 * d
        + 0.25 * np.log1p(np.nan_to_num(cols["f00"]))
        + 0.4 * np.nan_to_num(cols["f02"])
        + 0.8 * (np.abs(cols["f05"]) < 0.5)
        + 0.3 * (channel == "app")
        + 0.01 * (region % 7)
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    cutoff = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.repeat(np.arange(TRAINING_CUTOFFS + 1) * 30, per_cutoff), unit="D"
    )
    frame = pd.DataFrame(
        {
            "profile_id": np.tile(np.arange(per_cutoff), TRAINING_CUTOFFS + 1).astype(str),
            "cutoff": cutoff,
            **cols,
            "label": label,
        }
    )
    return frame, specs


def run(training_rows: int) -> dict:
    frame, specs = make_frame(training_rows)
    config = config_from_dict(
        {
            "events": {"path": "events.csv"},
            "goal": {
                "conditions": [{"field": "event_type", "value": "purchase"}],
                "window_days": 30,
            },
            "training": {"max_rows": max(training_rows, 1000)},
        }
    )
    t0 = time.perf_counter()
    comparison = compare_models(frame, specs, config)
    total = time.perf_counter() - t0
    board = comparison.leaderboard
    print(
        f"\n== {training_rows:,} training rows, {len(specs)} features ({os.cpu_count()} cores) =="
    )
    print(board[["roc_auc", "ece", "fit_seconds", "predict_seconds"]].round(3).to_string())
    print(
        f"rounds (boosted): {comparison.candidates['boosted'].state_['rounds']}; "
        f"champion: {comparison.champion}; whole comparison: {total:.1f} s"
    )
    return {
        "rows": training_rows,
        "total_seconds": total,
        **{f"{m}_fit": board.loc[m, "fit_seconds"] for m in board.index},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    for rows in args.rows:
        run(rows)


if __name__ == "__main__":
    main()
