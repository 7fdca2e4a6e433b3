"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from workbench.config import load_config
from workbench.run import Run

REPO = Path(__file__).resolve().parent.parent
CDNOW = REPO.parent / "shared" / "datasets" / "cdnow" / "CDNOW_master.txt"


def write_config(tmp_path: Path, body: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def ingest(config, folder: Path, **frames) -> tuple[dict, Path]:
    """Ingest `config`'s events into `folder` (as a run folder's files): (quality, events path)."""
    from workbench.ingest import ingest_events

    targets = Run(folder).ingest_targets()
    return ingest_events(config, targets, **frames), targets.events


def new_run(config_path: Path, base: Path | None = None, **overrides) -> Run:
    """A fresh run folder for a config file (overrides as `--set` would give them)."""
    config = load_config(config_path, [f"{k}={v}" for k, v in overrides.items()] or None)
    return Run.create(base or config_path.parent / "runs", config)


def ingest_quality(config, folder: Path, **frames) -> dict:
    """Ingest `config`'s events into `folder` (a run folder's file names); the quality report."""
    return ingest(config, folder, **frames)[0]


def contradicting_factors(scores, model, outcome: str = "occurs") -> int:
    """Profiles with a factor that says less goal activity than typical raises an `occurs`
    propensity, or more lowers it (turned round for churn), values compared within the
    model's training range as it sees them."""
    import json

    import numpy as np

    direction = {s.code: s.direction for s in model.feature_specs_}
    goal = 1 if outcome == "occurs" else -1
    bad = 0
    for text in scores["factors_json"]:
        for e in json.loads(text):
            d = direction.get(e.get("code"), 0) * goal
            if not d:
                continue
            lo, hi = model.ranges_[e["code"]][:2]
            nothing = np.inf if direction[e["code"]] < 0 else 0.0
            value = nothing if e["value"] is None else e["value"]
            more = d * (np.clip(value, lo, hi) - np.clip(e["typical"], lo, hi))
            if (e["direction"] == "raises") != (more > 0):
                bad += 1
                break
    return bad


def browser_or_skip():
    """`workbench.reporting.browser` with Playwright and the system Chromium, or a skip that
    says which is missing."""
    import pytest

    from workbench.reporting import browser

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    if browser.chromium_path() is None:
        pytest.skip("no Chromium here: apt-get install -y chromium (.ci/run does)")
    return browser
