"""Rolling-origin, out-of-time folds: each candidate trained as the final model will be, and
judged on a snapshot its training never saw the outcome of.

Fold k's origin is the newest cutoff minus k * `training.step_days`; it trains on every cutoff
whose outcome window closes by its origin (no training label reaches into the period it is
judged on), sampled to `training.fit_rows` rows, with the same inner hold-out as the final
fit; it is judged on every profile at the origin. The final model's first stage is fold 0's
model: it trains on exactly those cutoffs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import NotReadyError
from workbench.modeling.base import (
    PropensityModel,
    _inner_holdout,
    _labels,
    _require_both_classes,
)
from workbench.modeling.blend import BlendPropensity
from workbench.modeling.calibration import CALIBRATIONS, apply_calibrator
from workbench.modeling.candidates import CANDIDATES
from workbench.modeling.metrics import probability_metrics, score_metrics

FOLD_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile")


@dataclass
class Fold:
    """One origin: its training rows, every candidate fitted on them, their raw scores there."""

    origin: pd.Timestamp
    train_cutoffs: list[pd.Timestamp]
    rows: int  # training rows the models fitted on (after sampling)
    rows_available: int
    positives: int
    validation: pd.DataFrame  # profile_id, cutoff, label at the origin
    models: dict[str, PropensityModel] = field(default_factory=dict)
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # raw scores at the origin
    seconds: dict[str, float] = field(default_factory=dict)  # fitting each candidate
    predict_seconds: dict[str, float] = field(default_factory=dict)  # scoring the origin

    @property
    def label(self) -> np.ndarray:
        return _labels(self.validation["label"]).astype(int)

    def probability(self, name: str, method: str) -> np.ndarray:
        return apply_calibrator(self.models[name].calibrators_.get(method), self.raw[name])


def fold_origins(snapshots: pd.DataFrame, config) -> list[pd.Timestamp]:
    """The validation origins present in the snapshots, newest first: the newest cutoff, then
    one every `training.step_days` before it, each with a training cutoff before it."""
    cutoffs = sorted(pd.Timestamp(c) for c in pd.Series(snapshots["cutoff"]).dropna().unique())
    window = pd.Timedelta(days=config.goal.window_days)
    step = pd.Timedelta(days=config.training.step_days)
    have = set(cutoffs)
    origins = [cutoffs[-1] - k * step for k in range(config.training.validation_folds)]
    return [o for o in origins if o in have and any(c + window <= o for c in cutoffs)]


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> tuple[pd.DataFrame, bool]:
    """Stratified sample by (cutoff, label), proportional, reproducible with `seed`."""
    if len(frame) <= max_rows:
        return frame, False
    frac = max_rows / len(frame)
    rng = np.random.default_rng(seed)
    keep = []
    for _, idx in sorted(frame.groupby(["cutoff", "label"], observed=True).indices.items()):
        k = max(1, int(round(frac * len(idx))))
        keep.append(np.sort(rng.choice(idx, size=min(k, len(idx)), replace=False)))
    return frame.iloc[np.sort(np.concatenate(keep))], True


def candidate_params(name: str, config) -> dict[str, Any]:
    """A candidate's constructor arguments from the config: the goal's direction, the outcome
    window (the inner hold-out's gap) and the `models` section."""
    common = {
        "seed": config.training.seed,
        "direction": 1 if config.goal.outcome == "occurs" else -1,
        "window_days": config.goal.window_days,
    }
    if name == "boosted":
        return {**common, "monotone": config.models.monotone}
    if name == "blend":
        return {**common, "boosted": {"monotone": config.models.monotone}}
    return common


def fit_fold(
    snapshots: pd.DataFrame,
    origin,
    names: list[str],
    specs,
    config,
    blend: bool,
    required: bool = True,
) -> Fold:
    """Fit every candidate on the cutoffs whose outcome window closes by `origin` and score the
    profiles at `origin`; NotReadyError when either side has one outcome only, or (unless
    `required`, the newest fold) when the history before it leaves no out-of-time hold-out."""
    window = pd.Timedelta(days=config.goal.window_days)
    cut = pd.to_datetime(snapshots["cutoff"])
    validation = snapshots.loc[(cut == origin).to_numpy()].reset_index(drop=True)
    available = snapshots.loc[(cut + window <= origin).to_numpy()]
    _require_both_classes(_labels(available["label"]), "training snapshots")
    _require_both_classes(_labels(validation["label"]), "validation snapshot")
    train, _ = sample_rows(available, config.training.fit_rows, config.training.seed)
    train = train.reset_index(drop=True)
    y = _labels(train["label"])
    how = _inner_holdout(y, train["cutoff"], config.training.seed, config.goal.window_days)[1]
    if not required and (not how.startswith("latest training cutoff") or "without" in how):
        # an older fold without an out-of-time hold-out would not be judged like the others
        raise NotReadyError(["too little history before it for an out-of-time hold-out"])
    ids = [c for c in ("profile_id", "cutoff", "label") if c in validation]
    fold = Fold(
        origin=pd.Timestamp(origin),
        train_cutoffs=sorted(pd.Timestamp(c) for c in train["cutoff"].unique()),
        rows=len(train),
        rows_available=len(available),
        positives=int(y.sum()),
        validation=validation[ids],
    )
    codes = [s.code for s in specs]
    for name in names:
        model = CANDIDATES[name](list(specs), **candidate_params(name, config))
        started = time.perf_counter()
        model.fit(train[codes], y, train["cutoff"])
        fold.seconds[name] = time.perf_counter() - started
        fold.models[name] = model
        started = time.perf_counter()
        fold.raw[name] = model.raw_score(validation)
        fold.predict_seconds[name] = time.perf_counter() - started
    if blend:
        started = time.perf_counter()
        parts_names = ("logistic", "boosted")
        parts = tuple(fold.models[n] for n in parts_names)
        blended = BlendPropensity.from_parts(*parts, **candidate_params("blend", config))
        fold.models["blend"] = blended
        fold.raw["blend"] = blended.blend_scores(fold.raw["logistic"], fold.raw["boosted"])
        extra = time.perf_counter() - started
        fold.seconds["blend"] = fold.seconds["logistic"] + fold.seconds["boosted"] + extra
        fold.predict_seconds["blend"] = sum(fold.predict_seconds[n] for n in parts_names)
    return fold


def fold_metrics(fold: Fold, name: str) -> dict[str, dict[str, float]]:
    """Per calibration method, the candidate's metrics at the fold's origin (a calibrator is a
    monotone map: the ranking metrics are those of the raw scores)."""
    y = fold.label
    ranking = score_metrics(y, fold.probability(name, "none"))
    return {
        m: {**ranking, **probability_metrics(y, fold.probability(name, m))} for m in CALIBRATIONS
    }
