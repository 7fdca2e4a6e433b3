"""The runs a comparison sets side by side: what each scored, with which model, and what can
be read from it (the model's features, its factor weights, its facts, the realised outcome of
its scores in a later run's events). `workflow.comparison` puts them together."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import DataError
from workbench.features import FeatureSpec
from workbench.run import Run
from workbench.workflow.insights import training_run

__all__ = [
    "ScoredRun",
    "scored_run",
    "model_specs",
    "read_columns",
    "factor_weights",
    "side_facts",
    "run_differences",
    "change_flags",
    "realised_of_earlier",
]

KINDS = {
    "notebooks": "training run",
    "pipeline": "training run",
    "interactive": "training run",
    "score": "re-scoring",
    "backtest": "backtest",
}


@dataclass
class ScoredRun:
    """A run folder that scored profiles, with what a comparison needs to know about it."""

    run: Run
    as_of: pd.Timestamp
    kind: str
    model_dir: Path | None
    trained_by: Run | None  # the run folder that trained its model

    @property
    def label(self) -> str:
        return f"scores as of {self.as_of.date()} ({self.kind} {self.run.name})"


def scored_run(path: str | Path) -> ScoredRun:
    """Open a run folder that scored profiles (`workbench run`, `score` or `backtest`)."""
    run = Run.open(Path(path).resolve())
    if not run.has("scores"):
        raise DataError(
            f"{run.path}: no scores.parquet; compare runs that scored profiles "
            "(workbench run, workbench score, workbench backtest)"
        )
    as_of = run.optional_json("score_summary").get("as_of") or run.optional_json(
        "goal_summary"
    ).get("as_of")
    if not as_of:
        raise DataError(f"{run.path}: no scoring date (score_summary.json is missing)")
    record = run.record
    model = Path(record["model"]) if record.get("model") else run.file("model")
    return ScoredRun(
        run,
        pd.Timestamp(as_of),
        KINDS.get(record.get("kind", ""), record.get("kind") or "run"),
        model if model.exists() else None,
        training_run(run),
    )


def model_specs(side: ScoredRun) -> list[FeatureSpec]:
    """The features the run's model uses (with their names)."""
    if side.model_dir is None:
        return []
    path = side.model_dir / "feature_spec.json"
    if not path.is_file():
        return []
    return [FeatureSpec(**d) for d in json.loads(path.read_text(encoding="utf-8"))]


def read_columns(run: Run, name: str, codes: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    present = set(pq.read_schema(run.require(name)).names)
    return run.read_frame(name, [c for c in codes if c in present])


def factor_weights(side: ScoredRun, notes: list[str]) -> pd.DataFrame | None:
    """The run's global factors: factors_global.csv when the run explained its scores, else
    the same mean |contribution| computed from its model on its scoring snapshot."""
    from workbench import modeling
    from workbench.factor_summary import FACTOR_SUMMARY_ROWS, global_factors

    if side.run.has("factors_global"):
        return side.run.read_frame("factors_global")
    if side.model_dir is None or not side.run.has("scoring_snapshot"):
        notes.append(f"{side.run.name}: no model or scoring snapshot: factor drift not measured")
        return None
    model = modeling.load_model(side.model_dir)
    codes = [s.code for s in model.feature_specs_]
    frame = read_columns(side.run, "scoring_snapshot", codes)
    if len(frame) > FACTOR_SUMMARY_ROWS:
        frame = frame.sample(FACTOR_SUMMARY_ROWS, random_state=side.run.config.training.seed)
    return global_factors(model.contributions(frame[codes]), model.feature_specs_)


# ----------------------------------------------------------------------------- what changed
def side_facts(side: ScoredRun) -> dict[str, Any]:
    from workbench.reporting.goal_text import goal_words, population

    config = side.run.config
    trained = side.trained_by
    metrics = trained.optional_json("metrics") if trained is not None else {}
    champion = metrics.get("champion")
    auc = metrics.get("models", {}).get(champion, {}).get("roc_auc") if champion else None
    trained_as_of = trained.optional_json("goal_summary").get("as_of") if trained else None
    specs = model_specs(side)
    return {
        "run": side.run.name,
        "kind": side.kind,
        "scoring date": str(side.as_of.date()),
        "goal": goal_words(config).outcome,
        "eligibility": population(config),
        "feature lookback (days)": config.features.lookback_days,
        "buckets (medium, high from percentile)": (
            f"{config.scoring.buckets.medium}, {config.scoring.buckets.high}"
        ),
        "model": f"{champion or '?'} from {trained.name if trained else side.model_dir}",
        "model trained as of": trained_as_of,
        "validation ROC AUC of the model": None if auc is None else round(float(auc), 3),
        "features the model uses": len(specs),
        "profiles scored": side.run.optional_json("score_summary").get("profiles"),
    }


def run_differences(a: ScoredRun, b: ScoredRun) -> pd.DataFrame:
    """What the two runs were: one row per fact (goal, eligibility, model, dates...), with
    ``changed`` for the facts that differ."""
    fa, fb = side_facts(a), side_facts(b)
    frame = pd.DataFrame(
        {"what": list(fa), "earlier": [fa[k] for k in fa], "later": [fb[k] for k in fa]}
    )
    frame["changed"] = [
        str(x) != str(y) for x, y in zip(frame["earlier"], frame["later"], strict=True)
    ]
    codes_a, codes_b = {s.code for s in model_specs(a)}, {s.code for s in model_specs(b)}
    if codes_a != codes_b and codes_a and codes_b:
        gained, lost = sorted(codes_b - codes_a), sorted(codes_a - codes_b)
        text = f"added {', '.join(gained[:5]) or 'none'}; dropped {', '.join(lost[:5]) or 'none'}"
        frame.loc[len(frame)] = ["features added or dropped", "", text, True]
    return frame


def change_flags(differences: pd.DataFrame) -> list[str]:
    changed = set(differences.loc[differences["changed"], "what"])
    flags = []
    for what in ("goal", "eligibility"):
        if what in changed:
            flags.append(
                f"the {what} changed between the runs: the scores answer different questions, "
                "so drift here is partly the definition's"
            )
    return flags


# ----------------------------------------------------------------------------- realised
def realised_of_earlier(
    a: ScoredRun, b: ScoredRun, earlier_scores: pd.DataFrame, notes: list[str]
) -> dict[str, Any] | None:
    """The earlier run's scores against what happened in its outcome window, read from the
    later run's events (only those before the later run's scoring date); None while that
    window is still open there."""
    from workbench.engine import connect, events_table
    from workbench.monitoring import realised_flags
    from workbench.scoring import realised_performance
    from workbench.workflow.later_scores import realised_outcomes

    config = a.run.config
    closes = a.as_of + pd.Timedelta(days=config.goal.window_days)
    if closes > b.as_of:
        notes.append(
            f"the earlier run's outcome window closes on {closes.date()}, after the later run's "
            f"scoring date {b.as_of.date()}: realised performance is not known yet"
        )
        return None
    events = events_table(connect(config), b.run.require("events"))
    events = events.filter(events.timestamp < b.as_of.tz_localize(None).to_pydatetime())
    actual = realised_outcomes(events, config, a.as_of)
    perf = realised_performance(earlier_scores, actual)
    trained = a.trained_by
    metrics = trained.optional_json("metrics") if trained is not None else {}
    validation_auc = metrics.get("models", {}).get(metrics.get("champion"), {}).get("roc_auc")
    trained_as_of = trained.optional_json("goal_summary").get("as_of") if trained else None
    out_of_time = trained_as_of is not None and pd.Timestamp(trained_as_of) <= a.as_of
    if trained_as_of is not None and not out_of_time:
        notes.append(
            f"the earlier run's model was trained as of {trained_as_of}, after its scoring date "
            f"{a.as_of.date()}: it saw part of these outcomes, so the realised figures are not "
            "an out-of-time test"
        )
    return {
        **perf,
        "window": [str(a.as_of.date()), str(closes.date())],
        "validation_roc_auc": validation_auc,
        "out_of_time": bool(out_of_time),
        "expected": float(perf["by_bucket"]["expected"].sum()),
        "actual": int(perf["by_bucket"]["actual"].sum()),
        "flags": realised_flags(perf, validation_auc),
    }
