"""Fixtures of the reliability cases: the trained models, built once per session."""

from __future__ import annotations

import pytest
from reliability.kit import Fixtures


@pytest.fixture(scope="session")
def session_models(tmp_path_factory) -> Fixtures:
    """One trained run folder (logistic champion) and a boosted model, built on first use and
    copied into each case that scores with them."""
    return Fixtures(tmp_path_factory.mktemp("models"))
