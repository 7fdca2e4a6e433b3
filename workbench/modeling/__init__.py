"""Modeling: the candidates, their out-of-time comparison, metrics and persistence.

- `base`: scikit-learn manners, the inner hold-out and calibration every candidate shares;
- `logistic`, `boosted` (+ `treeshap`, its exact per-profile contributions), `recency`, `blend`:
  the candidates; `candidates`: them by name; `calibration`: none or Platt on held-out rows;
- `screening`: features that mean the same at training and scoring, the drift check;
- `folds`: the rolling-origin folds; `quality`: the reported figure and the flags;
- `selection`: `compare_models`, `choose_champion`, `refit_champion`;
- `metrics`: ROC AUC with its interval, calibration, lift;
- `persistence`: `save_model` / `load_model` without pickle, what a model was trained for
  (`check_trained_for`) and optional HMAC signing; `lightgbm_text`: LightGBM's model text
  checked before LightGBM parses it.
"""

from workbench.modeling.blend import BlendPropensity
from workbench.modeling.boosted import BoostedPropensity
from workbench.modeling.candidates import CANDIDATES
from workbench.modeling.logistic import LogisticPropensity
from workbench.modeling.persistence import (
    check_feature_match,
    check_trained_for,
    load_model,
    save_model,
)
from workbench.modeling.recency import RecencyRule
from workbench.modeling.selection import Comparison, choose_champion, compare_models, refit_champion

__all__ = [
    "CANDIDATES",
    "BlendPropensity",
    "BoostedPropensity",
    "Comparison",
    "LogisticPropensity",
    "RecencyRule",
    "check_feature_match",
    "check_trained_for",
    "choose_champion",
    "compare_models",
    "load_model",
    "refit_champion",
    "save_model",
]
