"""The out-of-time evaluation as tables for notebook 03: every fold, the features that look
unlike training at the scoring date, and the figure the report prints with how it was made.

All of them read `metrics.json` (`compare`'s body), so a notebook shows what the run recorded.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["fold_table", "drift_table", "reported_figure"]


def fold_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per validation origin, newest first: the cutoffs the fold trained on, its
    profiles and positives, each candidate's ROC AUC there, and what the champion expected
    against what happened (the level a past scoring run would have had)."""
    rows = []
    for fold in metrics.get("folds", []):
        buckets = fold["expected_vs_actual"]["bucket"]
        expected = sum(b["expected"] for b in buckets)
        actual = sum(b["actual"] for b in buckets)
        row = {
            "origin": fold["origin"],
            "training cutoffs": f"{len(fold['train_cutoffs'])} ({fold['train_cutoffs'][0]} "
            f"to {fold['train_cutoffs'][-1]})",
            "profiles": fold["profiles"],
            "positives": fold["positives"],
        }
        row.update({f"ROC AUC {n}": round(m["roc_auc"], 4) for n, m in fold["models"].items()})
        row[f"expected ({metrics['champion']})"] = round(expected, 1)
        row["actual"] = actual
        row["expected / actual"] = round(expected / actual, 3) if actual else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("origin") if rows else pd.DataFrame()


def drift_table(metrics: dict[str, Any], top: int = 12) -> pd.DataFrame:
    """The features whose scored values look least like the training rows': the share of
    scored profiles outside the training range, the PSI, and whether the models use it."""
    features = metrics.get("features") or {}
    drift, left_out = features.get("drift", {}), features.get("left_out", {})
    used, flagged = set(features.get("used", [])), set(features.get("flagged", []))
    rows = [
        {
            "feature": code,
            "outside the training range": round(d["outside"], 3),
            "PSI": round(d["psi"], 2),
            "used": code in used,
            "note": left_out.get(code)
            or ("named under 'Read this first'" if code in flagged else ""),
        }
        for code, d in drift.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["feature", "outside the training range", "PSI", "used", "note"]
    )
    frame = frame.sort_values(["outside the training range", "PSI"], ascending=False)
    return frame.head(top).set_index("feature")


def reported_figure(metrics: dict[str, Any]) -> str:
    """The champion's reported ROC AUC in a sentence: the figure, how it was made, the folds."""
    champion = metrics["champion"]
    row = metrics["models"][champion]
    folds = ", ".join(f"{v:.3f}" for v in row.get("roc_auc_folds", []))
    return (
        f"**{champion}**: ROC AUC **{row['roc_auc']:.3f}** ({row.get('reported_as', 'fold mean')}); "
        f"at the validation origins, newest first: {folds} (fold mean "
        f"{row.get('roc_auc_fold_mean', row['roc_auc']):.3f} ± {row.get('roc_auc_sd', 0):.3f}). "
        f"Calibration: {row.get('calibration', 'none')}."
    )
