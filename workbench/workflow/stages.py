"""The five stages of a run, one per notebook, each a build step plus a thin save step.

Each stage takes the `Run`, reads the files earlier stages wrote, computes with the pure
`build_*`/`compare_models`/`score_profiles` functions of the stage modules, and writes its own
files through the `Run` (which names them). `open_events` and `plan_goal` are the shared first
steps of every command that looks at a goal: validate, snapshot, score, backtest and the tuner.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.atomic import replaced
from workbench.config import Config
from workbench.engine import connect, events_table, profiles_table
from workbench.errors import NotReadyError
from workbench.features import FeaturePlan, plan_features, specs_from_json, specs_to_json
from workbench.goals import (
    CutoffPlan,
    check_fields,
    counts_by_role,
    describe_goal,
    goal_hints,
    plan_cutoffs,
    resolve_as_of,
    to_day,
)
from workbench.readiness import check_readiness
from workbench.run import Run

Progress = Callable[[str], Any] | None


def stage(name: str):
    """Mark a stage function: before it runs, `Run.begin` clears an interactive run's files of
    this and later stages; after it ran there, the run's landing page is refreshed (a finished
    run is never written: the notebooks work in a run derived from it, see `Run.writable`)."""

    def wrap(func):
        @functools.wraps(func)
        def run_stage(run: Run, *args, **kwargs):
            run.begin(name)
            try:
                return func(run, *args, **kwargs)
            finally:
                if run.is_interactive:
                    _refresh_report(run)

        return run_stage

    return wrap


def _refresh_report(run: Run) -> None:
    from workbench.reporting.landing import write_report

    try:
        write_report(run)
    except Exception as exc:  # the page is a convenience: never hide the stage's own outcome
        print(f"could not refresh {run.file('report')}: {exc}")


# ----------------------------------------------------------------------------- shared steps
@dataclass
class EventsContext:
    """A run's cleaned events (and profiles) opened on the config's engine."""

    con: Any
    events: Any
    profiles: Any
    first_event: str
    last_event: str


def open_events(run: Run, config: Config | None = None) -> EventsContext:
    """The run's events on its engine; with a backtest's `visible_before`, only the events
    before it (the later ones stay in the file for the realised outcomes, hidden from stages)."""
    config = config or run.config
    quality = run.read_json("quality")
    con = connect(config)
    events = events_table(con, run.require("events"))
    first, last = quality["first_event"], quality["last_event"]
    horizon = run.visible_before
    if horizon is not None:
        events = events.filter(events.timestamp < horizon.to_pydatetime())
        span = events.aggregate(first=events.timestamp.min(), last=events.timestamp.max())
        row = span.to_pandas().iloc[0]
        first, last = str(row["first"]), str(row["last"])
    profiles = profiles_table(con, run.file("profiles")) if run.has("profiles") else None
    return EventsContext(con, events, profiles, first, last)


@dataclass
class GoalPlan:
    """When the snapshots are taken and how many positives each labelled cutoff has."""

    as_of: pd.Timestamp
    cutoffs: CutoffPlan
    counts: pd.DataFrame  # cutoff, role, eligible, positives, negatives, base_rate
    readiness: dict[str, Any]


def plan_goal(
    ctx: EventsContext,
    config: Config,
    as_of=None,
    *,
    with_scoring: bool = False,
    check: bool = True,
    counted: pd.DataFrame | None = None,
) -> GoalPlan:
    """Check the goal's fields, place the cutoffs, count positives per cutoff, judge readiness.

    `with_scoring` adds the scoring date's row (eligible profiles, no labels yet); `check=False`
    when the caller has checked the fields already. `counted`: these events' counts as an
    earlier plan of this run made them (`cutoff_counts`, with its `as_of`), used when they are
    for the same cutoffs instead of counting again (1.7 s at 1M profiles)."""
    if check:
        check_fields(config, ctx.events.columns, ctx.events)
    day = resolve_as_of(config, as_of or None, ctx.first_event, ctx.last_event)
    cutoffs = plan_cutoffs(config, day, ctx.first_event)
    counts = _counted_before(counted, day, with_scoring)
    if counts is None:
        counts = counts_by_role(ctx.events, config, cutoffs, with_scoring=with_scoring)
    labelled = counts[counts["role"] != "scoring"]
    readiness = check_readiness(labelled, config, ctx.first_event, ctx.last_event)
    met = "positives" if config.goal.outcome == "occurs" else "negatives"
    if not readiness["ok"] and int(labelled[met].sum()) == 0:  # the goal event never happened
        readiness["messages"] += goal_hints(ctx.events, config)
    return GoalPlan(day, cutoffs, counts, readiness)


def _counted_before(counted: pd.DataFrame | None, day, with_scoring: bool):
    """The counts of an earlier plan for the same as-of day (and with the scoring row when it
    is wanted), without their `as_of` column; None when there are none that fit."""
    if counted is None or counted.empty or "as_of" not in counted.columns:
        return None
    if (pd.to_datetime(counted["as_of"]) != day).any():
        return None
    has_scoring = bool((counted["role"] == "scoring").any())
    if with_scoring and not has_scoring:
        return None
    counts = counted.drop(columns="as_of")
    if not with_scoring:
        counts = counts[counts["role"] != "scoring"]
    return counts.reset_index(drop=True)


def check_plan(ctx: EventsContext, config: Config, as_of, quality=None) -> FeaturePlan:
    """What a run would meet after the goal, checked before any snapshot is built: the feature
    plan (`features.exclude/identifiers/quantities` name real columns; `quality`: the run's
    data_quality.json, for the columns a warehouse query left in the database), the segments
    (their fields, factors and values, on empty frames of the real columns) and
    `reporting.cohorts`."""
    from workbench.features import check_excluded
    from workbench.segments import check_segments

    columns = list(ctx.events.columns) + (
        list(ctx.profiles.columns) if ctx.profiles is not None else []
    )
    pruned = ((quality or {}).get("warehouse") or {}).get("pruned_columns") or {}
    check_excluded(config, columns, pruned)
    plan = plan_features(ctx.events, config, ctx.profiles, before=as_of)
    profiles = ctx.profiles.limit(0).to_pandas() if ctx.profiles is not None else None
    check_segments(config.segments, [s.code for s in plan.specs], profiles, config.where())
    check_cohorts(config, ctx.profiles, plan)
    return plan


# ----------------------------------------------------------------------------- 01 data
@stage("prepare_data")
def prepare_data(run: Run, *, events=None, profiles=None) -> dict[str, Any]:
    """Read and clean the events (and profiles): events.parquet, profiles.parquet,
    quarantine.csv, data_quality.json, event_mix.csv. `events`/`profiles`: pandas or Arrow
    frames instead of the config's files. In a run whose data `workbench run` already prepared
    (its check before the notebooks, `run.json` says `prepared`), the files are read, not redone."""
    from workbench.ingest import build_event_mix, ingest_events

    if events is None and profiles is None and run.record.get("prepared") and run.has("quality"):
        mix = run.read_frame("event_mix", parse_dates=["month"])
        quarantine = run.read_frame("quarantine", nrows=1000, dtype=str)
        return {"quality": run.read_json("quality"), "event_mix": mix, "quarantine": quarantine}
    config = run.config
    quality = ingest_events(
        config, run.ingest_targets(), events=events, profiles=profiles, horizon=run.data_horizon
    )
    run.write_json("quality", quality)
    mix = build_event_mix(events_table(connect(config), run.file("events")))
    run.write_frame("event_mix", mix)
    quarantine = run.read_frame("quarantine", nrows=1000, dtype=str)
    return {"quality": quality, "event_mix": mix, "quarantine": quarantine}


# ----------------------------------------------------------------------------- 02 goal
def goal_summary(config: Config, goal: GoalPlan) -> dict[str, Any]:
    """`goal_summary.json` before the snapshots: the goal, its cutoffs and readiness."""
    labelled = goal.counts[goal.counts["role"] != "scoring"]
    return {
        "goal": config.goal.model_dump(mode="json"),
        "goal_text": describe_goal(config),
        "propensity_type": config.goal.propensity_type,
        "as_of": str(goal.as_of.date()),
        "validation_cutoff": str(goal.cutoffs.validation.date()),
        "validation_origins": [str(o.date()) for o in goal.cutoffs.origins],
        "training_cutoffs": [str(c.date()) for c in goal.cutoffs.training],
        "folds": [
            {
                "origin": str(o.date()),
                "training_cutoffs": [str(c.date()) for c in goal.cutoffs.fold_training(o)],
            }
            for o in goal.cutoffs.origins
        ],
        "cutoffs": _records(labelled),
        "readiness": goal.readiness,
    }


@stage("define_goal")
def define_goal(run: Run, as_of: str | None = None, progress: Progress = None) -> dict[str, Any]:
    """Cutoffs, labels, eligibility and features: snapshots.parquet, scoring_snapshot.parquet,
    feature_spec.json, goal_summary.json. Raises NotReadyError when the data cannot support
    the goal (goal_summary.json then says why)."""
    from workbench.snapshots import build_goal_snapshots

    config = run.config
    ctx = open_events(run, config)
    counted = run.read_frame("cutoff_counts") if run.has("cutoff_counts") else None
    goal = plan_goal(ctx, config, as_of, with_scoring=True, counted=counted)
    summary = goal_summary(config, goal)
    if not goal.readiness["ok"]:
        run.write_json("goal_summary", summary)
        raise NotReadyError(goal.readiness["messages"])

    started = time.perf_counter()
    plan = check_plan(ctx, config, goal.as_of, run.read_json("quality"))
    snapshots, scoring = build_goal_snapshots(
        ctx.events, config, goal.cutoffs, goal.counts, plan, ctx.profiles, progress
    )
    # the training snapshots written and let go before the rest: one frame in memory after this
    run.write_frame("snapshots", snapshots)
    snapshot_rows = len(snapshots)
    del snapshots
    run.write_frame("scoring_snapshot", scoring)
    specs_to_json(plan.specs, run.file("feature_spec"))
    labelled_rows = int(goal.counts.loc[goal.counts["role"] != "scoring", "eligible"].sum())
    summary.update(
        {
            "features": len(plan.specs),
            "feature_notices": plan.notices,
            "snapshot_rows": snapshot_rows,
            "scoring_profiles": len(scoring),
            "sampled": snapshot_rows < labelled_rows,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    run.write_json("goal_summary", summary)
    return {
        "goal_text": summary["goal_text"],
        "as_of": summary["as_of"],
        "cutoffs": goal.counts,
        "origins": summary["validation_origins"],
        "readiness": goal.readiness,
        "features": feature_table(plan),
        "notices": plan.notices,
    }


def check_cohorts(config: Config, profiles, plan: FeaturePlan) -> None:
    """`reporting.cohorts` must name profile attributes or features: fail before the snapshots."""
    from workbench.workflow.insights import resolve_cohorts

    columns = [] if profiles is None else list(profiles.columns)
    resolve_cohorts(config, columns, ["profile_id", *(s.code for s in plan.specs)])


def feature_table(plan: FeaturePlan) -> pd.DataFrame:
    return pd.DataFrame(
        [(s.code, s.label, s.kind, s.family) for s in plan.specs],
        columns=["code", "label", "kind", "family"],
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    out["cutoff"] = out["cutoff"].map(lambda c: str(to_day(c).date()))
    return json.loads(out.to_json(orient="records"))


# ----------------------------------------------------------------------------- 03 models
@stage("compare")
def compare(run: Run):
    """Logistic vs boosted vs their blend vs the recency rule, out of time at every validation
    origin: metrics.json, the validation and fold predictions, coefficients.csv,
    importance.csv and the refit champion in model/."""
    from workbench import modeling

    config = run.config
    summary = run.read_json("goal_summary")
    snapshots = run.read_frame("snapshots")
    specs = specs_from_json(run.require("feature_spec"))
    scoring = run.read_frame("scoring_snapshot")
    comparison = modeling.compare_models(snapshots, specs, config, scoring=scoring)
    comparison.metrics.update(
        {
            "as_of": summary["as_of"],
            "goal": summary["goal"],
            "goal_text": summary["goal_text"],
            "readiness": {
                "ok": summary["readiness"]["ok"],
                "messages": summary["readiness"]["messages"],
            },
        }
    )
    champion = modeling.refit_champion(comparison, snapshots, specs, config)
    modeling.save_model(champion, specs, config, run.file("model"))
    # every origin, `fold` 0 the newest: the target size and the cohorts read them all
    # (`workflow.validation_frames`)
    run.write_frame("validation_predictions", comparison.fold_predictions)
    run.write_frame("coefficients", comparison.coefficients)
    run.write_frame("importance", comparison.importance)
    run.write_json("metrics", comparison.metrics)
    return comparison


# ----------------------------------------------------------------------------- 04 factors
@stage("explain")
def explain(run: Run, examples: int = 5) -> dict[str, pd.DataFrame]:
    """Influential factors of the scoring population: factors_global.csv,
    factors_by_bucket.csv (with coverage), examples.csv, and contributions.parquet (every
    profile's probability and contributions, which `score_and_segment` then reads instead of
    computing them again)."""
    from workbench import modeling, scoring
    from workbench.factor_summary import build_factor_report

    config = run.config
    model = modeling.load_model(run.file("model"))
    frame = run.read_frame("scoring_snapshot")
    explained = scoring.explain_profiles(model, frame[[s.code for s in model.feature_specs_]])
    report = build_factor_report(model, frame, config, examples, explained)
    run.write_frame("factors_global", report["global"])
    run.write_frame("factors_by_bucket", report["by_bucket"])
    run.write_frame("examples", report["examples"])
    _save_explained(run, frame["profile_id"], explained)
    return report


def _explained_key(run: Run) -> dict[str, str]:
    """What contributions.parquet was computed from: the saved model (its manifest holds every
    file's sha256) and the scoring snapshot file."""
    import hashlib

    snapshot = run.require("scoring_snapshot").stat()
    manifest = (run.require("model") / "model.json").read_bytes()
    return {
        "model": hashlib.sha256(manifest).hexdigest(),
        "scoring_snapshot": f"{snapshot.st_size}:{snapshot.st_mtime_ns}",
    }


def _save_explained(run: Run, ids: pd.Series, explained) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"profile_id": pa.array(ids.astype(str).to_numpy(), pa.string())}
    columns["probability"] = pa.array(explained.probability)
    for code in explained.contributions.columns:
        columns[code] = pa.array(explained.contributions[code].to_numpy(np.float64))
    table = pa.table(columns).replace_schema_metadata(
        {"workbench.explained": json.dumps(_explained_key(run))}
    )
    with replaced(run.file("contributions")) as tmp:  # renamed into place when whole
        pq.write_table(table, tmp)


def _load_explained(run: Run, ids: pd.Series):
    """contributions.parquet as `scoring.Explained` when it was computed from this run's model
    and scoring snapshot, for these profiles in this order; else None (computed afresh)."""
    import pyarrow.parquet as pq

    from workbench.scoring import Explained

    if not run.has("contributions"):
        return None
    meta = pq.read_schema(run.file("contributions")).metadata or {}
    if json.loads(meta.get(b"workbench.explained", b"{}")) != _explained_key(run):
        return None
    table = pq.read_table(run.file("contributions"))
    stored = table.column("profile_id").to_numpy(zero_copy_only=False)
    if len(stored) != len(ids) or not np.array_equal(stored, ids.astype(str).to_numpy()):
        return None
    probability = table.column("probability").to_numpy()
    contributions = table.drop_columns(["profile_id", "probability"]).to_pandas()
    return Explained(probability, contributions)


# ----------------------------------------------------------------------------- 05 scores
@stage("score_and_segment")
def score_and_segment(run: Run) -> dict[str, Any]:
    """Score every eligible profile as of as_of, build segments, expected vs actual on the
    validation cutoff: scores.parquet/csv, segments/, expected_vs_actual.json, score_summary.json."""
    from workbench import modeling, scoring
    from workbench.workflow.insights import decide_and_segment

    config = run.config
    summary = run.read_json("goal_summary")
    model = modeling.load_model(run.file("model"))
    frame = run.read_frame("scoring_snapshot")
    scores = scoring.score_profiles(
        model,
        frame,
        model.feature_specs_,
        config,
        summary["as_of"],
        explained=_load_explained(run, frame["profile_id"]),
    )
    decided = decide_and_segment(run, scores, frame, config)
    seg_summary = decided["segments_summary"]
    metrics = run.read_json("metrics")
    preds = run.read_frame("validation_predictions")
    if "fold" in preds.columns:  # the newest origin, the one the landing page's verdict reads
        preds = preds[preds["fold"] == preds["fold"].min()]
    eva = scoring.expected_vs_actual(preds, metrics["champion"], config.scoring.buckets)
    run.write_json("expected_vs_actual", _json_tables(eva))
    run.write_json(
        "score_summary",
        # where the model is once the run is published (not the `.partial` folder it is built in)
        scoring_figures(
            scores,
            seg_summary,
            summary["as_of"],
            model=str(run.base / run.name / "model"),
            factor_direction_guard=scores.attrs.get("factor_direction_guard"),
        ),
    )
    return {
        "scores": scores,
        "segments_summary": seg_summary,
        "expected_vs_actual": eva,
        "target": decided["target"],
        "economics": decided["economics"],
        "cohorts": decided["cohorts"],
    }


def save_scores(
    run: Run, scores: pd.DataFrame, config: Config, audience: int | None = None
) -> pd.DataFrame:
    """scores.parquet, scores.csv and one CSV per segment plus segments/summary.csv
    (`audience`: how many profiles a `top_by_profit` segment takes)."""
    from workbench.segments import build_segments

    run.write_frame("scores", scores)
    run.write_frame("scores_csv", scores)
    profiles = run.read_frame("profiles") if run.has("profiles") else None
    segments, seg_summary = build_segments(
        scores, config.segments, profiles, top_by_profit=audience
    )
    for name, audience in segments.items():
        run.write_segment(name, audience)
    run.write_frame("segments_summary", seg_summary)
    return seg_summary


def scoring_figures(
    scores: pd.DataFrame, seg_summary: pd.DataFrame, as_of: str, **extra: Any
) -> dict[str, Any]:
    """`score_summary.json`: how many profiles, per bucket, expected conversions, segments."""
    return {
        "as_of": as_of,
        "profiles": int(len(scores)),
        "buckets": {str(k): int(v) for k, v in scores["bucket"].value_counts().items()},
        "mean_probability": float(scores["probability"].mean()) if len(scores) else None,
        "expected_conversions": float(scores["probability"].sum()),
        "segments": json.loads(seg_summary.to_json(orient="records")),
        **extra,
    }


def _json_tables(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return {k: json.loads(v.to_json(orient="records")) for k, v in tables.items()}


# ----------------------------------------------------------------------------- the whole run
STAGES = ("prepare_data", "define_goal", "compare", "explain", "score_and_segment")
