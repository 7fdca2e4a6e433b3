"""The pipeline stages the notebooks (and `workbench run`) call, one per notebook.

Each stage reads the run folder's `config.yaml` and the files earlier stages wrote, and writes its own
files there, so every notebook can be re-run or opened on its own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.config import Config, load_config, source_of
from workbench.engine import connect, events_table, profiles_table
from workbench.errors import DataError, NotReadyError
from workbench.features import plan_features, specs_from_json, specs_to_json
from workbench.goals import (
    check_fields,
    counts_by_role,
    describe_goal,
    plan_cutoffs,
    resolve_as_of,
    to_day,
)
from workbench.ingest import ingest_events
from workbench.readiness import check_readiness
from workbench.snapshots import build_snapshots

MAX_EVENT_TYPES_IN_MIX = 12
FACTOR_SUMMARY_ROWS = 200_000  # profiles behind the global / per-bucket factor summaries (04)


def run_config(run_dir: str | Path) -> Config:
    """The effective config of a run (overrides already applied by `workbench run`)."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise DataError(f"{path}: no config.yaml in the run folder")
    config = load_config(path)
    # errors found later (an unknown goal field) name the file the analyst edits, not this copy
    config.source = source_of(path) or path
    return config


def read_json(run_dir: str | Path, name: str) -> dict[str, Any]:
    path = Path(run_dir) / (name if name.endswith(".json") else f"{name}.json")
    if not path.exists():
        raise DataError(f"{path}: not found (run the earlier notebook first)")
    return json.loads(path.read_text())


def read_table(run_dir: str | Path, name: str) -> pd.DataFrame:
    run_dir = Path(run_dir)
    for candidate in (run_dir / name, run_dir / f"{name}.parquet", run_dir / f"{name}.csv"):
        if candidate.is_file():
            if candidate.suffix == ".parquet":
                return pd.read_parquet(candidate)
            return pd.read_csv(candidate)
    raise DataError(f"{run_dir / name}: not found (run the earlier notebook first)")


def write_json(run_dir: str | Path, name: str, data: dict[str, Any]) -> Path:
    path = Path(run_dir) / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# ----------------------------------------------------------------------------- 01 data prep
def prepare_data(run_dir: str | Path, as_of: str | None = None) -> dict[str, Any]:
    """Read and clean the events (and profiles): events.parquet, quarantine.csv, data_quality.json."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)
    quality = ingest_events(config, run_dir)
    con = connect(config)
    events = events_table(con, run_dir / "events.parquet")
    month = events.timestamp.truncate("M").name("month")
    mix = events.group_by([month, events.event_type]).aggregate(events=events.count()).to_pandas()
    top = mix.groupby("event_type")["events"].sum().nlargest(MAX_EVENT_TYPES_IN_MIX).index
    mix["event_type"] = mix["event_type"].where(mix["event_type"].isin(top), "other")
    mix = (
        mix.groupby(["month", "event_type"], as_index=False)["events"]
        .sum()
        .sort_values(["month", "event_type"])
    )
    mix.to_csv(run_dir / "event_mix.csv", index=False)
    quarantine = pd.read_csv(run_dir / "quarantine.csv", nrows=1000, dtype=str)
    return {"quality": quality, "event_mix": mix.reset_index(drop=True), "quarantine": quarantine}


# ----------------------------------------------------------------------------- 02 goal
def define_goal(run_dir: str | Path, as_of: str | None = None, progress=None) -> dict[str, Any]:
    """Cutoffs, labels, eligibility and features: snapshots.parquet, scoring_snapshot.parquet,
    feature_spec.json, goal_summary.json. Raises NotReadyError when the data cannot support the goal."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)
    quality = read_json(run_dir, "data_quality")
    con = connect(config)
    events = events_table(con, run_dir / "events.parquet")
    profiles = profiles_table(con, run_dir / "profiles.parquet") if config.profiles else None
    check_fields(config, events.columns, events)
    as_of_day = resolve_as_of(config, as_of or None, quality["first_event"], quality["last_event"])
    plan = plan_cutoffs(config, as_of_day, quality["first_event"])

    started = time.perf_counter()
    counts = counts_by_role(events, config, plan)
    readiness = check_readiness(counts, config, quality["first_event"], quality["last_event"])
    summary: dict[str, Any] = {
        "goal": config.goal.model_dump(mode="json"),
        "goal_text": describe_goal(config),
        "propensity_type": config.goal.propensity_type,
        "as_of": str(as_of_day.date()),
        "validation_cutoff": str(plan.validation.date()),
        "training_cutoffs": [str(c.date()) for c in sorted(plan.training)],
        "left_out_cutoffs": [str(c.date()) for c in sorted(plan.left_out)],
        "cutoffs": _records(counts),
        "readiness": readiness,
    }
    if not readiness["ok"]:
        write_json(run_dir, "goal_summary.json", summary)
        raise NotReadyError(readiness["messages"])

    feature_plan = plan_features(events, config, profiles, before=as_of_day)
    validation_rows = int(counts.loc[counts["role"] == "validation", "eligible"].sum())
    budget = max(config.training.max_rows - validation_rows, config.training.max_rows // 2)
    snapshots, _ = build_snapshots(
        events,
        config,
        plan.labelled,
        feature_plan,
        profiles,
        with_label=True,
        sample_rows=budget,
        seed=config.training.seed,
        exempt_cutoff=plan.validation,
        rows_to_sample=int(counts.loc[counts["role"] == "training", "eligible"].sum()),
        progress=progress,
    )
    scoring, _ = build_snapshots(
        events, config, [as_of_day], feature_plan, profiles, with_label=False
    )
    snapshots.to_parquet(run_dir / "snapshots.parquet", index=False)
    scoring.to_parquet(run_dir / "scoring_snapshot.parquet", index=False)
    specs_to_json(feature_plan.specs, run_dir / "feature_spec.json")
    summary.update(
        {
            "features": len(feature_plan.specs),
            "feature_notices": feature_plan.notices,
            "snapshot_rows": len(snapshots),
            "scoring_profiles": len(scoring),
            "sampled": len(snapshots) < int(counts["eligible"].sum()),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    write_json(run_dir, "goal_summary.json", summary)
    features = pd.DataFrame(
        [(s.code, s.label, s.kind, s.family) for s in feature_plan.specs],
        columns=["code", "label", "kind", "family"],
    )
    return {
        "goal_text": summary["goal_text"],
        "as_of": summary["as_of"],
        "cutoffs": pd.concat([counts, _scoring_row(as_of_day, len(scoring))], ignore_index=True),
        "left_out": summary["left_out_cutoffs"],
        "readiness": readiness,
        "features": features,
        "notices": feature_plan.notices,
    }


def _scoring_row(as_of_day, profiles: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "cutoff": as_of_day,
                "role": "scoring",
                "eligible": profiles,
                "positives": pd.NA,
                "negatives": pd.NA,
                "base_rate": float("nan"),
            }
        ]
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    out["cutoff"] = out["cutoff"].map(lambda c: str(to_day(c).date()))
    return json.loads(out.to_json(orient="records"))


# ----------------------------------------------------------------------------- 03 models
def compare(run_dir: str | Path):
    """Logistic vs boosted vs the recency rule, out of time; saves metrics.json and the champion."""
    from workbench import modeling as models

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    summary = read_json(run_dir, "goal_summary")
    snapshots = pd.read_parquet(run_dir / "snapshots.parquet")
    specs = specs_from_json(run_dir / "feature_spec.json")
    comparison = models.compare_models(snapshots, specs, config)
    comparison.metrics["as_of"] = summary["as_of"]
    comparison.metrics["goal"] = summary["goal"]
    comparison.metrics["goal_text"] = summary["goal_text"]
    comparison.metrics["readiness"] = {
        "ok": summary["readiness"]["ok"],
        "messages": summary["readiness"]["messages"],
    }
    champion = models.refit_champion(comparison, snapshots, specs, config)
    models.save_model(champion, specs, config, run_dir / "model")
    comparison.validation_predictions.to_parquet(
        run_dir / "validation_predictions.parquet", index=False
    )
    comparison.coefficients.to_csv(run_dir / "coefficients.csv", index=False)
    comparison.importance.to_csv(run_dir / "importance.csv", index=False)
    write_json(run_dir, "metrics.json", comparison.metrics)
    return comparison


# ----------------------------------------------------------------------------- 04 factors
def explain(run_dir: str | Path, examples: int = 5) -> dict[str, pd.DataFrame]:
    """Influential factors of the scoring population: global, per bucket (with coverage), examples."""
    from workbench import factors, scoring
    from workbench import modeling as models

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    model = models.load_model(run_dir / "model")
    specs = model.feature_specs_
    frame = pd.read_parquet(run_dir / "scoring_snapshot.parquet")
    probability = model.predict_proba(frame[[s.code for s in specs]])
    percentile = scoring.assign_percentiles(probability)
    bucket_values = scoring.assign_buckets(percentile, config.scoring.buckets)
    if len(frame) > FACTOR_SUMMARY_ROWS:
        # Global and per-bucket summaries are shares and means: a seeded sample of profiles gives
        # the same picture at a fraction of the TreeSHAP cost; 05 computes every profile's factors.
        rng = np.random.default_rng(config.training.seed)
        keep = np.sort(rng.choice(len(frame), FACTOR_SUMMARY_ROWS, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
        probability, bucket_values = probability[keep], bucket_values[keep]
    X = frame[[s.code for s in specs]]
    contributions = model.contributions(X)
    buckets = pd.Series(bucket_values, index=frame.index)
    global_df = factors.global_factors(contributions, specs)
    by_bucket = factors.bucket_factors(contributions, X, buckets, specs)
    picks = _example_rows(probability, examples)
    example_factors = factors.influential_factors(model, X.iloc[picks], specs)
    example_df = pd.concat(
        [
            frame.iloc[picks][["profile_id"]].reset_index(drop=True),
            pd.DataFrame(
                {"probability": probability[picks], "bucket": buckets.iloc[picks].to_numpy()}
            ),
            example_factors.reset_index(drop=True)[
                ["factor_1", "factor_2", "factor_3", "factor_down"]
            ],
        ],
        axis=1,
    )
    global_df.to_csv(run_dir / "factors_global.csv", index=False)
    by_bucket.to_csv(run_dir / "factors_by_bucket.csv", index=False)
    example_df.to_csv(run_dir / "examples.csv", index=False)
    return {"global": global_df, "by_bucket": by_bucket, "examples": example_df}


def _example_rows(probability, n: int) -> list[int]:
    """Profiles spread over the score range: highest, lowest and evenly between."""
    order = pd.Series(probability).sort_values(ascending=False, kind="stable").index.to_list()
    if n <= 0 or not order:
        return []
    if n >= len(order):
        return order
    step = (len(order) - 1) / max(n - 1, 1)
    return [order[round(i * step)] for i in range(n)]


# ----------------------------------------------------------------------------- 05 scores
def score_and_segment(run_dir: str | Path) -> dict[str, Any]:
    """Score every eligible profile as of as_of, build segments, expected vs actual on validation."""
    from workbench import modeling as models
    from workbench import scoring, segments

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    summary = read_json(run_dir, "goal_summary")
    model = models.load_model(run_dir / "model")
    frame = pd.read_parquet(run_dir / "scoring_snapshot.parquet")
    scores = scoring.score_profiles(model, frame, model.feature_specs_, config, summary["as_of"])
    scoring.write_scores(scores, run_dir)
    profiles = (
        pd.read_parquet(run_dir / "profiles.parquet")
        if (run_dir / "profiles.parquet").exists()
        else None
    )
    segs, seg_summary = segments.build_segments(scores, config.segments, profiles)
    segments.write_segments(segs, seg_summary, run_dir)

    metrics = read_json(run_dir, "metrics")
    preds = pd.read_parquet(run_dir / "validation_predictions.parquet")
    champion = metrics["champion"]
    eva = scoring.expected_vs_actual(preds, champion, config.scoring.buckets)
    metrics["expected_vs_actual"] = {
        k: json.loads(v.to_json(orient="records")) for k, v in eva.items()
    }
    metrics["scoring"] = {
        "as_of": summary["as_of"],
        "profiles": int(len(scores)),
        "buckets": {str(k): int(v) for k, v in scores["bucket"].value_counts().items()},
        "mean_probability": float(scores["probability"].mean()),
        "expected_conversions": float(scores["probability"].sum()),
    }
    metrics["segments"] = json.loads(seg_summary.to_json(orient="records"))
    write_json(run_dir, "metrics.json", metrics)
    write_json(run_dir, "expected_vs_actual.json", metrics["expected_vs_actual"])
    return {"scores": scores, "segments_summary": seg_summary, "expected_vs_actual": eva}
