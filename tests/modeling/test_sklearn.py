"""The candidates are scikit-learn citizens: clone, cross_val_score, the roc_auc scorer,
pipelines and check_estimator (where a DataFrame-of-features estimator can meet it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from workbench.features import RECENCY_FEATURE, FeatureSpec
from workbench.modeling import BoostedPropensity, LogisticPropensity, RecencyRule

SPECS = [
    FeatureSpec("visits", "Visits"),
    FeatureSpec(RECENCY_FEATURE, "Days since last event", unit="days"),
    FeatureSpec("channel", "Channel", kind="categorical"),
]


def _frame(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "visits": rng.poisson(3, n).astype(float),
            RECENCY_FEATURE: rng.exponential(30, n),
            "channel": pd.Categorical(rng.choice(["web", "app", "email"], n)),
        }
    )
    logit = -1 + 0.5 * X["visits"] - 0.03 * X[RECENCY_FEATURE] + (X["channel"] == "email") * 0.7
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


MODELS = [
    LogisticPropensity(SPECS),
    BoostedPropensity(SPECS, max_rounds=60, early_stopping_rounds=10),
    RecencyRule(SPECS),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_clone_get_and_set_params(model):
    params = model.get_params(deep=True)
    assert params["specs"] == SPECS and "seed" in params
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    twin.set_params(seed=7)
    assert twin.seed == 7 and model.seed == 42
    assert is_classifier(model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_fit_returns_self_and_predictions_have_sklearn_shapes(model):
    X, y = _frame()
    fitted = clone(model).fit(X, y)
    assert isinstance(fitted, type(model))
    assert list(fitted.classes_) == [0, 1] and fitted.n_features_in_ == len(fitted.feature_specs_)
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], fitted.propensity(X))
    assert set(np.unique(fitted.predict(X))) <= {0, 1}
    assert 0.0 <= fitted.score(X, y) <= 1.0  # accuracy, from ClassifierMixin


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_cross_val_score_with_the_roc_auc_scorer(model):
    X, y = _frame()
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, cv=folds, scoring="roc_auc")
    assert scores.shape == (3,) and (scores > 0.6).all()


def test_unfitted_model_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LogisticPropensity(SPECS).propensity(_frame()[0])


@pytest.mark.parametrize(
    "model",
    [
        LogisticPropensity(),
        # tiny check datasets: leaves of 5 rows instead of the default 200
        BoostedPropensity(max_rounds=50, early_stopping_rounds=10, params={"min_data_in_leaf": 5}),
    ],
    ids=lambda m: m.name,
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.filterwarnings(
    "ignore:invalid value encountered in cast:RuntimeWarning"
)  # its own NaN data
def test_check_estimator_on_arrays(model):
    """scikit-learn's own estimator checks, on plain arrays (the columns become x0, x1, ...).
    Two cannot apply to a propensity model: training on a single outcome is a readiness error
    (`NotReadyError`: the data cannot support the goal), not a fitted constant."""
    from sklearn.utils.estimator_checks import check_estimator

    not_applicable = {
        "check_classifiers_one_label": "one outcome only is a readiness error (NotReadyError)",
        "check_fit2d_1sample": "one row holds one outcome only: a readiness error",
    }
    results = check_estimator(model, expected_failed_checks=not_applicable, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]
    assert sum(r["status"] == "passed" for r in results) >= 50
