"""Charts (models): how the candidates compare on the validation snapshot.

Every function takes `ax=None`, draws on it (or on a new figure) and returns the Axes.
Most take `validation_predictions` from `models.compare_models`: columns `profile_id`,
`cutoff`, `label` and one probability column per model name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# workbench.modeling.metrics is imported where it is used: importing it loads the modeling
# package (scikit-learn, SciPy: a second), which the kernel of a `workbench run` imports in
# the background while notebooks 01-02 run, not before notebook 01 (which imports the plots).

__all__ = [
    "plot_roc",
    "plot_lift",
    "plot_gains",
    "plot_calibration",
    "plot_score_distribution",
    "plot_coefficients",
    "plot_importance",
    "plot_fold_auc",
]

_NOT_MODELS = {"profile_id", "cutoff", "label"}


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _models(preds: pd.DataFrame) -> list[str]:
    return [c for c in preds.columns if c not in _NOT_MODELS]


def _pick(preds: pd.DataFrame, model: str | None) -> str:
    names = _models(preds)
    if model is None:
        if not names:
            raise ValueError("validation_predictions has no model columns")
        return names[0]
    if model not in names:
        raise ValueError(f"no model column {model!r}; have {names}")
    return model


def plot_roc(preds: pd.DataFrame, ax=None):
    """ROC curve of every model on the validation snapshot, with its AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    ax = _axes(ax)
    y = preds["label"].to_numpy(dtype=int)
    for m in _models(preds):
        fpr, tpr, _ = roc_curve(y, preds[m])
        ax.plot(fpr, tpr, label=f"{m} (AUC {roc_auc_score(y, preds[m]):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title("ROC curve (validation snapshot)")
    ax.legend(loc="lower right")
    return ax


def plot_lift(preds: pd.DataFrame, model: str | None = None, ax=None):
    """Lift by score decile (1 = highest scores) for one model (default: the first)."""
    ax = _axes(ax)
    m = _pick(preds, model)
    from workbench.modeling.metrics import decile_table

    t = decile_table(preds["label"], preds[m])
    ax.bar(t["decile"], t["lift"], color="C0")
    ax.axhline(1.0, color="grey", linestyle=":", label="no lift")
    ax.set_xticks(t["decile"])
    ax.set_xlabel("Score decile (1 = highest)")
    ax.set_ylabel("Lift (rate / overall rate)")
    ax.set_title(f"Lift by decile: {m}")
    ax.legend()
    return ax


def plot_gains(preds: pd.DataFrame, ax=None):
    """Cumulative share of positives captured when targeting the top x% of scores."""
    ax = _axes(ax)
    y = preds["label"].to_numpy(dtype=float)
    total = y.sum()
    n = len(y)
    x = np.arange(0, n + 1) / max(n, 1) * 100
    for m in _models(preds):
        order = np.argsort(-preds[m].to_numpy(dtype=float), kind="mergesort")
        gain = np.concatenate([[0.0], np.cumsum(y[order])]) / (total if total else 1.0) * 100
        ax.plot(x, gain, label=m)
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", label="random")
    ax.set_xlabel("Profiles targeted (%, highest scores first)")
    ax.set_ylabel("Positives captured (%)")
    ax.set_title("Cumulative gains (validation snapshot)")
    ax.legend(loc="lower right")
    return ax


def plot_calibration(preds: pd.DataFrame, model: str | None = None, ax=None):
    """Observed rate vs mean predicted probability in ten equal-count bins."""
    ax = _axes(ax)
    names = [_pick(preds, model)] if model is not None else _models(preds)
    hi = 0.0
    for m in names:
        from workbench.modeling.metrics import calibration_table

        t = calibration_table(preds["label"], preds[m])
        ax.plot(t["mean_probability"], t["observed_rate"], marker="o", label=m)
        hi = max(hi, t["mean_probability"].max(), t["observed_rate"].max())
    hi = min(1.0, hi * 1.05 + 1e-3)
    ax.plot([0, hi], [0, hi], color="grey", linestyle=":", label="perfect")
    ax.set_xlabel("Mean predicted probability")
    ax.set_ylabel("Observed rate")
    ax.set_title("Calibration (validation snapshot)")
    ax.legend(loc="upper left")
    return ax


def plot_score_distribution(preds: pd.DataFrame, model: str | None = None, ax=None):
    """Histogram of one model's probabilities split by what actually happened."""
    ax = _axes(ax)
    m = _pick(preds, model)
    p = preds[m].to_numpy(dtype=float)
    y = preds["label"].to_numpy(dtype=int)
    bins = np.linspace(0, max(p.max(), 1e-6), 31)
    # one filled shape per outcome rather than a bar per bin: the same picture, half the drawing
    shape = {"bins": bins, "alpha": 0.6, "density": True, "histtype": "stepfilled"}
    ax.hist(p[y == 0], label="did not reach the goal", **shape)
    ax.hist(p[y == 1], label="reached the goal", **shape)
    ax.set_xlabel("Predicted probability")
    ax.set_ylabel("Density")
    ax.set_title(f"Score distribution by actual outcome: {m}")
    ax.legend()
    return ax


def plot_coefficients(coefficients: pd.DataFrame, top: int = 20, ax=None):
    """Logistic coefficients (log-odds) with 95% confidence intervals, largest |coef| first."""
    ax = _axes(ax)
    t = coefficients.reindex(coefficients["coefficient"].abs().sort_values(ascending=False).index)
    t = t.head(top).iloc[::-1]
    ypos = np.arange(len(t))
    lo = (t["coefficient"] - t["ci_low"]).to_numpy(dtype=float)
    hi = (t["ci_high"] - t["coefficient"]).to_numpy(dtype=float)
    colors = ["C2" if c > 0 else "C3" for c in t["coefficient"]]
    ax.errorbar(t["coefficient"], ypos, xerr=[lo, hi], fmt="none", ecolor="grey", capsize=3)
    ax.scatter(t["coefficient"], ypos, color=colors, zorder=3)
    ax.axvline(0, color="grey", linestyle=":")
    ax.set_yticks(ypos)
    ax.set_yticklabels(t["label"])
    ax.set_xlabel("Coefficient (log-odds) with 95% CI")
    ax.set_title("Logistic model: influential factors")
    return ax


def plot_importance(importance: pd.DataFrame, top: int = 20, ax=None):
    """LightGBM global importance (total gain), largest first."""
    ax = _axes(ax)
    t = importance.sort_values("gain", ascending=False).head(top).iloc[::-1]
    total = importance["gain"].sum()
    share = t["gain"] / total * 100 if total else t["gain"]
    ax.barh(np.arange(len(t)), share, color="C0")
    ax.set_yticks(np.arange(len(t)))
    ax.set_yticklabels(t["label"])
    ax.set_xlabel("Share of total gain (%)" if total else "Gain")
    ax.set_title("Boosted model: global importance")
    return ax


def plot_fold_auc(metrics: dict, ax=None):
    """ROC AUC of every candidate at each validation origin (oldest left), from metrics.json."""
    ax = _axes(ax)
    folds = list(reversed(metrics.get("folds", [])))
    origins = [f["origin"] for f in folds]
    for name in metrics.get("models", {}):
        ax.plot(origins, [f["models"][name]["roc_auc"] for f in folds], marker="o", label=name)
    ax.set_xlabel("Validation origin")
    ax.set_ylabel("ROC AUC")
    ax.set_title("ROC AUC at each validation origin (out of time)")
    ax.legend(loc="best")
    return ax
