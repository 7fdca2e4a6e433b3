from __future__ import annotations

import pandas as pd
import pytest
from helpers import write_config

from workbench.config import load_config


@pytest.fixture
def tiny_events() -> pd.DataFrame:
    """Three profiles, hand-made so every feature and label can be computed by hand.

    Cutoff used in tests: 2024-03-01 (window 30 days -> outcome window [03-01, 03-31)).
    """
    rows = [
        # profile a: two page views and a purchase before the cutoff, a purchase after
        ("a", "2024-02-28T10:00:00Z", "page_view", None, "sku1"),
        ("a", "2024-02-20T10:00:00Z", "page_view", None, "sku2"),
        ("a", "2024-01-15T09:00:00Z", "purchase", 40.0, "sku1"),
        ("a", "2024-03-05T09:00:00Z", "purchase", 25.0, "sku3"),
        # profile b: one old purchase, nothing after the cutoff
        ("b", "2023-12-01T00:00:00Z", "purchase", 100.0, "sku2"),
        ("b", "2024-02-10T12:00:00Z", "page_view", None, "sku2"),
        # profile c: only events after the cutoff (not eligible at the cutoff)
        ("c", "2024-03-02T00:00:00Z", "page_view", None, "sku1"),
        ("c", "2024-03-03T00:00:00Z", "purchase", 10.0, "sku1"),
    ]
    return pd.DataFrame(rows, columns=["user", "ts", "kind", "amount", "sku"])


@pytest.fixture
def tiny_config(tmp_path, tiny_events):
    events_path = tmp_path / "events.csv"
    tiny_events.to_csv(events_path, index=False)
    body = {
        "name": "tiny",
        "events": {
            "path": "events.csv",
            "columns": {"profile_id": "user", "timestamp": "ts", "event_type": "kind"},
        },
        "goal": {
            "conditions": [{"field": "event_type", "op": "==", "value": "purchase"}],
            "window_days": 30,
        },
        "features": {"lookback_days": 90},
        "training": {"snapshots": 3, "step_days": 30},
        "readiness": {"min_positives": 1, "min_negatives": 1},
    }
    return load_config(write_config(tmp_path, body))


@pytest.fixture(scope="session")
def vendor_exports(tmp_path_factory):
    """Every vendor export of one simulated population (200 shoppers): (folder, manifests)."""
    from vendors import write_all

    folder = tmp_path_factory.mktemp("vendors")
    return folder, write_all(folder, n_profiles=200)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (skips with the reason it cannot run)."""
    from postgres import PostgresServer, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server
