"""Out-of-time comparison of the candidates, the champion, and its refit on every snapshot.

`compare_models` fits every candidate on the training snapshots (every cutoff but the newest),
judges them on the validation snapshot (the newest cutoff) and picks a champion;
`refit_champion` refits the champion's kind on every snapshot for scoring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from workbench.errors import DataError, NotReadyError
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling.base import (
    PropensityModel,
    _apply_calibrator,
    _labels,
    _require_both_classes,
)
from workbench.modeling.candidates import CANDIDATES
from workbench.modeling.metrics import expected_calibration_error, score_metrics

TIE_MARGIN = 0.002  # within this validation AUC of the best, the logistic model is preferred

POOR_AUC = 0.65  # below this validation AUC the model is reported as poor quality

# With fewer validation positives, or a wider 95% AUC interval, the comparison is flagged uncertain.
MIN_RELIABLE_POSITIVES = 100

MAX_RELIABLE_AUC_INTERVAL = 0.10

POOR_REMEDIES = (
    "narrow the population (eligibility.active_within_days or eligibility.conditions), "
    "shorten the outcome window (goal.window_days), or add custom events that describe intent"
)


# --------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """What `compare_models` returns; `metrics` is the body of `metrics.json`."""

    leaderboard: pd.DataFrame
    candidates: dict[str, Any]
    champion: str
    validation_predictions: pd.DataFrame
    coefficients: pd.DataFrame
    importance: pd.DataFrame
    metrics: dict = field(default_factory=dict)


def choose_champion(roc_auc: dict[str, float], margin: float = TIE_MARGIN) -> str:
    """Best validation ROC AUC among logistic and boosted; within `margin` prefer logistic."""
    pool = {k: v for k, v in roc_auc.items() if k in ("logistic", "boosted") and np.isfinite(v)}
    if not pool:
        raise NotReadyError(["no model candidate could be judged on the validation snapshot"])
    best = max(pool, key=lambda k: (pool[k], k == "logistic"))
    if "logistic" in pool and pool["logistic"] >= pool[best] - margin:
        return "logistic"
    return best


def _check_snapshots(snapshots: pd.DataFrame, specs: list[FeatureSpec]) -> None:
    need = ["cutoff", "label"] + [s.code for s in specs]
    missing = [c for c in need if c not in snapshots.columns]
    if missing:
        raise DataError(f"snapshots: missing column(s) {missing}")
    if snapshots.empty:
        raise NotReadyError(["the snapshots have no rows: no profile is eligible at any cutoff"])


def _sample_training(train: pd.DataFrame, max_rows: int, seed: int) -> tuple[pd.DataFrame, bool]:
    """Stratified sample by (cutoff, label), proportional, reproducible with `seed`."""
    if len(train) <= max_rows:
        return train, False
    frac = max_rows / len(train)
    rng = np.random.default_rng(seed)
    keep = []
    for _, idx in sorted(train.groupby(["cutoff", "label"], observed=True).indices.items()):
        k = max(1, int(round(frac * len(idx))))
        keep.append(np.sort(rng.choice(idx, size=min(k, len(idx)), replace=False)))
    rows = np.sort(np.concatenate(keep))
    return train.iloc[rows], True


def _new_candidate(name: str, specs, config) -> PropensityModel:
    cls = CANDIDATES[name]
    return cls(list(specs), seed=config.training.seed)


LEADERBOARD_COLUMNS = [
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_top_decile",
    "fit_seconds",
    "predict_seconds",
    "beats_recency",
]


def compare_models(snapshots: pd.DataFrame, specs: list[FeatureSpec], config) -> Comparison:
    """Fit logistic, boosted and the recency rule on the training snapshots (every cutoff but
    the newest) and judge them on the validation snapshot (the newest cutoff)."""
    train_all, val = split_validation(snapshots, specs)
    train, sampled = _sample_training(train_all, config.training.max_rows, config.training.seed)
    train = train.reset_index(drop=True)
    names = ["logistic", "boosted"]
    notes: list[str] = []
    if RECENCY_FEATURE in snapshots.columns:
        names.append("recency_rule")
    else:
        notes.append(f"no '{RECENCY_FEATURE}' column: the recency baseline was skipped")
    judged = _fit_and_judge(names, train, val, specs, config)
    champion = choose_champion({k: v["roc_auc"] for k, v in judged.rows.items()})
    y_val = _labels(val["label"]).astype(int)
    quality = quality_flags(judged.rows, champion, judged.calibration, y_val)
    quality["messages"] += notes
    board = pd.DataFrame.from_dict(judged.rows, orient="index")[LEADERBOARD_COLUMNS]
    board.index.name = "model"
    board["beats_recency"] = board["beats_recency"].astype(bool)
    metrics = {
        "as_of": config.scoring.as_of.isoformat() if config.scoring.as_of else None,
        "goal": config.goal.model_dump(mode="json"),
        "champion": champion,
        "models": {
            k: {c: (bool(v) if c == "beats_recency" else float(v)) for c, v in row.items()}
            for k, row in judged.rows.items()
        },
        "validation": {
            "cutoff": _iso_day(val["cutoff"].iloc[0]),
            "profiles": int(len(val)),
            "positives": int(y_val.sum()),
        },
        "training": _training_record(train, train_all, sampled, config),
        "readiness": {},
        "quality": quality,
        "calibration": judged.calibration,
        "notes": {k: list(c.notes_) for k, c in judged.candidates.items()},
    }
    return Comparison(
        leaderboard=board,
        candidates=judged.candidates,
        champion=champion,
        validation_predictions=judged.predictions,
        coefficients=judged.candidates["logistic"].coefficient_table(),
        importance=judged.candidates["boosted"].importance_table(),
        metrics=metrics,
    )


def split_validation(snapshots: pd.DataFrame, specs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, validation rows): the newest cutoff validates out of time."""
    _check_snapshots(snapshots, specs)
    cutoffs = sorted(pd.Series(snapshots["cutoff"]).dropna().unique())
    if len(cutoffs) < 2:
        raise NotReadyError(
            [
                f"only {len(cutoffs)} cutoff in the snapshots; at least 2 are needed (training and "
                "validation): raise training.snapshots or give more history"
            ]
        )
    is_val = (snapshots["cutoff"] == cutoffs[-1]).to_numpy()
    train_all = snapshots.loc[~is_val]
    val = snapshots.loc[is_val].reset_index(drop=True)
    _require_both_classes(_labels(train_all["label"]), "training snapshots")
    _require_both_classes(_labels(val["label"]), "validation snapshot")
    return train_all, val


@dataclass
class _Judged:
    candidates: dict[str, PropensityModel]
    rows: dict[str, dict]  # metrics per candidate
    calibration: dict[str, dict]
    predictions: pd.DataFrame  # the validation rows' ids, label and each candidate's probability


def _fit_and_judge(names, train: pd.DataFrame, val: pd.DataFrame, specs, config) -> _Judged:
    """Fit each candidate on the training rows; its metrics on the validation rows."""
    codes = [s.code for s in specs]
    y_tr, y_val = _labels(train["label"]), _labels(val["label"]).astype(int)
    ids = [c for c in ("profile_id", "cutoff", "label") if c in val]
    judged = _Judged({}, {}, {}, val[ids].copy())
    for name in names:
        model = _new_candidate(name, specs, config)
        t0 = time.perf_counter()
        model.fit(train[codes], y_tr, train["cutoff"])
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        raw = model.raw_score(val)
        p = _apply_calibrator(model.calibrator_, raw)
        pred_s = time.perf_counter() - t0
        m = score_metrics(y_val, p)
        m.update({"fit_seconds": round(fit_s, 3), "predict_seconds": round(pred_s, 3)})
        judged.rows[name] = m
        judged.calibration[name] = {
            **model.calibration_,
            "validation_ece_raw": float(expected_calibration_error(y_val, expit(raw))),
            "validation_ece": m["ece"],
        }
        judged.predictions[name] = p
        judged.candidates[name] = model
    return judged


def quality_flags(rows: dict[str, dict], champion: str, calibration, y_val) -> dict[str, Any]:
    """`poor` (champion AUC below POOR_AUC), `uncertain` (few positives or a wide interval) and
    the messages an analyst reads first, including candidates that do not beat the recency rule."""
    messages: list[str] = []
    rec_auc = rows.get("recency_rule", {}).get("roc_auc", -np.inf)
    for name, m in rows.items():
        m["beats_recency"] = bool(name != "recency_rule" and m["roc_auc"] > rec_auc)
        if name != "recency_rule" and "recency_rule" in rows and not m["beats_recency"]:
            messages.append(
                f"{name}: validation ROC AUC {m['roc_auc']:.3f} does not beat the recency rule "
                f"({rec_auc:.3f})"
            )
    champ_auc = rows[champion]["roc_auc"]
    poor = bool(champ_auc < POOR_AUC)
    if poor:
        messages.insert(
            0,
            f"poor quality: the champion's validation ROC AUC is {champ_auc:.3f} (below "
            f"{POOR_AUC}); to improve it, {POOR_REMEDIES}",
        )
    ci_low, ci_high = rows[champion]["roc_auc_ci_low"], rows[champion]["roc_auc_ci_high"]
    positives = int(np.sum(y_val))
    uncertain = bool(
        positives < MIN_RELIABLE_POSITIVES
        or not np.isfinite(ci_low)
        or ci_high - ci_low > MAX_RELIABLE_AUC_INTERVAL
    )
    if uncertain:
        interval = (
            f"a 95% interval of {ci_low:.3f} to {ci_high:.3f}"
            if np.isfinite(ci_low)
            else "no usable interval"
        )
        messages.insert(
            int(poor),
            f"uncertain: with {positives} positives among {len(y_val)} validation "
            f"profiles the champion's ROC AUC {champ_auc:.3f} has {interval}; differences "
            "between models smaller than that are noise. More history, more snapshots "
            "(training.snapshots) or a longer goal window add positives",
        )
    if calibration[champion]["calibrated"]:
        messages.append(
            f"{champion}: probabilities were recalibrated on held-out training data "
            f"(validation ECE {calibration[champion]['validation_ece_raw']:.3f} raw, "
            f"{calibration[champion]['validation_ece']:.3f} calibrated)"
        )
    return {"poor": poor, "uncertain": uncertain, "messages": messages}


def _training_record(train, train_all, sampled: bool, config) -> dict[str, Any]:
    record = {
        "cutoffs": [_iso_day(c) for c in sorted(train_all["cutoff"].unique())],
        "rows": int(len(train)),
        "positives": int(_labels(train["label"]).sum()),
        "rows_available": int(len(train_all)),
        "sampled": sampled,
        "max_rows": int(config.training.max_rows),
        "seed": int(config.training.seed),
    }
    if sampled:
        record["sampling"] = (
            f"{len(train_all)} training rows exceed training.max_rows={config.training.max_rows}: "
            f"a stratified sample by (cutoff, label) of {len(train)} rows was used "
            f"(seed {config.training.seed})"
        )
    return record


def _iso_day(ts) -> str:
    return pd.Timestamp(ts).date().isoformat()


def refit_champion(comparison: Comparison, snapshots: pd.DataFrame, specs, config):
    """Refit the champion's kind on every snapshot, the validation one included.

    The newest cutoff then serves as the inner hold-out for early stopping and the
    calibration check (model selection is already done).
    """
    _check_snapshots(snapshots, specs)
    data, sampled = _sample_training(snapshots, config.training.max_rows, config.training.seed)
    data = data.reset_index(drop=True)
    old = comparison.candidates.get(comparison.champion)
    params = old.get_params() if old is not None else {"seed": config.training.seed}
    params["specs"] = list(specs)
    model = CANDIDATES[comparison.champion](**params)
    model.fit(data[[s.code for s in specs]], data["label"], data["cutoff"])
    if sampled:
        model.notes_.append(f"refit on a stratified sample of {len(data)} of {len(snapshots)} rows")
    return model
