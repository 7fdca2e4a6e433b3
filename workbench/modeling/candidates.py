"""The candidates by name (what `metrics.json` and saved models call them)."""

from __future__ import annotations

from workbench.modeling.base import PropensityModel
from workbench.modeling.blend import BlendPropensity
from workbench.modeling.boosted import BoostedPropensity
from workbench.modeling.logistic import LogisticPropensity
from workbench.modeling.recency import RecencyRule

CANDIDATES: dict[str, type[PropensityModel]] = {
    "logistic": LogisticPropensity,
    "boosted": BoostedPropensity,
    "recency_rule": RecencyRule,
    "blend": BlendPropensity,
}
