"""The shared base of the model candidates: scikit-learn manners, the inner time-based hold-out,
calibration, and the helpers every candidate uses to read a snapshot frame.

Each candidate (`LogisticPropensity`, `BoostedPropensity`, `RecencyRule`) implements
`_fit_state`, `_decision`, `_contrib` and the JSON state round trip; this base turns them into
`fit` (with the hold-out and the calibrator), `raw_score`, `decision_function`, `predict_proba`,
`contributions` and the persisted files.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from workbench.errors import DataError, ModelMismatchError, NotReadyError
from workbench.features import FeatureSpec
from workbench.modeling.metrics import expected_calibration_error

ID_COLUMNS = ("profile_id", "cutoff", "label")

ECE_THRESHOLD = 0.03  # above this held-out calibration error, a Platt calibrator is fitted


# --------------------------------------------------------------------------- helpers
def _labels(y) -> np.ndarray:
    """The goal label as 0/1 (int8): 0/1 as the snapshots hold it, or any two classes (the
    second in sorted order counts as 1, as in scikit-learn)."""
    if y is None:
        raise DataError("label: requires y to be passed, but the target y is None")
    arr = _one_column(y)
    if len(arr) and np.isin(arr, (0, 1)).all():
        return arr.astype(np.int8)
    return _encode_labels(arr)[1]


def _encode_labels(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, 0/1 codes) of a binary target; other targets are refused in scikit-learn's words."""
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(arr, input_name="y")
    if kind == "continuous":
        raise DataError("label: Unknown label type: continuous; expected the goal's 0/1 outcome")
    if kind not in ("binary", "multiclass"):
        raise DataError(f"label: Unknown label type: {kind}; expected the goal's 0/1 outcome")
    classes, codes = np.unique(arr, return_inverse=True)
    if len(classes) > 2:
        raise DataError(
            f"label: Only binary classification is supported ({len(classes)} classes); "
            "a goal label is 0/1"
        )
    return classes, codes.astype(np.int8)


def _one_column(y) -> np.ndarray:
    """y as 1-D; a single column (n, 1) is flattened with scikit-learn's warning."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        import warnings

        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected.",
            DataConversionWarning,
            stacklevel=3,
        )
        arr = arr.ravel()
    if arr.ndim != 1:
        raise DataError("label: expected one 0/1 value per row (a 1-D array)")
    return arr


def _classes(y) -> np.ndarray:
    arr = _one_column(y) if y is not None else None
    if arr is not None and arr.ndim == 1 and len(arr) and not np.isin(arr, (0, 1)).all():
        return _encode_labels(arr)[0]
    return np.array([0, 1])


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


def _as_frame(X) -> pd.DataFrame:
    """A DataFrame of feature columns. Anything else is checked as scikit-learn does
    (`check_array`: 2-D, not sparse, numeric, not empty; NaN allowed) and its columns are
    named `x0, x1, ...`."""
    if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
        if len(X) == 0:
            raise DataError("features: 0 rows (an empty table cannot be fitted or scored)")
        return X
    from sklearn.utils import check_array

    arr = check_array(X, accept_sparse=False, dtype="numeric", ensure_all_finite="allow-nan")
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


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


def _calibrated_logit(cal: dict | None, score: np.ndarray) -> np.ndarray:
    """The calibrated log-odds of raw scores (a monotone map, so rankings are unchanged)."""
    if not cal or cal.get("method") == "none":
        return score
    return cal["a"] + cal["b"] * score


def _apply_calibrator(cal: dict | None, score: np.ndarray) -> np.ndarray:
    if not cal or cal.get("method") == "none":
        return expit(score)
    return expit(cal["a"] + cal["b"] * score)


# --------------------------------------------------------------------------- base class
class PropensityModel(ClassifierMixin, BaseEstimator):
    """The base of every candidate: a scikit-learn binary classifier of the goal label.

    `fit(X, y, cutoffs=None)` returns `self`; `predict_proba` gives (n, 2) probabilities of
    classes 0 and 1 (`classes_`), `propensity` the calibrated P(label = 1) alone,
    `decision_function` its log-odds, `raw_score` the model's own log-odds before calibration
    and `contributions` their additive explanation (rows sum to `raw_score`).
    `get_params`/`set_params` come from `BaseEstimator`, so `sklearn.base.clone`,
    `cross_val_score(..., scoring="roc_auc")` and pipelines work. `X` is a DataFrame of the
    feature codes (an array is accepted and named `x0, x1, ...`). Subclasses implement
    `_fit_state`, `_decision`, `_contrib` and the JSON state round trip.
    """

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing feature is information, not an error
        tags.input_tags.categorical = True
        tags.classifier_tags.multi_class = False
        return tags

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
        X = _as_frame(X)
        classes = _classes(y)
        y = _labels(y)
        if len(y) != len(X):
            raise DataError(f"{self.name}: {len(X)} feature rows but {len(y)} labels")
        _require_both_classes(y, "training snapshots")
        specs = self._select_specs(X)
        self.feature_specs_ = specs
        self.classes_ = classes
        self.n_features_in_ = len(specs)
        self.feature_names_in_ = np.array([s.code for s in specs], dtype=object)
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
        check_is_fitted(self, "state_")
        arrayed = not isinstance(X, pd.DataFrame)
        X = _as_frame(X)
        if arrayed and X.shape[1] != self.n_features_in_:
            raise ModelMismatchError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        codes = [s.code for s in self.feature_specs_]
        missing = [c for c in codes if c not in X.columns]
        if missing:
            raise ModelMismatchError(f"{self.name}: feature column(s) missing: {missing}")
        return X[codes].reset_index(drop=True)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The model's own log-odds before calibration: what `contributions` add up to."""
        frame = self._frame(X)  # checks the model is fitted first
        return self._decision(self.state_, frame)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds, so that `predict` is `decision_function > 0` (scikit-learn)."""
        raw = self.raw_score(X)  # checks the model is fitted first
        return _calibrated_logit(self.calibrator_, raw)

    def propensity(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(label = 1), one value per row: the score a profile gets."""
        raw = self.raw_score(X)
        return _apply_calibrator(self.calibrator_, raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 2): the probabilities of classes 0 and 1 (`classes_`), as scikit-learn expects."""
        p = self.propensity(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the propensity is at least one half (scikit-learn's default decision)."""
        positive = self.propensity(X) >= 0.5
        return self.classes_[positive.astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per feature code plus `bias`; rows sum to `raw_score(X)`."""
        frame = self._frame(X)
        out = self._contrib(self.state_, frame)
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
