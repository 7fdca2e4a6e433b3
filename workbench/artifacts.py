"""Every file a run folder holds, named once: its name, file, the one stage that writes it and
what it holds. `workbench.run.Run` resolves these names to paths; nothing else spells a file name.
"""

from __future__ import annotations

from dataclasses import dataclass

# The stages in order (each writes the artifacts whose `writer` it is).
STAGE_ORDER = ("prepare_data", "define_goal", "compare", "explain", "score_and_segment")


@dataclass(frozen=True)
class Artifact:
    """One file (or folder) of a run: its name, where it lives, who writes it, what it holds."""

    name: str
    file: str
    writer: str
    holds: str


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("config", "config.yaml", "Run.create", "The configuration this run used"),
    Artifact("record", "run.json", "Run.write_record", "Notebooks, parameters, timings, status"),
    Artifact("events", "events.parquet", "prepare_data", "The cleaned events (UTC, deduplicated)"),
    Artifact("profiles", "profiles.parquet", "prepare_data", "The cleaned profile attributes"),
    Artifact("quality", "data_quality.json", "prepare_data", "Rows read, kept, set aside, dropped"),
    Artifact(
        "quarantine", "quarantine.csv", "prepare_data", "Rows set aside, each with its reason"
    ),
    Artifact(
        "profiles_quarantine",
        "profiles_quarantine.csv",
        "prepare_data",
        "Profile rows set aside (no id, or a repeated id), each with its reason",
    ),
    Artifact("event_mix", "event_mix.csv", "prepare_data", "Events per month and event type"),
    Artifact(
        "cutoff_counts",
        "cutoff_counts.parquet",
        "check_goal",
        "Eligible profiles and positives per cutoff, counted by `workbench run`'s goal check "
        "before the notebooks (define_goal uses them instead of counting again)",
    ),
    Artifact("snapshots", "snapshots.parquet", "define_goal", "Training and validation snapshots"),
    Artifact(
        "scoring_snapshot",
        "scoring_snapshot.parquet",
        "define_goal",
        "The features of every profile scored",
    ),
    Artifact("feature_spec", "feature_spec.json", "define_goal", "The features and their names"),
    Artifact("goal_summary", "goal_summary.json", "define_goal", "Cutoffs, positives, readiness"),
    Artifact("metrics", "metrics.json", "compare", "Model comparison figures"),
    Artifact(
        "validation_predictions",
        "validation_predictions.parquet",
        "compare",
        "Each model's out-of-time scores at every validation origin (fold 0 = the newest)",
    ),
    Artifact("coefficients", "coefficients.csv", "compare", "What the logistic model learned"),
    Artifact("importance", "importance.csv", "compare", "What the boosted model relies on"),
    Artifact("model", "model", "compare", "The saved champion model"),
    Artifact("factors_global", "factors_global.csv", "explain", "Influential factors overall"),
    Artifact("factors_by_bucket", "factors_by_bucket.csv", "explain", "Factors per bucket"),
    Artifact("examples", "examples.csv", "explain", "Example profiles and their factors"),
    Artifact(
        "contributions",
        "contributions.parquet",
        "explain",
        "Every scored profile's probability and factor contributions, for the scores",
    ),
    Artifact("scores", "scores.parquet", "score_and_segment", "Scores of every eligible profile"),
    Artifact(
        "scores_csv", "scores.csv", "score_and_segment", "Scores of every profile (spreadsheet)"
    ),
    Artifact("segments", "segments", "score_and_segment", "Audiences, one CSV each"),
    Artifact("segments_summary", "segments/summary.csv", "score_and_segment", "Audience sizes"),
    Artifact(
        "expected_vs_actual",
        "expected_vs_actual.json",
        "score_and_segment",
        "Expected against actual conversions on the validation cutoff",
    ),
    Artifact(
        "score_summary",
        "score_summary.json",
        "score_and_segment",
        "Scoring figures: profiles, buckets, segments",
    ),
    Artifact(
        "economics",
        "economics.json",
        "score_and_segment",
        "Target size: profit-optimal and budget cut-offs, cost and profit per bucket and segment",
    ),
    Artifact(
        "profit_curve",
        "profit_curve.csv",
        "score_and_segment",
        "Conversions (and profit) by target size on the validation cutoff",
    ),
    Artifact(
        "cohorts",
        "cohorts.csv",
        "score_and_segment",
        "Scores, base rate, calibration, AUC per cohort",
    ),
    Artifact("backtest", "backtest.json", "backtest", "Scores compared with what happened"),
    Artifact(
        "comparison",
        "comparison.json",
        "monitor",
        "Two runs compared: score drift, bucket migration, factor drift, realised figures",
    ),
    Artifact("feature_drift", "feature_drift.csv", "monitor", "How far each feature moved (PSI)"),
    Artifact("report", "report.html", "write_report", "The landing page of this run"),
)
_BY_NAME = {a.name: a for a in ARTIFACTS}


def artifact(name: str) -> Artifact:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown run artifact {name!r}; known: {sorted(_BY_NAME)}") from None
