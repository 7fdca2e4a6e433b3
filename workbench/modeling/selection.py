"""Rolling-origin comparison of the candidates, the champion, and its refit on every snapshot.

`compare_models` screens the features (training rows against the scoring population), fits
every candidate in every fold (`folds`), chooses each candidate's calibration (none or Platt)
and the champion on the folds, and writes the body of `metrics.json`; `refit_champion` fits
the champion's kind on every labelled snapshot for scoring, its first stage being fold 0's
model and its calibrator fitted on fold 0's scores of every profile at the newest origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import DataError, NotReadyError
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling.base import PropensityModel
from workbench.modeling.calibration import CALIBRATIONS
from workbench.modeling.candidates import CANDIDATES
from workbench.modeling.folds import (
    FOLD_METRICS,
    Fold,
    candidate_params,
    fit_fold,
    fold_metrics,
    fold_origins,
    sample_rows,
)
from workbench.modeling.quality import fold_trend, quality_flags, reported
from workbench.modeling.screening import distribution_check, flagged_features, screen_features

TIE_MARGIN = 0.002  # within this fold-mean AUC of the best, the logistic model is preferred
# (unless the best led it at every origin: `choose_champion`)
BLEND_MARGIN = 0.002  # the blend is champion only when it beats the best part by more
CALIBRATION_MARGIN = 0.005  # Platt is kept unless its fold log loss is worse by more (relative)


@dataclass
class Comparison:
    """What `compare_models` returns; `metrics` is the body of `metrics.json`."""

    leaderboard: pd.DataFrame
    candidates: dict[str, Any]  # fold 0's models (the newest origin)
    champion: str
    validation_predictions: pd.DataFrame  # every candidate's probability at the newest origin
    coefficients: pd.DataFrame
    importance: pd.DataFrame
    metrics: dict = field(default_factory=dict)
    fold_predictions: pd.DataFrame | None = None  # the same at every origin (`fold` 0 = newest)
    specs: list[FeatureSpec] = field(default_factory=list)  # the features the models use
    newest: Fold | None = None


def choose_champion(
    roc_auc: dict[str, float],
    margin: float = TIE_MARGIN,
    folds: dict[str, list[float]] | None = None,
) -> str:
    """Best ROC AUC among logistic and boosted; within `margin` prefer logistic, unless the
    other beat it at every one of two or more origins (`folds`, each candidate's ROC AUC per
    fold): a small lead held at every origin is a consistent one, not the folds' noise.

    On CDNOW the boosted model led the logistic one by 0.001-0.002 on the fold mean and at all
    three origins for every training seed tried, and realised 0.8232 against the logistic's
    0.8216 (medians of 7 seeds); the margin alone had picked the logistic for 5 of them."""
    pool = {k: v for k, v in roc_auc.items() if k in ("logistic", "boosted") and np.isfinite(v)}
    if not pool:
        raise NotReadyError(["no model candidate could be judged on the validation snapshot"])
    best = max(pool, key=lambda k: (pool[k], k == "logistic"))
    if "logistic" in pool and pool["logistic"] >= pool[best] - margin:
        if best != "logistic" and _leads_everywhere(folds or {}, best, "logistic"):
            return best
        return "logistic"
    return best


def _leads_everywhere(folds: dict[str, list[float]], a: str, b: str) -> bool:
    """`a` scored above `b` at every origin, with at least two origins to judge."""
    fa, fb = folds.get(a) or [], folds.get(b) or []
    return len(fa) == len(fb) >= 2 and all(x > y for x, y in zip(fa, fb, strict=True))


def _check_snapshots(snapshots: pd.DataFrame, specs: list[FeatureSpec]) -> None:
    need = ["cutoff", "label"] + [s.code for s in specs]
    missing = [c for c in need if c not in snapshots.columns]
    if missing:
        raise DataError(f"snapshots: missing column(s) {missing}")
    if snapshots.empty:
        raise NotReadyError(["the snapshots have no rows: no profile is eligible at any cutoff"])
    if pd.Series(snapshots["cutoff"]).nunique() < 2:
        raise NotReadyError(
            [
                "only 1 cutoff in the snapshots; at least 2 are needed (training and "
                "validation): raise training.snapshots or give more history"
            ]
        )


LEADERBOARD_COLUMNS = [
    "roc_auc",
    "roc_auc_fold_mean",
    "roc_auc_sd",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_top_decile",
    "fit_seconds",
    "predict_seconds",
    "beats_recency",
]


def compare_models(
    snapshots: pd.DataFrame, specs: list[FeatureSpec], config, scoring: pd.DataFrame | None = None
) -> Comparison:
    """Rolling-origin, out-of-time comparison of logistic, boosted, their blend and the recency
    rule. `scoring` (the scoring snapshot) is compared with the training rows: features that do
    not mean the same there are left out, the drift is measured (`distribution_check`)."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread: reproducible sums, and no spin-waiting collapse on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        return _compare(snapshots, specs, config, scoring)


def _compare(snapshots, specs, config, scoring) -> Comparison:
    _check_snapshots(snapshots, specs)
    drift = distribution_check(snapshots, scoring, specs) if scoring is not None else {}
    specs, left_out = screen_features(snapshots, specs, drift, config.training.seed)
    names = ["logistic", "boosted"] + (["recency_rule"] if RECENCY_FEATURE in snapshots else [])
    blend = bool(config.models.blend)
    folds, skipped = _fit_folds(snapshots, names, specs, config, blend)
    names += ["blend"] if blend else []
    per = {n: [fold_metrics(f, n) for f in folds] for n in names}
    chosen = choose_calibrations(per, config.models.calibration)
    rows = {n: _summary(per[n], chosen[n], folds, n) for n in names}
    champion = choose_champion(
        {k: v["roc_auc_fold_mean"] for k, v in rows.items()},
        folds={k: v["roc_auc_folds"] for k, v in rows.items()},
    )
    if (
        blend
        and rows["blend"]["roc_auc_fold_mean"] > rows[champion]["roc_auc_fold_mean"] + BLEND_MARGIN
    ):
        champion = "blend"
    _report(rows, champion)
    newest = folds[0]
    for fold in folds:  # every fold model keeps the calibration chosen on the folds
        for n in names:
            fold.models[n].use_calibration(chosen[n])
    calibration = {n: _calibration_record(newest.models[n], per[n], chosen[n]) for n in names}
    used = [s.code for s in specs]
    label = {s.code: s.label for s in specs}  # the message names features as the report does
    unlike = [label[c] for c in flagged_features(drift, used)]
    quality = quality_flags(rows, champion, folds, calibration, unlike)
    quality["messages"] += skipped + _left_out_messages(left_out)
    if RECENCY_FEATURE not in snapshots.columns:
        quality["messages"].append(
            f"no '{RECENCY_FEATURE}' column: the recency baseline was skipped"
        )
    predictions = _fold_predictions(folds, names, chosen)
    metrics = {
        "as_of": config.scoring.as_of.isoformat() if config.scoring.as_of else None,
        "goal": config.goal.model_dump(mode="json"),
        "champion": champion,
        "reported": {"rule": rows[champion]["reported_as"], "roc_auc": rows[champion]["roc_auc"]},
        "models": rows,
        "folds": [
            _fold_record(k, f, per, chosen, champion, predictions, config)
            for k, f in enumerate(folds)
        ],
        "validation": _validation_record(folds),
        "training": _training_record(newest, snapshots, config),
        "readiness": {},
        "quality": quality,
        "calibration": calibration,
        "features": {
            "used": used,
            "left_out": left_out,
            "drift": drift,
            "flagged": flagged_features(drift, used),
        },
        "model_settings": _settings(newest, config),
        "notes": {k: list(m.notes_) for k, m in newest.models.items()},
    }
    board = pd.DataFrame.from_dict(rows, orient="index")[LEADERBOARD_COLUMNS]
    board.index.name = "model"
    board["beats_recency"] = board["beats_recency"].astype(bool)
    return Comparison(
        leaderboard=board,
        candidates=newest.models,
        champion=champion,
        validation_predictions=predictions[predictions["fold"] == 0].drop(columns="fold"),
        coefficients=newest.models["logistic"].coefficient_table(),
        importance=newest.models["boosted"].importance_table(),
        metrics=metrics,
        fold_predictions=predictions,
        specs=specs,
        newest=newest,
    )


def _fit_folds(snapshots, names, specs, config, blend) -> tuple[list[Fold], list[str]]:
    """Every fold with both outcomes on both sides; the newest one must have them."""
    folds, skipped = [], []
    for k, origin in enumerate(fold_origins(snapshots, config)):
        try:
            folds.append(fit_fold(snapshots, origin, names, specs, config, blend, k == 0))
        except NotReadyError as exc:
            if k == 0:
                raise
            day = pd.Timestamp(origin).date()
            skipped.append(f"the fold at {day} was skipped: {exc.messages[0]}")
    return folds, skipped


def choose_calibrations(per: dict[str, list[dict]], setting: str) -> dict[str, str]:
    """Per candidate, none or Platt (`models.calibration: folds`), else the method the config
    fixes.

    Platt, fitted out of time on the newest complete outcome window, sets the level the scores
    start from to the most recent one; without it the level is that of the whole training
    history, which drifts (CDNOW's purchase rate fell from 22% to 16% over the training span).
    So Platt is kept unless the folds show it hurts: a fold-mean log loss more than
    CALIBRATION_MARGIN above the raw probabilities'. Smaller differences are the folds' noise
    (two monotone maps of the same scores; they flipped between equally good settings)."""
    chosen = {}
    for name, folds in per.items():
        if setting == "folds":
            loss = {m: float(np.mean([f[m]["log_loss"] for f in folds])) for m in CALIBRATIONS}
            hurts = loss["platt"] > loss["none"] * (1 + CALIBRATION_MARGIN)
            chosen[name] = "none" if hurts else "platt"
        else:
            chosen[name] = setting
    return chosen


def _summary(per: list[dict], method: str, folds: list[Fold], name: str) -> dict[str, Any]:
    """The leaderboard row of one candidate: its fold means and spreads, every fold's ROC AUC
    (newest first) and the fit time; `_report` adds the reported figures."""
    row: dict[str, Any] = {}
    for m in FOLD_METRICS:
        v = [f[method][m] for f in per]
        row[f"{m}_folds"] = [float(x) for x in v]
        row[f"{m}_fold_mean"] = float(np.mean(v))
        row[f"{m}_sd"] = float(np.std(v))
    row["roc_auc_ci_low"] = per[0][method]["roc_auc_ci_low"]  # the newest origin's interval
    row["roc_auc_ci_high"] = per[0][method]["roc_auc_ci_high"]
    row["fit_seconds"] = round(float(np.mean([f.seconds[name] for f in folds])), 3)
    # scoring every profile at the origin (the blend: both parts)
    row["predict_seconds"] = round(float(np.mean([f.predict_seconds[name] for f in folds])), 3)
    row["calibration"] = method
    return row


def _report(rows: dict[str, dict], champion: str) -> None:
    """Every candidate's reported figures by one rule, the champion's folds deciding it (so the
    leaderboard compares like with like): the newest origin's when they move steadily one way,
    else the fold mean (`quality.reported`)."""
    steady = fold_trend(rows[champion]["roc_auc_folds"]) is not None
    for row in rows.values():
        for m in FOLD_METRICS:
            row[m], rule = reported(row[f"{m}_folds"], steady)
            if m != "roc_auc":
                del row[f"{m}_folds"]
        row["reported_as"] = rule


def _calibration_record(model: PropensityModel, per: list[dict], method: str) -> dict[str, Any]:
    return {
        **model.calibration_,
        "chosen_on_folds": method,
        "fold_log_loss": {m: float(np.mean([f[m]["log_loss"] for f in per])) for m in CALIBRATIONS},
        "validation_ece_raw": per[0]["none"]["ece"],
        "validation_ece": per[0][method]["ece"],
        "calibrated": method != "none",
    }


def _left_out_messages(left_out: dict[str, str]) -> list[str]:
    if not left_out:
        return []
    shown = "; ".join(f"{c}: {why}" for c, why in list(left_out.items())[:4])
    more = f" (and {len(left_out) - 4} more)" if len(left_out) > 4 else ""
    return [f"{len(left_out)} feature(s) left out so training and scoring agree: {shown}{more}"]


def _fold_predictions(folds: list[Fold], names: list[str], chosen: dict[str, str]) -> pd.DataFrame:
    frames = []
    for k, f in enumerate(folds):
        frame = f.validation.copy()
        frame.insert(0, "fold", np.int8(k))
        for n in names:
            frame[n] = f.probability(n, chosen[n])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _fold_record(k: int, fold: Fold, per, chosen, champion, predictions, config) -> dict[str, Any]:
    """One entry of `metrics.json["folds"]` (see docs/ARCHITECTURE.md)."""
    from workbench.scoring import expected_vs_actual

    table = expected_vs_actual(
        predictions[predictions["fold"] == k], champion, config.scoring.buckets
    )
    return {
        "origin": fold.origin.date().isoformat(),
        "train_cutoffs": [c.date().isoformat() for c in fold.train_cutoffs],
        "rows": int(fold.rows),
        "rows_available": int(fold.rows_available),
        "training_positives": int(fold.positives),
        "profiles": int(len(fold.validation)),
        "positives": int(fold.label.sum()),
        "models": {n: {m: float(per[n][k][chosen[n]][m]) for m in FOLD_METRICS} for n in per},
        "expected_vs_actual": {
            "model": champion,
            "bucket": table["bucket"].to_dict(orient="records"),
            "decile": table["decile"].to_dict(orient="records"),
        },
        "seconds": {n: round(v, 3) for n, v in fold.seconds.items()},
    }


def _validation_record(folds: list[Fold]) -> dict[str, Any]:
    newest = folds[0]
    return {
        "cutoff": newest.origin.date().isoformat(),
        "origins": [f.origin.date().isoformat() for f in folds],
        "profiles": int(len(newest.validation)),
        "positives": int(newest.label.sum()),
    }


def _training_record(newest: Fold, snapshots: pd.DataFrame, config) -> dict[str, Any]:
    t = config.training
    record = {
        "cutoffs": [c.date().isoformat() for c in newest.train_cutoffs],
        "all_cutoffs": [
            pd.Timestamp(c).date().isoformat() for c in sorted(snapshots["cutoff"].unique())
        ],
        "rows": int(newest.rows),
        "positives": int(newest.positives),
        "rows_available": int(newest.rows_available),
        "sampled": bool(newest.rows < newest.rows_available),
        "fit_rows": int(t.fit_rows),
        "max_rows": int(t.max_rows),
        "seed": int(t.seed),
    }
    if record["sampled"]:
        record["sampling"] = (
            f"{newest.rows_available} training rows exceed training.fit_rows={t.fit_rows}: each "
            f"fit used a stratified sample by (cutoff, label) of {newest.rows} rows (seed {t.seed})"
        )
    return record


def _settings(newest: Fold, config) -> dict[str, Any]:
    """How the candidates were built: the config's `models` section and what it gave."""
    boosted = newest.models["boosted"]
    constraints = boosted._lgb_params().get("monotone_constraints") or []
    codes = [s.code for s in boosted.feature_specs_]
    return {
        **config.models.model_dump(mode="json"),
        "validation_folds": int(config.training.validation_folds),
        "cutoff_every_days": int(config.training.cutoff_every_days),
        "monotone_constraints": {c: int(v) for c, v in zip(codes, constraints, strict=False) if v},
    }


def refit_champion(comparison: Comparison, snapshots: pd.DataFrame, specs, config):
    """Refit the champion's kind on every labelled snapshot (every outcome window is complete
    by as_of) with the features and the calibration chosen on the folds. Its first stage is
    fold 0's model, which trained on exactly the cutoffs before the newest origin; its
    calibrator is fitted on that model's scores of every profile at the newest origin."""
    used = set(comparison.metrics.get("features", {}).get("used") or [s.code for s in specs])
    specs = [s for s in specs if s.code in used]
    _check_snapshots(snapshots, specs)
    data, sampled = sample_rows(snapshots, config.training.fit_rows, config.training.seed)
    data = data.reset_index(drop=True)
    name = comparison.champion
    method = comparison.metrics["calibration"][name]["chosen_on_folds"]
    first = comparison.candidates.get(name)
    model = CANDIDATES[name](list(specs), **candidate_params(name, config))
    model.fit(data[[s.code for s in specs]], data["label"], data["cutoff"], holdout_model=first)
    newest = comparison.newest
    if newest is not None and first is not None:
        at_origin = (pd.to_datetime(snapshots["cutoff"]) == newest.origin).to_numpy()
        rows = snapshots.loc[at_origin, [s.code for s in specs]].reset_index(drop=True)
        _calibrate_on_newest_origin(model, newest, rows)
    model.use_calibration(method)
    if sampled:
        model.notes_.append(f"refit on a stratified sample of {len(data)} of {len(snapshots)} rows")
    return model


def _calibrate_on_newest_origin(model, newest: Fold, rows: pd.DataFrame) -> None:
    """Calibrators fitted on the newest fold's out-of-time scores of every profile at its
    origin (`rows`, not the refit's sample of them), moved to the refit's level there
    (`aligned`): the level the scores are set to is that of the most recent complete outcome
    window, measured out of time on the whole population."""
    how = f"validation origin {newest.origin.date().isoformat()} (every profile, fold 0's model)"
    y = newest.label
    if model.name == "blend":
        parts = model.state_["parts"]
        for name, part in parts.items():
            part._fit_calibration(part.aligned(newest.raw[name], rows), y, how)
        model._combine(parts["logistic"], parts["boosted"])
    else:
        model._fit_calibration(model.aligned(newest.raw[model.name], rows), y, how)
