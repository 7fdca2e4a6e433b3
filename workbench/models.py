"""Model candidates, out-of-time comparison and persistence without pickle.

Three candidates share scikit-learn manners (`__init__` stores parameters, `fit` returns
`self`, fitted state ends in `_`):

- `LogisticPropensity`: statsmodels Logit on imputed, standardised numerics and one-hot
  categoricals; falls back to a light ridge penalty (statsmodels GLM) on separation or
  singularity and says so in `notes_`.
- `BoostedPropensity`: LightGBM with native categoricals and early stopping on the latest
  *training* cutoff; deterministic.
- `RecencyRule`: the baseline, minus days since the last event, mapped to a probability
  by a one-feature logistic fit.

`compare_models` fits all three on the training snapshots (every cutoff but the newest),
judges them on the validation snapshot (the newest cutoff) and picks a champion;
`save_model`/`load_model` persist a fitted candidate as JSON plus LightGBM's own model text.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines.
Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision tree. NeurIPS.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from workbench.errors import DataError, ModelMismatchError, NotReadyError
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.metrics import expected_calibration_error, score_metrics

__all__ = [
    "LogisticPropensity",
    "BoostedPropensity",
    "RecencyRule",
    "Comparison",
    "compare_models",
    "choose_champion",
    "refit_champion",
    "save_model",
    "load_model",
    "check_feature_match",
    "CANDIDATES",
]

ID_COLUMNS = ("profile_id", "cutoff", "label")
ECE_THRESHOLD = 0.03  # above this held-out calibration error, a Platt calibrator is fitted
TIE_MARGIN = 0.002  # within this validation AUC of the best, the logistic model is preferred
POOR_AUC = 0.65  # below this validation AUC the model is reported as poor quality
# With fewer validation positives, or a wider 95% AUC interval, the comparison is flagged uncertain.
MIN_RELIABLE_POSITIVES = 100
MAX_RELIABLE_AUC_INTERVAL = 0.10
MAX_LEVELS_ONEHOT = 20
MIN_LEVEL_ROWS = 10
FORMAT = "propensity-workbench-model"
FORMAT_VERSION = 1
POOR_REMEDIES = (
    "narrow the population (eligibility.active_within_days or eligibility.conditions), "
    "shorten the outcome window (goal.window_days), or add custom events that describe intent"
)


# --------------------------------------------------------------------------- helpers
def _labels(y) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError("label: expected one 0/1 value per row")
    if len(arr) and not np.isin(arr, (0, 1)).all():
        raise DataError("label: expected only 0/1 values")
    return arr.astype(np.int8)


def _require_both_classes(y: np.ndarray, what: str) -> None:
    pos = int(y.sum())
    neg = int(len(y) - pos)
    if pos == 0:
        raise NotReadyError(
            [
                f"the {what} has no positive outcomes ({neg} profiles, none reached the goal); "
                "widen the outcome window or the population, or check the goal conditions"
            ]
        )
    if neg == 0:
        raise NotReadyError(
            [
                f"every profile in the {what} reached the goal ({pos} of {pos}); a model cannot "
                "tell them apart: tighten the goal or the population"
            ]
        )


def _specs_from_frame(X: pd.DataFrame) -> list[FeatureSpec]:
    out = []
    for c in X.columns:
        if c in ID_COLUMNS:
            continue
        kind = (
            "numeric"
            if pd.api.types.is_numeric_dtype(X[c])
            and not isinstance(X[c].dtype, pd.CategoricalDtype)
            else "categorical"
        )
        out.append(FeatureSpec(code=str(c), label=str(c), kind=kind))
    return out


def _as_strings(s: pd.Series) -> np.ndarray:
    """Category/object values as strings; missing as None (stable across pandas versions)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = np.array([str(c) for c in s.cat.categories] + [None], dtype=object)
        codes = s.cat.codes.to_numpy()
        return cats[np.where(codes < 0, len(cats) - 1, codes)]
    vals = s.to_numpy(dtype=object)
    out = np.empty(len(vals), dtype=object)
    for i, v in enumerate(vals):
        out[i] = (
            None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
        )
    return out


def _level_codes(x: pd.Series, levels: list[str], missing: str | None = None) -> np.ndarray:
    """Position of each value (as text) in `levels`, -1 when absent; missing values map to
    the position of `missing` (or -1). Works on the categories, not on every row."""
    s = x if isinstance(x.dtype, pd.CategoricalDtype) else x.astype("category")
    pos = {lvl: i for i, lvl in enumerate(levels)}
    miss = pos.get(missing, -1) if missing is not None else -1
    lut = np.array([pos.get(str(c), -1) for c in s.cat.categories] + [miss], dtype=np.int64)
    codes = s.cat.codes.to_numpy().astype(np.int64)
    return lut[np.where(codes < 0, len(lut) - 1, codes)]


def _inner_holdout(y: np.ndarray, cutoffs, seed: int) -> tuple[np.ndarray, str]:
    """Rows used to stop/calibrate: the latest training cutoff, else a stratified 20%."""
    if cutoffs is not None:
        c = pd.Series(pd.to_datetime(pd.Series(cutoffs).reset_index(drop=True)))
        if len(c) == len(y) and c.nunique() >= 2:
            latest = c.max()
            hold = (c == latest).to_numpy()
            if 0 < y[hold].sum() < hold.sum() and 0 < y[~hold].sum() < (~hold).sum():
                return hold, f"latest training cutoff {pd.Timestamp(latest).date().isoformat()}"
    rng = np.random.default_rng(seed)
    hold = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        k = int(round(0.2 * len(idx)))
        if k:
            hold[rng.choice(idx, size=k, replace=False)] = True
    return hold, "stratified 20% of the training rows"


def _fit_platt(score: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The Platt calibrator: P(y=1) = expit(a + b * raw score), fitted on held-out rows."""
    return _fit_1d_logistic(score, y)


def _fit_1d_logistic(
    score: np.ndarray, y: np.ndarray, *, increasing: bool = True
) -> dict[str, float]:
    """P(y=1) = expit(a + b * score), by Newton's method on the two-parameter likelihood.

    `increasing` (calibration) rejects a slope b <= 0: a calibrator must not reverse the
    ranking. Without it (the recency rule) the slope takes whichever sign the data has."""
    a, b = 0.0, 1.0
    Z = np.column_stack([np.ones_like(score), score])
    for _ in range(50):
        p = expit(a + b * score)
        w = p * (1 - p) + 1e-12
        g = Z.T @ (y - p)
        H = (Z * w[:, None]).T @ Z + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        a, b = a + step[0], b + step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    if not (np.isfinite(a) and np.isfinite(b)) or (increasing and b <= 0):
        return {"method": "none"}
    return {"method": "platt", "a": float(a), "b": float(b)}


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _apply_calibrator(cal: dict | None, score: np.ndarray) -> np.ndarray:
    if not cal or cal.get("method") == "none":
        return expit(score)
    return expit(cal["a"] + cal["b"] * score)


# --------------------------------------------------------------------------- base class
class _Candidate:
    """Shared fit/calibration logic. Subclasses implement `_fit_state`, `_decision`,
    `_contrib` and the JSON state round trip."""

    name = ""

    def __init__(
        self,
        specs: list[FeatureSpec] | None = None,
        *,
        calibrate: str = "auto",
        ece_threshold: float = ECE_THRESHOLD,
        seed: int = 42,
    ):
        self.specs = specs
        self.calibrate = calibrate  # "auto" (when held-out ECE is poor), "always" or "never"
        self.ece_threshold = ece_threshold
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def _param_names(self) -> list[str]:
        return ["specs", "calibrate", "ece_threshold", "seed"]

    # -- fitting
    def _select_specs(self, X: pd.DataFrame) -> list[FeatureSpec]:
        specs = list(self.specs) if self.specs is not None else _specs_from_frame(X)
        missing = [s.code for s in specs if s.code not in X.columns]
        if missing:
            raise DataError(f"{self.name}: feature column(s) missing from the frame: {missing}")
        return specs

    def fit(self, X: pd.DataFrame, y, cutoffs=None):
        """Fit on training rows; `cutoffs` (one per row) define the inner time-based hold-out.

        The latest training cutoff is held out to stop boosting and to check calibration;
        the model is then refit on every training row, and when the held-out calibration
        error exceeds `ece_threshold` a Platt calibrator fitted on the held-out scores of the
        inner model is kept (as scikit-learn's `CalibratedClassifierCV(ensemble=False)`).
        """
        y = _labels(y)
        if len(y) != len(X):
            raise DataError(f"{self.name}: {len(X)} feature rows but {len(y)} labels")
        _require_both_classes(y, "training snapshots")
        specs = self._select_specs(X)
        self.feature_specs_ = specs
        self.notes_: list[str] = []
        X = X[[s.code for s in specs]].reset_index(drop=True)
        hold, how = _inner_holdout(y, cutoffs, self.seed)
        s_hold, self.state_ = self._fit_two_stage(X, y, hold)
        ece_raw = expected_calibration_error(y[hold], expit(s_hold))
        want = self.calibrate == "always" or (
            self.calibrate == "auto" and ece_raw > self.ece_threshold
        )
        cal = _fit_platt(s_hold, y[hold].astype(float)) if want else {"method": "none"}
        ece_after = expected_calibration_error(y[hold], _apply_calibrator(cal, s_hold))
        if cal.get("method") != "none" and ece_after >= ece_raw:
            self.notes_.append(
                f"{self.name}: a Platt calibrator did not lower the held-out "
                f"calibration error ({ece_raw:.3f}); raw probabilities kept"
            )
            cal, ece_after = {"method": "none"}, ece_raw
        self.calibrator_ = cal
        self.calibration_ = {
            "holdout": how,
            "holdout_rows": int(hold.sum()),
            "holdout_ece_raw": float(ece_raw),
            "holdout_ece_calibrated": float(ece_after),
            "calibrated": cal.get("method") != "none",
            "method": cal.get("method"),
        }
        if self.calibration_["calibrated"]:
            self.notes_.append(
                f"{self.name}: calibration error {ece_raw:.3f} on the {how} exceeded "
                f"{self.ece_threshold}; a Platt calibrator fitted there brings it to {ece_after:.3f}"
            )
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "state_"):
            raise RuntimeError(f"{self.name}: call fit() first")
        codes = [s.code for s in self.feature_specs_]
        missing = [c for c in codes if c not in X.columns]
        if missing:
            raise ModelMismatchError(f"{self.name}: feature column(s) missing: {missing}")
        return X[codes].reset_index(drop=True)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds before calibration."""
        return self._decision(self.state_, self._frame(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(label = 1), one value per row."""
        return _apply_calibrator(self.calibrator_, self.decision_function(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per feature code plus `bias`; rows sum to `decision_function(X)`."""
        out = self._contrib(self.state_, self._frame(X))
        return out[[s.code for s in self.feature_specs_] + ["bias"]]

    # -- subclass API
    def _fit_two_stage(self, X, y, hold) -> tuple[np.ndarray, dict]:
        """Fit on the rows before the hold-out, score the hold-out, refit on every row."""
        Xi, Xh = X[~hold].reset_index(drop=True), X[hold].reset_index(drop=True)
        inner = self._fit_state(Xi, y[~hold], Xh, y[hold], inner=None)
        s_hold = self._decision(inner, Xh)
        return s_hold, self._fit_state(X, y, None, None, inner=inner)

    def _fit_state(self, X, y, X_eval, y_eval, inner):  # pragma: no cover - abstract
        raise NotImplementedError

    def _decision(self, state, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _contrib(self, state, X) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_files(self) -> dict[str, str]:
        """File name -> text for persistence (JSON or LightGBM model text)."""
        return {"parameters.json": json.dumps(self.state_, indent=1)}

    def _load_state(self, files: dict[str, str]) -> None:
        self.state_ = _validate_plain(json.loads(files["parameters.json"]))


# --------------------------------------------------------------------------- logistic
class LogisticPropensity(_Candidate):
    """Logistic regression (statsmodels) on a standardised, one-hot design.

    Numerics: median imputation (+ a missing indicator when some rows are missing),
    `log1p` for skewed non-negative features, standardisation. Categoricals: up to 20
    most frequent levels (each with at least 10 rows), the rest as "(other)"; the most
    frequent level is the reference. Constant and near-duplicate design columns are
    screened out. On perfect separation, singularity or non-convergence the fit falls back
    to a ridge-penalised GLM binomial (`ridge_alpha`), recorded in `notes_`.
    """

    name = "logistic"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="auto",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        ridge_alpha: float = 1e-4,
        max_levels: int = MAX_LEVELS_ONEHOT,
        num_threads: int = 1,
    ):
        super().__init__(specs, calibrate=calibrate, ece_threshold=ece_threshold, seed=seed)
        self.ridge_alpha = ridge_alpha
        self.max_levels = max_levels
        self.num_threads = num_threads

    def _param_names(self):
        return super()._param_names() + ["ridge_alpha", "max_levels", "num_threads"]

    def fit(self, X, y, cutoffs=None):
        # BLAS threads are fixed: reproducible sums, and no spin-waiting collapse on a busy box
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.num_threads, user_api="blas"):
            return super().fit(X, y, cutoffs)

    # design ------------------------------------------------------------------
    def _plan(self, X: pd.DataFrame, y=None) -> tuple[list[dict], list[str]]:
        cols: list[dict] = []
        notes: list[str] = []
        for spec in self.feature_specs_:
            x = X[spec.code]
            if spec.kind == "numeric":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                ok = np.isfinite(v)
                if not ok.any():
                    notes.append(f"logistic: '{spec.code}' is always missing; left out")
                    continue
                med = float(np.median(v[ok]))
                vi = np.where(ok, v, med)
                transform = "identity"
                if vi.min() >= 0 and y is not None and vi.std() > 0:
                    # log1p when it relates more strongly to the outcome (counts, amounts, days)
                    lv = np.log1p(vi)
                    if lv.std() > 0 and abs(_corr(lv, y)) > abs(_corr(vi, y)) + 1e-9:
                        transform = "log1p"
                t = np.log1p(vi) if transform == "log1p" else vi
                center, scale = float(t.mean()), float(t.std())
                if scale > 0:
                    cols.append(
                        {
                            "name": spec.code,
                            "feature": spec.code,
                            "type": "numeric",
                            "median": med,
                            "transform": transform,
                            "center": center,
                            "scale": scale,
                        }
                    )
                miss = 1 - ok.mean()
                if 0.001 < miss < 0.999 and (~ok).sum() >= MIN_LEVEL_ROWS:
                    cols.append(
                        {"name": f"{spec.code}__missing", "feature": spec.code, "type": "missing"}
                    )
            else:
                s = _as_strings(x)
                s = np.where(pd.isna(s), "(missing)", s).astype(object)
                counts = pd.Series(s).value_counts()
                order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                kept = [lvl for lvl, n in order if n >= MIN_LEVEL_ROWS][: self.max_levels]
                if not kept:
                    continue
                has_other = len(kept) < len(order)
                levels = kept + (["(other)"] if has_other else [])
                for lvl in levels[1:]:
                    cols.append(
                        {
                            "name": f"{spec.code}={lvl}",
                            "feature": spec.code,
                            "type": "dummy",
                            "level": lvl,
                            "kept": kept,
                        }
                    )
        return cols, notes

    @staticmethod
    def _design(cols: list[dict], X: pd.DataFrame) -> np.ndarray:
        Z = np.empty((len(X), len(cols)), dtype=float)
        cache: dict[str, np.ndarray] = {}
        for j, c in enumerate(cols):
            x = X[c["feature"]]
            if c["type"] == "numeric":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                v = np.where(np.isfinite(v), v, c["median"])
                if c["transform"] == "log1p":
                    v = np.log1p(np.maximum(v, 0.0))
                Z[:, j] = (v - c["center"]) / c["scale"]
            elif c["type"] == "missing":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                Z[:, j] = (~np.isfinite(v)).astype(float)
            else:
                key = c["feature"]
                if key not in cache:
                    cache[key] = _level_codes(x, c["kept"], "(missing)")
                target = -1 if c["level"] == "(other)" else c["kept"].index(c["level"])
                Z[:, j] = (cache[key] == target).astype(float)
        return Z

    # fitting -----------------------------------------------------------------
    def _fit_state(self, X, y, X_eval, y_eval, inner):
        import statsmodels.api as sm

        cols, notes = self._plan(X, y)
        Z = self._design(cols, X)
        # screening: constant columns and near-duplicates (|r| > 0.999)
        keep = np.ones(len(cols), dtype=bool)
        sd = Z.std(axis=0) if len(cols) else np.array([])
        keep &= sd > 1e-12
        if keep.sum() > 1:
            idx = np.flatnonzero(keep)
            rows = np.arange(len(Z))
            if len(Z) > 200_000:
                rows = np.sort(
                    np.random.default_rng(self.seed).choice(len(Z), 200_000, replace=False)
                )
            r = np.corrcoef(Z[np.ix_(rows, idx)], rowvar=False)
            for a in range(len(idx)):
                if not keep[idx[a]]:
                    continue
                for b in range(a + 1, len(idx)):
                    if keep[idx[b]] and abs(r[a, b]) > 0.999:
                        keep[idx[b]] = False
                        notes.append(
                            f"logistic: '{cols[idx[b]]['name']}' duplicates "
                            f"'{cols[idx[a]]['name']}'; left out"
                        )
        dropped_const = [c["name"] for c, s_ in zip(cols, sd, strict=True) if s_ <= 1e-12]
        if dropped_const:
            notes.append(f"logistic: constant column(s) left out: {dropped_const}")
        cols = [c for c, k in zip(cols, keep, strict=True) if k]
        Z = Z[:, keep]
        A = np.column_stack([np.ones(len(Z)), Z])
        method = "logit"
        params = bse = pvalues = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                start = None
                if inner is not None and [c["name"] for c in inner["columns"]] == [
                    c["name"] for c in cols
                ]:
                    start = np.array([inner["intercept"]] + [c["coef"] for c in inner["columns"]])
                # rank is screened above; a singular Hessian still falls back to ridge below
                logit = sm.Logit(y.astype(float), A, check_rank=False)
                res = logit.fit(method="newton", maxiter=35, disp=0, start_params=start)
                params = np.asarray(res.params, dtype=float)
                bse = np.asarray(res.bse, dtype=float)
                pvalues = np.asarray(res.pvalues, dtype=float)
                converged = bool(res.mle_retvals.get("converged", False))
                bad = (
                    not converged
                    or not np.all(np.isfinite(params))
                    or not np.all(np.isfinite(bse))
                    or np.max(np.abs(params[1:]), initial=0) > 15
                )
                if bad:
                    raise np.linalg.LinAlgError("separation or non-convergence")
            except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
                method = "ridge"
                notes.append(
                    f"logistic: the plain fit failed ({type(exc).__name__}: {exc}); "
                    f"refit with a light ridge penalty (alpha={self.ridge_alpha}), "
                    "confidence intervals are approximate"
                )
                alpha = np.full(A.shape[1], self.ridge_alpha)
                alpha[0] = 0.0
                glm = sm.GLM(y.astype(float), A, family=sm.families.Binomial())
                rr = glm.fit_regularized(method="elastic_net", alpha=alpha, L1_wt=0.0)
                params = np.asarray(rr.params, dtype=float)
                p = expit(A @ params)
                w = p * (1 - p)
                H = (A * w[:, None]).T @ A + len(y) * np.diag(alpha)
                cov = np.linalg.pinv(H)
                bse = np.sqrt(np.clip(np.diag(cov), 0, None))
                from scipy.stats import norm

                with np.errstate(divide="ignore", invalid="ignore"):
                    pvalues = 2 * norm.sf(np.abs(params / bse))
        means = Z.mean(axis=0) if len(cols) else np.array([])
        for j, c in enumerate(cols):
            c["coef"] = float(params[j + 1])
            c["se"] = float(bse[j + 1])
            c["p_value"] = float(pvalues[j + 1])
            c["mean"] = float(means[j])
        if inner is not None:  # keep the notes of the final fit only
            self.notes_.extend(notes)
        return {
            "intercept": float(params[0]),
            "intercept_se": float(bse[0]),
            "method": method,
            "nobs": int(len(y)),
            "columns": cols,
        }

    def _decision(self, state, X):
        cols = state["columns"]
        if not cols:
            return np.full(len(X), state["intercept"])
        Z = self._design(cols, X)
        coef = np.array([c["coef"] for c in cols])
        return state["intercept"] + Z @ coef

    def _contrib(self, state, X):
        cols = state["columns"]
        out = pd.DataFrame(0.0, index=range(len(X)), columns=[s.code for s in self.feature_specs_])
        bias = state["intercept"]
        if cols:
            Z = self._design(cols, X)
            coef = np.array([c["coef"] for c in cols])
            mean = np.array([c["mean"] for c in cols])
            parts = (Z - mean) * coef
            for j, c in enumerate(cols):
                out[c["feature"]] = out[c["feature"]].to_numpy() + parts[:, j]
            bias = bias + float(coef @ mean)
        out["bias"] = bias
        return out

    def coefficient_table(self) -> pd.DataFrame:
        """feature, label, coefficient (log-odds per SD / per level), odds ratio, 95% CI, p-value."""
        labels = {s.code: s.label for s in self.feature_specs_}
        rows = []
        for c in self.state_["columns"]:
            base = labels.get(c["feature"], c["feature"])
            if c["type"] == "numeric":
                per = "per SD of log(1 + x)" if c["transform"] == "log1p" else "per SD"
                label = base
            elif c["type"] == "missing":
                per, label = "missing vs present", f"{base} (missing)"
            else:
                per, label = f"vs {c['kept'][0]}", f"{base} = {c['level']}"
            lo, hi = c["coef"] - 1.959964 * c["se"], c["coef"] + 1.959964 * c["se"]
            rows.append(
                {
                    "feature": c["name"],
                    "label": label,
                    "code": c["feature"],
                    "coefficient": c["coef"],
                    "odds_ratio": float(np.exp(c["coef"])),
                    "ci_low": lo,
                    "ci_high": hi,
                    "odds_ratio_ci_low": float(np.exp(lo)),
                    "odds_ratio_ci_high": float(np.exp(hi)),
                    "p_value": c["p_value"],
                    "per": per,
                }
            )
        cols = [
            "feature",
            "label",
            "code",
            "coefficient",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "odds_ratio_ci_low",
            "odds_ratio_ci_high",
            "p_value",
            "per",
        ]
        df = pd.DataFrame(rows, columns=cols)
        return df.reindex(df["coefficient"].abs().sort_values(ascending=False).index).reset_index(
            drop=True
        )


# --------------------------------------------------------------------------- boosted
DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "max_bin": 255,
    "max_cat_to_onehot": 4,
    "force_col_wise": True,
    "deterministic": True,
    "verbosity": -1,
}


def _predict_threads(rows: int) -> int:
    """All cores for large predictions (deterministic either way), one for small ones."""
    return max(1, min(os.cpu_count() or 1, 8)) if rows >= 50_000 else 1


class BoostedPropensity(_Candidate):
    """LightGBM gradient-boosted trees with native categoricals.

    Boosting stops early on the inner hold-out (the latest training cutoff); the final model
    is refit on every training row with that number of rounds. Categorical levels are
    encoded with the levels seen in training (unseen levels count as missing), so scoring
    does not depend on the pandas category order of new data.

    `num_threads` defaults to 1: results are reproducible, and on a busy two-core machine
    LightGBM's OpenMP threads spin-wait so badly that two threads ran ten times slower than one
    (CDNOW: 42 s vs 3.5 s). Raise it on a quiet machine with more cores.
    """

    name = "boosted"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="auto",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        num_threads: int = 1,
        max_rounds: int = 2000,
        early_stopping_rounds: int = 50,
        params: dict[str, Any] | None = None,
    ):
        super().__init__(specs, calibrate=calibrate, ece_threshold=ece_threshold, seed=seed)
        self.num_threads = num_threads
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.params = params

    def _param_names(self):
        return super()._param_names() + [
            "num_threads",
            "max_rounds",
            "early_stopping_rounds",
            "params",
        ]

    def _lgb_params(self) -> dict[str, Any]:
        p = dict(DEFAULT_LGB_PARAMS)
        p.update(self.params or {})
        p.update({"seed": self.seed, "num_threads": self.num_threads})
        return p

    @staticmethod
    def _levels(X: pd.DataFrame, specs) -> dict[str, list[str]]:
        out = {}
        for s in specs:
            if s.kind == "categorical":
                vals = pd.Series(_as_strings(X[s.code])).dropna()
                counts = vals.value_counts()
                order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                out[s.code] = [lvl for lvl, _ in order][:1000]
        return out

    @staticmethod
    def _matrix(X: pd.DataFrame, specs, levels: dict[str, list[str]]) -> np.ndarray:
        M = np.empty((len(X), len(specs)), dtype=float)
        for j, s in enumerate(specs):
            if s.kind == "categorical":
                idx = _level_codes(X[s.code], levels[s.code])
                M[:, j] = np.where(idx < 0, np.nan, idx)
            else:
                M[:, j] = pd.to_numeric(X[s.code], errors="coerce").to_numpy(dtype=float)
        return M

    def _fit_two_stage(self, X, y, hold):
        """Bin the training rows once; boost on the older cutoffs with early stopping on the
        hold-out (the latest training cutoff), then refit every row with that many rounds."""
        import lightgbm as lgb

        specs = self.feature_specs_
        levels = self._levels(X, specs)  # an encoding only: no outcome information
        names = [f"f{j}" for j in range(len(specs))]
        cats = [j for j, s in enumerate(specs) if s.kind == "categorical"]
        params = self._lgb_params()
        M = self._matrix(X, specs, levels)
        full = lgb.Dataset(
            M,
            label=y,
            feature_name=names,
            categorical_feature=cats,
            free_raw_data=False,
            params=params,
        ).construct()
        inner_rows, hold_rows = np.flatnonzero(~hold), np.flatnonzero(hold)
        train, valid = full.subset(inner_rows), full.subset(hold_rows)
        booster = lgb.train(
            params,
            train,
            num_boost_round=self.max_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        rounds = int(booster.best_iteration or booster.current_iteration())
        s_hold = booster.predict(M[hold_rows], raw_score=True, num_iteration=rounds)
        final = lgb.train(params, full, num_boost_round=rounds)
        # the in-memory model is the one its own text describes, so a saved copy predicts the same
        final = lgb.Booster(model_str=final.model_to_string())
        self.notes_.append(f"boosted: {rounds} rounds chosen by early stopping on the hold-out")
        return s_hold, {"booster": final, "levels": levels, "rounds": rounds}

    def _decision(self, state, X):
        M = self._matrix(X, self.feature_specs_, state["levels"])
        return state["booster"].predict(M, raw_score=True, num_threads=_predict_threads(len(M)))

    def _contrib(self, state, X):
        from workbench.treeshap import lightgbm_contributions

        M = self._matrix(X, self.feature_specs_, state["levels"])
        # TreeSHAP dominates scoring time at scale; it parallelises over rows, unlike small fits,
        # and per tree only the rows' distinct split patterns need evaluating (see treeshap).
        C = lightgbm_contributions(state["booster"], M, num_threads=_predict_threads(len(M)))
        return pd.DataFrame(C, columns=[s.code for s in self.feature_specs_] + ["bias"])

    def importance_table(self) -> pd.DataFrame:
        """LightGBM global importance: feature, label, gain, split (sorted by gain)."""
        b = self.state_["booster"]
        df = pd.DataFrame(
            {
                "feature": [s.code for s in self.feature_specs_],
                "label": [s.label for s in self.feature_specs_],
                "gain": b.feature_importance("gain").astype(float),
                "split": b.feature_importance("split").astype(int),
            }
        )
        return df.sort_values(["gain", "feature"], ascending=[False, True]).reset_index(drop=True)

    def _state_files(self):
        meta = {"levels": self.state_["levels"], "rounds": self.state_["rounds"]}
        return {
            "lightgbm.txt": self.state_["booster"].model_to_string(),
            "parameters.json": json.dumps(meta, indent=1),
        }

    def _load_state(self, files):
        import lightgbm as lgb

        meta = _validate_plain(json.loads(files["parameters.json"]))
        levels = meta["levels"]
        if not isinstance(levels, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in levels.values()
        ):
            raise ValueError("levels must map feature codes to lists of strings")
        try:
            booster = lgb.Booster(model_str=files["lightgbm.txt"])
        except Exception as exc:  # LightGBM's C parser reports bad text as LightGBMError
            raise ValueError(f"lightgbm.txt is not a LightGBM model ({exc})") from None
        if booster.num_feature() != len(self.feature_specs_):
            raise ValueError("lightgbm.txt has a different number of features")
        self.state_ = {"booster": booster, "levels": levels, "rounds": int(meta["rounds"])}


# --------------------------------------------------------------------------- recency rule
class RecencyRule(_Candidate):
    """Baseline: the days since the last event, through a 1-D logistic fit.

    The slope's sign comes from the training rows: for "will purchase" goals recent profiles
    score higher, for churn goals ("will not purchase") long-silent ones do. Profiles with no
    event at all (missing) are treated as one day older than the oldest seen in training.
    """

    name = "recency_rule"

    def __init__(self, specs=None, *, calibrate="never", ece_threshold=ECE_THRESHOLD, seed=42):
        # its probability already is a logistic fit on the one feature
        super().__init__(specs, calibrate=calibrate, ece_threshold=ece_threshold, seed=seed)

    def _select_specs(self, X):
        specs = list(self.specs) if self.specs is not None else _specs_from_frame(X)
        spec = next((s for s in specs if s.code == RECENCY_FEATURE), None)
        if spec is None:
            spec = FeatureSpec(RECENCY_FEATURE, "Days since the last event")
        if RECENCY_FEATURE not in X.columns:
            raise DataError(f"recency_rule: the frame has no '{RECENCY_FEATURE}' column")
        return [spec]

    def _fit_state(self, X, y, X_eval, y_eval, inner):
        d = pd.to_numeric(X[RECENCY_FEATURE], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(d)
        fill = float(np.max(d[ok]) + 1) if ok.any() else 0.0
        z = -np.where(ok, d, fill)
        center, scale = float(z.mean()), float(z.std()) or 1.0
        zs = (z - center) / scale
        cal = _fit_1d_logistic(zs, y.astype(float), increasing=False)
        if cal["method"] == "platt":
            a, b = cal["a"], cal["b"]
        else:  # degenerate data: the base rate for everyone
            rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
            a, b = float(np.log(rate / (1 - rate))), 0.0
        return {
            "fill": fill,
            "center": center,
            "scale": scale,
            "a": a,
            "b": b,
            "mean": float(zs.mean()),
        }

    def _z(self, state, X):
        d = pd.to_numeric(X[RECENCY_FEATURE], errors="coerce").to_numpy(dtype=float)
        z = -np.where(np.isfinite(d), d, state["fill"])
        return (z - state["center"]) / state["scale"]

    def _decision(self, state, X):
        return state["a"] + state["b"] * self._z(state, X)

    def _contrib(self, state, X):
        z = self._z(state, X)
        return pd.DataFrame(
            {
                RECENCY_FEATURE: state["b"] * (z - state["mean"]),
                "bias": state["a"] + state["b"] * state["mean"],
            }
        )


CANDIDATES: dict[str, type[_Candidate]] = {
    "logistic": LogisticPropensity,
    "boosted": BoostedPropensity,
    "recency_rule": RecencyRule,
}


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


def _new_candidate(name: str, specs, config) -> _Candidate:
    cls = CANDIDATES[name]
    return cls(list(specs), seed=config.training.seed)


def compare_models(snapshots: pd.DataFrame, specs: list[FeatureSpec], config) -> Comparison:
    """Fit logistic, boosted and the recency rule on the training snapshots (every cutoff but
    the newest) and judge them on the validation snapshot (the newest cutoff)."""
    _check_snapshots(snapshots, specs)
    cutoffs = sorted(pd.Series(snapshots["cutoff"]).dropna().unique())
    if len(cutoffs) < 2:
        raise NotReadyError(
            [
                f"only {len(cutoffs)} cutoff in the snapshots; at least 2 are needed (training and "
                "validation): raise training.snapshots or give more history"
            ]
        )
    val_cut = cutoffs[-1]
    is_val = (snapshots["cutoff"] == val_cut).to_numpy()
    train_all = snapshots.loc[~is_val]
    val = snapshots.loc[is_val].reset_index(drop=True)
    _require_both_classes(_labels(train_all["label"]), "training snapshots")
    _require_both_classes(_labels(val["label"]), "validation snapshot")
    train, sampled = _sample_training(train_all, config.training.max_rows, config.training.seed)
    train = train.reset_index(drop=True)
    codes = [s.code for s in specs]
    y_tr, y_val = _labels(train["label"]), _labels(val["label"]).astype(int)

    names = ["logistic", "boosted"]
    quality_msgs: list[str] = []
    if RECENCY_FEATURE in snapshots.columns:
        names.append("recency_rule")
    else:
        quality_msgs.append(f"no '{RECENCY_FEATURE}' column: the recency baseline was skipped")

    candidates: dict[str, _Candidate] = {}
    rows: dict[str, dict] = {}
    preds = (
        val[["profile_id", "cutoff", "label"]].copy()
        if "profile_id" in val
        else val[["cutoff", "label"]].copy()
    )
    calibration: dict[str, dict] = {}
    for name in names:
        model = _new_candidate(name, specs, config)
        t0 = time.perf_counter()
        model.fit(train[codes], y_tr, train["cutoff"])
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        raw = model.decision_function(val)
        p = _apply_calibrator(model.calibrator_, raw)
        pred_s = time.perf_counter() - t0
        m = score_metrics(y_val, p)
        ece_raw = expected_calibration_error(y_val, expit(raw))
        m.update({"fit_seconds": round(fit_s, 3), "predict_seconds": round(pred_s, 3)})
        rows[name] = m
        calibration[name] = {
            **model.calibration_,
            "validation_ece_raw": float(ece_raw),
            "validation_ece": m["ece"],
        }
        preds[name] = p
        candidates[name] = model

    champion = choose_champion({k: v["roc_auc"] for k, v in rows.items()})
    rec_auc = rows.get("recency_rule", {}).get("roc_auc", -np.inf)
    for name, m in rows.items():
        m["beats_recency"] = bool(name != "recency_rule" and m["roc_auc"] > rec_auc)
        if name != "recency_rule" and "recency_rule" in rows and not m["beats_recency"]:
            quality_msgs.append(
                f"{name}: validation ROC AUC {m['roc_auc']:.3f} does not beat the recency rule "
                f"({rec_auc:.3f})"
            )
    champ_auc = rows[champion]["roc_auc"]
    poor = bool(champ_auc < POOR_AUC)
    if poor:
        quality_msgs.insert(
            0,
            (
                f"poor quality: the champion's validation ROC AUC is {champ_auc:.3f} (below "
                f"{POOR_AUC}); to improve it, {POOR_REMEDIES}"
            ),
        )
    ci_low, ci_high = rows[champion]["roc_auc_ci_low"], rows[champion]["roc_auc_ci_high"]
    uncertain = bool(
        int(y_val.sum()) < MIN_RELIABLE_POSITIVES
        or not np.isfinite(ci_low)
        or ci_high - ci_low > MAX_RELIABLE_AUC_INTERVAL
    )
    if uncertain:
        interval = (
            f"a 95% interval of {ci_low:.3f} to {ci_high:.3f}"
            if np.isfinite(ci_low)
            else "no usable interval"
        )
        quality_msgs.insert(
            int(poor),
            (
                f"uncertain: with {int(y_val.sum())} positives among {len(y_val)} validation "
                f"profiles the champion's ROC AUC {champ_auc:.3f} has {interval}; differences "
                "between models smaller than that are noise. More history, more snapshots "
                "(training.snapshots) or a longer goal window add positives"
            ),
        )
    if calibration[champion]["calibrated"]:
        quality_msgs.append(
            f"{champion}: probabilities were recalibrated on held-out training data "
            f"(validation ECE {calibration[champion]['validation_ece_raw']:.3f} raw, "
            f"{calibration[champion]['validation_ece']:.3f} calibrated)"
        )

    cols = [
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
    board = pd.DataFrame.from_dict(rows, orient="index")[cols]
    board.index.name = "model"
    board["beats_recency"] = board["beats_recency"].astype(bool)

    def _iso(ts) -> str:
        return pd.Timestamp(ts).date().isoformat()

    as_of = config.scoring.as_of.isoformat() if config.scoring.as_of else None
    train_cuts = sorted(train_all["cutoff"].unique())
    metrics = {
        "as_of": as_of,
        "goal": config.goal.model_dump(mode="json"),
        "champion": champion,
        "models": {
            k: {c: (bool(v) if c == "beats_recency" else float(v)) for c, v in rows[k].items()}
            for k in rows
        },
        "validation": {
            "cutoff": _iso(val_cut),
            "profiles": int(len(val)),
            "positives": int(y_val.sum()),
        },
        "training": {
            "cutoffs": [_iso(c) for c in train_cuts],
            "rows": int(len(train)),
            "positives": int(y_tr.sum()),
            "rows_available": int(len(train_all)),
            "sampled": sampled,
            "max_rows": int(config.training.max_rows),
            "seed": int(config.training.seed),
        },
        "readiness": {},
        "quality": {"poor": poor, "uncertain": uncertain, "messages": quality_msgs},
        "calibration": calibration,
        "notes": {k: list(c.notes_) for k, c in candidates.items()},
    }
    if sampled:
        metrics["training"]["sampling"] = (
            f"{len(train_all)} training rows exceed training.max_rows={config.training.max_rows}: "
            f"a stratified sample by (cutoff, label) of {len(train)} rows was used "
            f"(seed {config.training.seed})"
        )
    return Comparison(
        leaderboard=board,
        candidates=candidates,
        champion=champion,
        validation_predictions=preds,
        coefficients=candidates["logistic"].coefficient_table(),
        importance=candidates["boosted"].importance_table(),
        metrics=metrics,
    )


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


# --------------------------------------------------------------------------- persistence
def _validate_plain(obj: Any, depth: int = 0) -> Any:
    """Accept only JSON data (dict/list/str/number/bool/None), nested at most 20 deep."""
    if depth > 20:
        raise ValueError("nested too deeply")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError("keys must be text")
            _validate_plain(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _validate_plain(v, depth + 1)
    elif not isinstance(obj, (str, int, float, bool)) and obj is not None:
        raise ValueError(f"unexpected value of type {type(obj).__name__}")
    return obj


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _feature_entries(model) -> list[dict]:
    levels = {}
    st = getattr(model, "state_", {})
    if isinstance(st, dict) and "levels" in st:
        levels = st["levels"]
    elif isinstance(st, dict) and "columns" in st:
        for c in st["columns"]:
            if c["type"] == "dummy":
                levels[c["feature"]] = list(c["kept"])
    return [
        {"code": s.code, "kind": s.kind, "levels": levels.get(s.code)} for s in model.feature_specs_
    ]


def save_model(model, specs, config, directory: str | Path) -> Path:
    """Write a fitted candidate to `directory` as plain files (no pickle) and a manifest.

    Files: `parameters.json` (+ `lightgbm.txt` for boosted), `calibrator.json`,
    `feature_spec.json`, `config.yaml` and `model.json` (kind, version, features with their
    kinds and category levels, sha256 of every file).
    """
    import yaml

    from workbench import __version__

    if not hasattr(model, "state_"):
        raise ValueError("save_model: the model is not fitted")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(model._state_files())
    files["calibrator.json"] = json.dumps(
        {
            "calibrator": model.calibrator_,
            "calibration": model.calibration_,
            "notes": list(model.notes_),
        },
        indent=1,
    )
    files["feature_spec.json"] = json.dumps(
        [
            {"code": s.code, "label": s.label, "kind": s.kind, "family": s.family, "unit": s.unit}
            for s in model.feature_specs_
        ],
        indent=2,
    )
    files["all_feature_spec.json"] = json.dumps(
        [
            {"code": s.code, "label": s.label, "kind": s.kind, "family": s.family, "unit": s.unit}
            for s in (specs or model.feature_specs_)
        ],
        indent=2,
    )
    cfg = config.to_yaml_dict() if config is not None else {}
    files["config.yaml"] = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.name,
        "workbench_version": __version__,
        "saved_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "features": _feature_entries(model),
        "files": {name: _sha256(text) for name, text in sorted(files.items())},
    }
    path = directory / "model.json"
    path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


_REQUIRED_FILES = {
    "logistic": ["parameters.json"],
    "boosted": ["parameters.json", "lightgbm.txt"],
    "recency_rule": ["parameters.json"],
}
_KNOWN_FILES = {
    "parameters.json",
    "lightgbm.txt",
    "calibrator.json",
    "feature_spec.json",
    "all_feature_spec.json",
    "config.yaml",
}


def load_model(directory: str | Path):
    """Load a model saved by `save_model`: plain data only (no pickle, no eval).

    Every file's sha256 must match the manifest; anything else raises `ModelMismatchError`.
    """
    directory = Path(directory)
    mpath = directory / "model.json"
    if not mpath.exists():
        raise ModelMismatchError(f"{mpath}: no saved model here (model.json is missing)")
    try:
        manifest = _validate_plain(json.loads(mpath.read_text(encoding="utf-8")))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError("not a propensity-workbench model manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {manifest.get('format_version')!r}")
        kind = manifest.get("kind")
        if kind not in CANDIDATES:
            raise ValueError(f"unknown model kind {kind!r}")
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise ValueError("'files' must map file names to sha256 digests")
        need = _REQUIRED_FILES[kind] + ["calibrator.json", "feature_spec.json"]
        for name in need:
            if name not in listed:
                raise ValueError(f"{name} is not listed in the manifest")
        texts: dict[str, str] = {}
        for name, digest in listed.items():
            if name not in _KNOWN_FILES:
                raise ValueError(f"unexpected file {name!r} in the manifest")
            fpath = directory / name
            if not fpath.exists():
                raise ValueError(f"{name} is missing")
            text = fpath.read_text(encoding="utf-8")
            if _sha256(text) != digest:
                raise ValueError(f"{name} was changed after the model was saved (sha256 mismatch)")
            texts[name] = text
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelMismatchError(f"{directory}: cannot load the saved model: {exc}") from None
    try:
        specs_raw = _validate_plain(json.loads(texts["feature_spec.json"]))
        specs = [
            FeatureSpec(
                code=str(d["code"]),
                label=str(d["label"]),
                kind=d["kind"],
                family=str(d.get("family", "event")),
                unit=str(d.get("unit", "")),
            )
            for d in specs_raw
        ]
        if any(s.kind not in ("numeric", "categorical") for s in specs):
            raise ValueError("feature kinds must be numeric or categorical")
        feats = manifest.get("features") or []
        if [(f.get("code"), f.get("kind")) for f in feats] != [(s.code, s.kind) for s in specs]:
            raise ValueError("feature_spec.json does not match the manifest's features")
        model = CANDIDATES[kind](specs)
        model.feature_specs_ = specs
        cal = _validate_plain(json.loads(texts["calibrator.json"]))
        c = cal["calibrator"]
        if c.get("method") == "platt":
            c = {"method": "platt", "a": float(c["a"]), "b": float(c["b"])}
        elif c.get("method") == "none":
            c = {"method": "none"}
        else:
            raise ValueError(f"unknown calibrator {c.get('method')!r}")
        model.calibrator_ = c
        model.calibration_ = cal.get("calibration", {})
        model.notes_ = list(cal.get("notes", []))
        model._load_state(texts)
        _check_state(model)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelMismatchError(f"{directory}: the saved model is not valid: {exc}") from None
    return model


def _check_state(model) -> None:
    st = model.state_
    if isinstance(model, LogisticPropensity):
        float(st["intercept"])
        codes = {s.code for s in model.feature_specs_}
        for c in st["columns"]:
            if c["feature"] not in codes or c["type"] not in ("numeric", "missing", "dummy"):
                raise ValueError(f"bad design column {c.get('name')!r}")
            for k in ("coef", "mean"):
                float(c[k])
            if c["type"] == "numeric":
                if c["transform"] not in ("identity", "log1p"):
                    raise ValueError("bad transform")
                for k in ("median", "center", "scale"):
                    float(c[k])
    elif isinstance(model, RecencyRule):
        for k in ("fill", "center", "scale", "a", "b", "mean"):
            float(st[k])


def check_feature_match(model, frame: pd.DataFrame) -> None:
    """Raise `ModelMismatchError` naming missing, extra or wrong-kind feature columns."""
    specs = model.feature_specs_
    want = {s.code: s.kind for s in specs}
    have = [c for c in frame.columns if c not in ID_COLUMNS]
    missing = [c for c in want if c not in frame.columns]
    extra = [c for c in have if c not in want]
    if isinstance(model, RecencyRule):
        extra = []  # the rule reads one column and ignores the rest
    wrong = []
    for code, kind in want.items():
        if code not in frame.columns:
            continue
        col = frame[code]
        is_cat = isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            col
        )
        if (kind == "numeric") == is_cat:
            wrong.append(f"{code} (expected {kind}, got {col.dtype})")
    parts = []
    if missing:
        parts.append(f"missing column(s) {missing}")
    if extra:
        parts.append(f"extra column(s) {extra}")
    if wrong:
        parts.append(f"wrong kind: {', '.join(wrong)}")
    if parts:
        raise ModelMismatchError(
            f"the {model.name} model does not match this frame: " + "; ".join(parts)
        )
