"""`workbench score`: re-score later dates with a saved model, no retraining (the weekly workflow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.config import load_config
from workbench.engine import connect, events_table, profiles_table
from workbench.errors import ModelMismatchError
from workbench.features import plan_features
from workbench.goals import check_fields, resolve_as_of, to_day
from workbench.ingest import ingest_events
from workbench.snapshots import build_snapshots


def model_directory(path: str | Path) -> Path:
    """Accept a run folder (with model/ inside) or the model folder itself."""
    path = Path(path)
    if (path / "model" / "model.json").exists():
        return path / "model"
    if (path / "model.json").exists():
        return path
    raise ModelMismatchError(
        f"{path}: no saved model here (expected model/model.json or model.json)"
    )


def score_with_saved_model(
    config_path: str | Path,
    model: str | Path,
    as_of: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Read the (possibly newer) events, rebuild the saved model's features as of `as_of`, score.

    Refuses, with a clear message, data whose features do not match the model's specification.
    """
    from workbench import modeling as models
    from workbench import scoring, segments

    config = load_config(config_path, overrides)
    model_dir = model_directory(model)
    fitted = models.load_model(model_dir)
    work = Path(out) if out else config.output_dir / "scores"
    quality = ingest_events(config, work)
    con = connect(config)
    events = events_table(con, work / "events.parquet")
    profiles = profiles_table(con, work / "profiles.parquet") if config.profiles else None
    check_fields(config, events.columns, events)
    day = resolve_as_of(config, as_of, quality["first_event"], quality["last_event"])
    plan = plan_features(events, config, profiles, before=day)
    wanted = [s.code for s in fitted.feature_specs_]
    available = {s.code: s for s in plan.specs}
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ModelMismatchError(
            f"{model_dir}: the data no longer provides feature(s) {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}; retrain with workbench run"
        )
    kinds = [s.code for s in fitted.feature_specs_ if available[s.code].kind != s.kind]
    if kinds:
        raise ModelMismatchError(
            f"{model_dir}: feature(s) {kinds} changed kind (numeric/categorical); retrain"
        )
    frame, _ = build_snapshots(events, config, [day], plan, profiles, with_label=False)
    frame = frame[["profile_id", *wanted]]
    models.check_feature_match(fitted, frame)
    scores = scoring.score_profiles(fitted, frame, fitted.feature_specs_, config, day.date())
    paths = scoring.write_scores(scores, work)
    segs, summary = segments.build_segments(
        scores, config.segments, _profiles_frame(work) if config.profiles else None
    )
    segments.write_segments(segs, summary, work)
    result = {
        "as_of": str(to_day(day).date()),
        "model": str(model_dir),
        "profiles_scored": int(len(scores)),
        "buckets": {str(k): int(v) for k, v in scores["bucket"].value_counts().items()},
        "mean_probability": float(scores["probability"].mean()) if len(scores) else None,
        "scores": str(paths["parquet"]),
        "segments": json.loads(summary.to_json(orient="records")),
    }
    (work / "score_summary.json").write_text(json.dumps(result, indent=2))
    return result


def _profiles_frame(work: Path):
    import pandas as pd

    path = work / "profiles.parquet"
    return pd.read_parquet(path) if path.exists() else None
