"""The baseline: days since the last event through a one-feature logistic fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import DataError
from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling.base import (
    ECE_THRESHOLD,
    PropensityModel,
    _fit_1d_logistic,
    _specs_from_frame,
)


# --------------------------------------------------------------------------- recency rule
class RecencyRule(PropensityModel):
    """Baseline: the days since the last event, through a 1-D logistic fit.

    The slope's sign comes from the goal, not the data: for "will purchase" goals recent
    profiles score higher, for churn goals ("will not purchase") long-silent ones do, so a few
    rows of short history cannot turn it round (a slope the data would reverse becomes 0: the
    base rate). Profiles with no event at all (missing) are treated as one day older than the
    oldest seen in training, and days past the training range as its edge.
    """

    name = "recency_rule"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="never",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        direction=1,
        window_days=None,
    ):
        # its probability already is a logistic fit on the one feature
        super().__init__(
            specs,
            calibrate=calibrate,
            ece_threshold=ece_threshold,
            seed=seed,
            direction=direction,
            window_days=window_days,
        )

    def _select_specs(self, X):
        specs = list(self.specs) if self.specs is not None else _specs_from_frame(X)
        spec = next((s for s in specs if s.code == RECENCY_FEATURE), None)
        if spec is None:
            spec = FeatureSpec(RECENCY_FEATURE, "Days since the last event", direction=-1)
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
        sign = -1.0 if self.direction < 0 else 1.0  # recent: higher for occurs, lower for churn
        fit = _fit_1d_logistic(sign * zs, y.astype(float), increasing=True)
        if fit["method"] == "platt":
            a, b = fit["a"], sign * fit["b"]
        else:  # degenerate data, or a slope against the goal: the base rate for everyone
            rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
            a, b = float(np.log(rate / (1 - rate))), 0.0
        return {
            "lo": float(np.min(d[ok])) if ok.any() else 0.0,
            "hi": fill,
            "fill": fill,
            "center": center,
            "scale": scale,
            "a": a,
            "b": b,
            "mean": float(zs.mean()),
        }

    def _z(self, state, X):
        d = pd.to_numeric(X[RECENCY_FEATURE], errors="coerce").to_numpy(dtype=float)
        d = np.where(np.isfinite(d), d, state["fill"])
        if "lo" in state:  # no extrapolation past the training range
            d = np.clip(d, state["lo"], state["hi"])
        return (-d - state["center"]) / state["scale"]

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
