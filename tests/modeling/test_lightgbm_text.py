"""LightGBM's model text is checked in Python before LightGBM parses it: every real model
passes, every damaged one is a ValueError naming the tree and field (LightGBM's own parser
would abort the process on some of them)."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pytest

from workbench.modeling.lightgbm_text import check_model_text


def _model(categorical: bool, rows: int = 800, rounds: int = 5, **params) -> str:
    rng = np.random.default_rng(0)
    X = rng.random((rows, 3))
    X[:, 2] = rng.integers(0, 6, rows)
    y = ((X[:, 0] > 0.5) | (X[:, 2] == 3)).astype(int)
    data = lgb.Dataset(X, y, categorical_feature=[2] if categorical else "auto")
    settings = {"objective": "binary", "verbosity": -1, "num_leaves": 6, "min_data_in_leaf": 5}
    return lgb.train({**settings, **params}, data, rounds).model_to_string()


def _fix_sizes(text: str) -> str:
    starts = [m.start() for m in re.finditer(r"^Tree=", text, re.M)]
    bounds = [*starts, text.index("end of trees")]
    sizes = " ".join(str(bounds[i + 1] - bounds[i]) for i in range(len(starts)))
    return re.sub(r"tree_sizes=.*", f"tree_sizes={sizes}", text, count=1)


def _missing_split_model() -> str:
    """A split of every value against the missing ones, which LightGBM 4 writes as
    `threshold=inf` (a real Online Retail backtest failed on it before the check allowed it)."""
    rng = np.random.default_rng(0)
    x = rng.random(4000) * 1.8
    x[rng.random(4000) < 0.3] = 0.0
    missing = rng.random(4000) < 0.1
    x[missing] = np.nan
    y = np.where(missing, rng.random(4000) < 0.1, rng.random(4000) < 0.4).astype(int)
    settings = {"objective": "binary", "verbosity": -1, "num_leaves": 2, "min_data_in_leaf": 20}
    X = np.column_stack([x, rng.random(4000), rng.random(4000)])
    return lgb.train(settings, lgb.Dataset(X, y), 1).model_to_string()


def test_an_infinite_threshold_is_a_real_model():
    text = _missing_split_model()
    assert re.search(r"^threshold=inf\b", text, re.M)  # LightGBM writes it this way
    check_model_text(text, 3)
    booster = lgb.Booster(model_str=text)
    scores = booster.predict(np.array([[0.5, 0.5, 0.5], [np.nan, 0.5, 0.5]]))
    assert scores[0] != scores[1]  # the split it loaded tells missing from present


@pytest.mark.parametrize(
    "text",
    [
        _model(categorical=False),
        _model(categorical=True),
        _model(categorical=False, rows=50, min_data_in_leaf=40),  # single-leaf trees
    ],
    ids=["numeric", "categorical", "single-leaf"],
)
def test_real_models_pass(text):
    check_model_text(text, 3)
    assert lgb.Booster(model_str=text).num_feature() == 3


REAL = _model(categorical=True)
DAMAGED = {
    "not a model": ("hello", "does not start like a LightGBM model"),
    "cut in half": (REAL[: len(REAL) // 2], "cut off"),
    "edited num_leaves": (REAL.replace("num_leaves=", "num_leaves=1000", 1), "tree_sizes says"),
    "num_leaves, sizes fixed": (
        _fix_sizes(REAL.replace("num_leaves=", "num_leaves=1000", 1)),
        "tree 0: num_leaves=10006 is out of range|tree 0: leaf_value has",
    ),
    "split on a missing feature": (
        _fix_sizes(re.sub(r"split_feature=(\d+)", "split_feature=99999", REAL, count=1)),
        "split_feature refers to a feature the model does not have",
    ),
    "a cycle": (
        _fix_sizes(re.sub(r"left_child=(\d+)", "left_child=0", REAL, count=1)),
        "do not form one tree",
    ),
    "NaN leaf": (
        _fix_sizes(re.sub(r"leaf_value=\S+", "leaf_value=nan", REAL, count=1)),
        "infinite or NaN",
    ),
    "NaN threshold": (
        _fix_sizes(re.sub(r"^threshold=\S+", "threshold=nan", REAL, count=1, flags=re.M)),
        "threshold holds a NaN value",
    ),
    "category sets": (
        _fix_sizes(re.sub(r"cat_boundaries=0 \d+", "cat_boundaries=0 99", REAL, count=1)),
        "cat_boundaries do not match cat_threshold",
    ),
    "other feature count": (REAL, "features, the model 4"),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_damaged_models_are_refused_naming_what(name):
    text, message = DAMAGED[name]
    features = 4 if name == "other feature count" else 3
    with pytest.raises(ValueError, match=message):
        check_model_text(text, features)
