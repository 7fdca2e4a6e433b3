"""Automatic, point-in-time features. (build_snapshots is being written.)"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

RECENCY_FEATURE = "days_since_last_event"


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: `code` is the snapshot column, `label` the name an analyst reads."""

    code: str
    label: str
    kind: Literal["numeric", "categorical"] = "numeric"
    family: str = "event"
    unit: str = ""


def specs_to_json(specs: list[FeatureSpec], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([asdict(s) for s in specs], indent=2))
    return path


def specs_from_json(path: str | Path) -> list[FeatureSpec]:
    return [FeatureSpec(**d) for d in json.loads(Path(path).read_text())]
