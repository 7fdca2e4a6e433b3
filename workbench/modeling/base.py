"""The shared base of the model candidates: scikit-learn manners, the inner time-based hold-out,
calibration, and the helpers every candidate uses to read a snapshot frame.

Each candidate (`LogisticPropensity`, `BoostedPropensity`, `RecencyRule`) implements
`_fit_state`, `_decision`, `_contrib` and the JSON state round trip; this base turns them into
`fit` (with the hold-out and the calibrator), `raw_score`, `decision_function`, `predict_proba`,
`contributions` and the persisted files.

Calibration (none or Platt, fitted on held-out rows only) lives in `calibration`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from workbench.errors import DataError, ModelMismatchError, NotReadyError
from workbench.features import FeatureSpec
from workbench.modeling.calibration import (
    apply_calibrator,
    calibrated_logit,
    fit_1d_logistic,
    fit_calibrators,
)
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


def _inner_holdout(
    y: np.ndarray, cutoffs, seed: int, window_days: int | None = None
) -> tuple[np.ndarray, str, np.ndarray]:
    """(hold, how, inner): the rows that stop boosting and fit the calibrators (the latest
    training cutoff, else a stratified 20%) and the rows the first model trains on.

    With `window_days` (the goal's outcome window) the first model trains only on cutoffs whose
    outcome window closes by the hold-out cutoff: with cutoffs every two weeks, adjacent cutoffs
    share most of an outcome window, and early stopping against rows whose labels overlap the
    hold-out's ran on (Online Retail: 10x the rounds, a lower fold AUC)."""
    if cutoffs is not None:
        c = pd.Series(pd.to_datetime(pd.Series(cutoffs).reset_index(drop=True)))
        if len(c) == len(y) and c.nunique() >= 2:
            latest = c.max()
            hold = (c == latest).to_numpy()
            inner = ~hold
            if window_days:
                gap = (c + pd.Timedelta(days=window_days) <= latest).to_numpy()
                inner = gap if 0 < y[gap].sum() < gap.sum() else inner
            if 0 < y[hold].sum() < hold.sum() and 0 < y[inner].sum() < inner.sum():
                return (
                    hold,
                    f"latest training cutoff {pd.Timestamp(latest).date().isoformat()}",
                    inner,
                )
    rng = np.random.default_rng(seed)
    hold = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        k = int(round(0.2 * len(idx)))
        if k:
            hold[rng.choice(idx, size=k, replace=False)] = True
    return hold, "stratified 20% of the training rows", ~hold


# The calibration helpers, under the names the candidates have always used.
_fit_1d_logistic = fit_1d_logistic
_calibrated_logit = calibrated_logit
_apply_calibrator = apply_calibrator


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def training_ranges(X: pd.DataFrame, specs: list[FeatureSpec]) -> dict:
    """Per numeric feature, [min, max, mean] of the training rows: what the logistic and
    recency inputs are clipped to, and what a factor calls typical. The mean, not the median:
    contributions are centred on the average (a logistic term is coef * (x - mean), TreeSHAP's
    reference is the mean prediction), so a profile at the median of a skewed count (one
    purchase) is below what its contribution compares it with."""
    out = {}
    for s in specs:
        if s.kind != "numeric":
            continue
        v = pd.to_numeric(X[s.code], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(v)
        if ok.any():
            out[s.code] = [float(v[ok].min()), float(v[ok].max()), float(v[ok].mean())]
    return out


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
        direction: int = 1,
        window_days: int | None = None,
    ):
        self.specs = specs
        # "auto" (Platt when the held-out ECE is poor and it helps), "platt" ("always") or
        # "none" ("never"); compare_models chooses between none and Platt on the folds
        self.calibrate = calibrate
        self.ece_threshold = ece_threshold
        self.seed = seed
        self.direction = direction  # +1: an `occurs` goal, -1: `does_not_occur` (churn)
        self.window_days = window_days  # the outcome window: the inner hold-out's gap

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

    def fit(self, X: pd.DataFrame, y, cutoffs=None, *, holdout_model=None):
        """Fit on training rows; `cutoffs` (one per row) define the inner time-based hold-out.

        The latest training cutoff is held out: a first model, trained on the cutoffs whose
        outcome window closes by then (`window_days`), scores it out of time, which stops
        boosting and fits the calibrators (none and Platt, `calibrators_`); the model is then
        refit on every training row and keeps the calibrator `calibrate` asks for (as
        scikit-learn's `CalibratedClassifierCV(ensemble=False)`). `holdout_model`, a fitted model
        of the same kind and features trained on exactly those earlier cutoffs (the newest
        fold's model, for the final refit), plays the first model instead of being fitted again.
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
        self.ranges_ = training_ranges(X, specs)
        hold, how, inner = _inner_holdout(y, cutoffs, self.seed, self.window_days)
        if holdout_model is not None and [s.code for s in holdout_model.feature_specs_] != [
            s.code for s in specs
        ]:
            holdout_model = None  # other features: it cannot stand in for the first model
        s_hold, self.state_ = self._fit_two_stage(X, y, hold, inner, holdout_model)
        self._fit_calibration(self.aligned(s_hold, X[hold]), y[hold], how)
        return self

    def aligned(self, first_scores: np.ndarray, X_hold: pd.DataFrame) -> np.ndarray:
        """The first model's held-out scores moved to this model's level on the same rows.

        The final model trained on the hold-out's labels too, so its own scores there are in
        sample; a calibrator fitted on the first model's out-of-time scores and applied to the
        final model's would correct twice for whatever changed by the hold-out (CDNOW: -14%
        expected conversions). Moving those scores by the mean difference between the two
        models on the hold-out rows (features only, no labels) keeps the out-of-time level and
        maps it onto the final model's scale."""
        shift = float(np.mean(self.raw_score(X_hold) - first_scores)) if len(first_scores) else 0.0
        self.alignment_ = shift
        return first_scores + shift

    def _fit_calibration(self, s_hold: np.ndarray, y_hold: np.ndarray, how: str) -> None:
        """Fit every calibrator on the held-out raw scores and keep the one asked for."""
        self.calibrators_ = fit_calibrators(s_hold, y_hold)
        self.holdout_scores_ = (s_hold, y_hold)  # for the blend; not persisted
        self._holdout_ece = {
            m: float(expected_calibration_error(y_hold, apply_calibrator(c, s_hold)))
            for m, c in self.calibrators_.items()
        }
        self.calibration_ = {
            "holdout": how,
            "holdout_rows": int(len(y_hold)),
            # scored by a first model none of whose labels overlap the hold-out's
            "out_of_time": how.startswith(("latest training cutoff", "validation origin"))
            and "without" not in how,
        }
        method = {"always": "platt", "never": "none"}.get(self.calibrate, self.calibrate)
        if method == "auto":
            raw = self._holdout_ece["none"]
            helps = self._holdout_ece["platt"] < raw
            method = "platt" if raw > self.ece_threshold and helps else "none"
        self.use_calibration(method)

    def use_calibration(self, method: str) -> PropensityModel:
        """Keep the calibrator `method` ("none" or "platt") of those fitted on the hold-out (the
        choice made on the folds); a Platt fit that failed leaves the raw probabilities."""
        cal = self.calibrators_.get(method, {"method": "none"})
        self.calibrator_ = cal
        self.calibration_ = {
            **self.calibration_,
            "holdout_ece_raw": self._holdout_ece["none"],
            "holdout_ece_calibrated": self._holdout_ece.get(cal["method"], float("nan")),
            "calibrated": cal["method"] != "none",
            "method": cal["method"],
        }
        return self

    def _directions(self) -> dict[str, int]:
        """Per feature code, the direction the goal fixes (+1 more raises, -1 more lowers)."""
        return {s.code: int(s.direction) * int(self.direction) for s in self.feature_specs_}

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
    def _fit_two_stage(self, X, y, hold, inner_rows, holdout_model=None):
        """The first model scores the hold-out; the final one is fitted on every row."""
        Xh = X[hold].reset_index(drop=True)
        if holdout_model is not None:
            first = holdout_model.state_
            s_hold = holdout_model.raw_score(Xh)
        else:
            Xi = X[inner_rows].reset_index(drop=True)
            first = self._fit_state(Xi, y[inner_rows], Xh, y[hold], inner=None)
            s_hold = self._decision(first, Xh)
        return s_hold, self._fit_state(X, y, None, None, inner=first)

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
