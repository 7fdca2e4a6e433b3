"""The per-pattern TreeSHAP equals LightGBM's own pred_contrib, row for row."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from workbench.features import FeatureSpec
from workbench.modeling import BoostedPropensity, treeshap
from workbench.modeling.treeshap import _tree_splits, lightgbm_contributions


def _train(params: dict, rounds: int = 40, n: int = 4000, seed: int = 0):
    """A binary model over counts (many zeros), money with NaN, a negative column, a category."""
    rng = np.random.default_rng(seed)
    M = np.column_stack(
        [
            rng.poisson(1.0, n).astype(float),
            np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(2, 1, n) * (rng.random(n) < 0.5)),
            rng.normal(0, 3, n),
            rng.integers(0, 6, n).astype(float),
            np.floor(rng.exponential(30, n)),
        ]
    )
    logit = 0.5 * M[:, 0] - 0.02 * M[:, 4] + 0.3 * (M[:, 3] == 2) + 0.1 * M[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    base = {"objective": "binary", "num_leaves": 15, "min_data_in_leaf": 20, "verbosity": -1}
    data = lgb.Dataset(M, label=y, categorical_feature=[3], params={**base, **params})
    return lgb.train({**base, **params}, data, num_boost_round=rounds), M


def _scoring_rows(M: np.ndarray, booster, n: int, seed: int = 1) -> np.ndarray:
    """Rows drawn like the training data, plus every threshold of the model hit exactly, its
    neighbours either side, exact zeros, NaN everywhere and categorical levels never seen."""
    rng = np.random.default_rng(seed)
    X = M[rng.integers(0, len(M), n)].copy()
    nodes = booster.trees_to_dataframe()
    numeric = nodes[nodes["decision_type"] == "<="]
    at = []
    for feature, threshold in zip(numeric["split_feature"], numeric["threshold"], strict=True):
        j = int(str(feature).removeprefix("Column_"))
        for v in (threshold, np.nextafter(threshold, -np.inf), np.nextafter(threshold, np.inf)):
            row = X[len(at) % len(X)].copy()
            row[j] = v
            at.append(row)
    special = X[: 3 * M.shape[1]].copy()
    for j in range(M.shape[1]):
        special[3 * j, j] = 0.0
        special[3 * j + 1, j] = np.nan
        special[3 * j + 2, j] = -0.0 if j != 3 else 17.0  # an unseen category level
    return np.vstack([X, np.array(at), special])


@pytest.fixture(scope="module", params=[{}, {"zero_as_missing": True}], ids=["nan", "zero"])
def model_and_rows(request):
    booster, M = _train(request.param)
    return booster, _scoring_rows(M, booster, 30_000)


def test_equals_direct_pred_contrib(model_and_rows):
    booster, X = model_and_rows
    assert len(X) >= treeshap.DIRECT_BELOW_ROWS  # the per-pattern path, not the fallback
    fast = lightgbm_contributions(booster, X, num_threads=2)
    direct = booster.predict(X, pred_contrib=True)
    assert fast.shape == direct.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(fast, direct, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-10)


def test_dense_trees_fall_back_per_tree_and_still_match(model_and_rows, monkeypatch):
    booster, X = model_and_rows
    monkeypatch.setattr(treeshap, "_DEDUPE_MAX_FRACTION", 0.0)  # every tree "too distinct"
    np.testing.assert_allclose(
        lightgbm_contributions(booster, X), booster.predict(X, pred_contrib=True), atol=1e-12
    )


def test_renumbering_before_overflow_keeps_patterns_apart(model_and_rows, monkeypatch):
    booster, X = model_and_rows
    calls = []
    real = treeshap._dense_codes

    def small_radix(key, radix):
        calls.append(radix)
        return real(key, radix)

    monkeypatch.setattr(treeshap, "_dense_codes", small_radix)
    monkeypatch.setattr(treeshap, "_RADIX_LIMIT", 64)  # force renumbering inside every tree
    np.testing.assert_allclose(
        lightgbm_contributions(booster, X), booster.predict(X, pred_contrib=True), atol=1e-12
    )
    assert len(calls) > booster.num_trees()  # renumbered mid-key, not only at the end


def test_single_leaf_tree_contributes_only_its_bias(monkeypatch):
    rng = np.random.default_rng(3)
    M = rng.normal(size=(300, 2))
    y = np.r_[np.ones(3), np.zeros(297)].astype(int)  # too few positives to split on
    params = {"objective": "binary", "min_data_in_leaf": 200, "verbosity": -1}
    booster = lgb.train(params, lgb.Dataset(M, label=y), num_boost_round=3)
    assert (booster.trees_to_dataframe().groupby("tree_index").size() == 1).all()
    monkeypatch.setattr(treeshap, "DIRECT_BELOW_ROWS", 0)
    np.testing.assert_allclose(
        lightgbm_contributions(booster, M), booster.predict(M, pred_contrib=True), atol=1e-12
    )


def test_linear_and_unknown_trees_are_not_decomposed():
    leaf = {"leaf_index": 0, "leaf_value": 0.1}
    split = {
        "split_index": 0,
        "split_feature": 0,
        "threshold": 1.5,
        "decision_type": "<=",
        "left_child": leaf,
        "right_child": {**leaf, "leaf_index": 1},
    }
    assert _tree_splits(split) == {0: [1.5]}
    assert _tree_splits({**split, "left_child": {**leaf, "leaf_coeff": [0.2]}}) is None
    assert _tree_splits({**split, "decision_type": "<"}) is None


def test_boosted_propensity_uses_it_and_still_adds_up():
    rng = np.random.default_rng(5)
    n = 25_000
    X = pd.DataFrame(
        {
            "visits": rng.poisson(2, n).astype(float),
            "spend": np.round(rng.lognormal(3, 1, n) * (rng.random(n) < 0.4), 2),
            "channel": pd.Categorical(rng.choice(["web", "app", "store"], n)),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(1 - 0.4 * X["visits"]))).astype(int)
    specs = [
        FeatureSpec("visits", "Visits"),
        FeatureSpec("spend", "Spend", unit="USD"),
        FeatureSpec("channel", "Channel", kind="categorical", family="profile"),
    ]
    model = BoostedPropensity(specs, max_rounds=30, early_stopping_rounds=31).fit(X, y)
    contrib = model.contributions(X)
    M = model._matrix(X, specs, model.state_["levels"])
    direct = model.state_["booster"].predict(M, pred_contrib=True)
    np.testing.assert_allclose(contrib.to_numpy(), direct, atol=1e-12)
    np.testing.assert_allclose(contrib.sum(axis=1), model.raw_score(X), atol=1e-9)
