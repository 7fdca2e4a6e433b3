"""The blended candidate: the average of the calibrated logistic and boosted models.

Kept only when it wins clearly on the fold mean (`selection.BLEND_MARGIN`): on CDNOW its
realised AUC was the steadiest, but it rarely beats the better of its parts by much.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from workbench.modeling.base import ECE_THRESHOLD, PropensityModel, _validate_plain
from workbench.modeling.boosted import BoostedPropensity
from workbench.modeling.logistic import LogisticPropensity


class BlendPropensity(PropensityModel):
    """The mean of the Platt-calibrated log-odds of a logistic and a boosted model fitted on
    the same rows (and so on the same hold-out).

    Each part's Platt map is linear in its raw score, so the blend's raw score and
    contributions stay exact sums: each part's contributions weighted by half its Platt slope,
    the offsets in the bias. The blend is then calibrated on the hold-out like any candidate.
    `logistic` / `boosted`: keyword arguments of the parts (e.g. `{"monotone": False}`).
    """

    name = "blend"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="auto",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        direction=1,
        window_days=None,
        logistic: dict[str, Any] | None = None,
        boosted: dict[str, Any] | None = None,
    ):
        super().__init__(
            specs,
            calibrate=calibrate,
            ece_threshold=ece_threshold,
            seed=seed,
            direction=direction,
            window_days=window_days,
        )
        self.logistic = logistic
        self.boosted = boosted

    def fit(self, X, y, cutoffs=None, *, holdout_model=None):
        """Fit both parts on the same rows (each reusing its part of `holdout_model`)."""
        common = {
            "calibrate": "none",
            "seed": self.seed,
            "direction": self.direction,
            "window_days": self.window_days,
        }
        first = holdout_model.state_["parts"] if holdout_model is not None else {}
        specs = self._select_specs(X)
        parts = {}
        for name, cls, extra in (
            ("logistic", LogisticPropensity, self.logistic),
            ("boosted", BoostedPropensity, self.boosted),
        ):
            part = cls(specs, **{**common, **(extra or {})})
            parts[name] = part.fit(X, y, cutoffs, holdout_model=first.get(name))
        return self._combine(parts["logistic"], parts["boosted"])

    @classmethod
    def from_parts(cls, logistic_model, boosted_model, **params) -> BlendPropensity:
        """The blend of two candidates already fitted on the same rows (a fold's); `params`
        are the blend's own (what a later refit of its kind uses)."""
        blend = cls(list(logistic_model.feature_specs_), **params)
        return blend._combine(logistic_model, boosted_model)

    def _combine(self, logistic, boosted) -> BlendPropensity:
        self.feature_specs_ = list(logistic.feature_specs_)
        self.classes_ = logistic.classes_
        self.n_features_in_ = logistic.n_features_in_
        self.feature_names_in_ = logistic.feature_names_in_
        self.ranges_ = dict(logistic.ranges_)
        self.notes_ = list(logistic.notes_) + list(boosted.notes_)
        (a_l, b_l), (a_b, b_b) = _platt(logistic), _platt(boosted)
        self.state_ = {
            "parts": {"logistic": logistic, "boosted": boosted},
            "offset": 0.5 * (a_l + a_b),
            "weights": {"logistic": 0.5 * b_l, "boosted": 0.5 * b_b},
        }
        (s_l, y), (s_b, _) = logistic.holdout_scores_, boosted.holdout_scores_
        s_hold = self.blend_scores(s_l, s_b)
        self._fit_calibration(s_hold, y, logistic.calibration_["holdout"])
        return self

    def blend_scores(self, logistic_raw: np.ndarray, boosted_raw: np.ndarray) -> np.ndarray:
        """The blend's raw score from its parts' raw scores (already computed for these rows)."""
        w = self.state_["weights"]
        return self.state_["offset"] + w["logistic"] * logistic_raw + w["boosted"] * boosted_raw

    def _decision(self, state, X):
        parts = state["parts"]
        return self.blend_scores(parts["logistic"].raw_score(X), parts["boosted"].raw_score(X))

    def _contrib(self, state, X):
        w, parts = state["weights"], state["parts"]
        out = (
            parts["logistic"].contributions(X) * w["logistic"]
            + parts["boosted"].contributions(X) * w["boosted"]
        )
        out["bias"] = out["bias"] + state["offset"]
        return out

    def _state_files(self):
        parts = self.state_["parts"]
        boosted = parts["boosted"].state_
        meta = {
            "offset": self.state_["offset"],
            "weights": self.state_["weights"],
            "logistic": parts["logistic"].state_,
            "boosted": {"levels": boosted["levels"], "rounds": boosted["rounds"]},
        }
        return {
            "lightgbm.txt": boosted["booster"].model_to_string(),
            "parameters.json": json.dumps(meta, indent=1),
        }

    def _load_state(self, files):
        meta = _validate_plain(json.loads(files["parameters.json"]))
        specs = self.feature_specs_
        logistic = LogisticPropensity(specs)
        logistic.feature_specs_ = specs
        logistic.state_ = meta["logistic"]
        boosted = BoostedPropensity(specs)
        boosted.feature_specs_ = specs
        boosted._load_state(
            {"lightgbm.txt": files["lightgbm.txt"], "parameters.json": json.dumps(meta["boosted"])}
        )
        self.state_ = {
            "parts": {"logistic": logistic, "boosted": boosted},
            "offset": float(meta["offset"]),
            "weights": {k: float(meta["weights"][k]) for k in ("logistic", "boosted")},
        }


def _platt(part) -> tuple[float, float]:
    """A part's Platt map (a, b) fitted on the hold-out, or the identity when it failed."""
    cal = part.calibrators_.get("platt", {})
    if cal.get("method") == "platt" and np.isfinite(cal["a"]) and np.isfinite(cal["b"]):
        return float(cal["a"]), float(cal["b"])
    return 0.0, 1.0
