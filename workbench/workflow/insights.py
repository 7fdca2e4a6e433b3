"""What a scored run adds for decisions: the target size (`economics`), the audiences and the
cohort tables, saved through the `Run` by `score_and_segment` and `workbench score` alike.

`validation_frames` is the one place that reads a run's validation predictions (one frame per
validation origin: one per rolling-origin fold, or the single validation cutoff of a run made
before the folds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.config import Config
from workbench.errors import ConfigError, DataError
from workbench.features import slug
from workbench.run import Run

__all__ = [
    "TargetSize",
    "validation_frames",
    "training_run",
    "resolve_cohorts",
    "target_size",
    "decide_and_segment",
]


def validation_frames(run: Run) -> list[pd.DataFrame]:
    """One frame per validation origin of the run that trained a model: ``profile_id, cutoff,
    label, probability`` (the champion's out-of-time probability). Origins are the ``fold``
    column when the predictions carry one, else their ``cutoff``."""
    champion = run.read_json("metrics")["champion"]
    preds = run.read_frame("validation_predictions")
    if champion not in preds.columns:
        raise DataError(
            f"{run.file('validation_predictions')}: no column for the champion {champion!r}"
        )
    key = "fold" if "fold" in preds.columns else "cutoff"
    keep = [c for c in ("profile_id", "cutoff", "label") if c in preds.columns]
    frames = []
    for _, group in preds.groupby(key, sort=True):
        frame = group[keep].assign(probability=group[champion].to_numpy()).reset_index(drop=True)
        frame["profile_id"] = frame["profile_id"].astype(str)
        frames.append(frame)
    return frames


def training_run(run: Run) -> Run | None:
    """The run folder that trained the model a run scored with: the run itself after
    `workbench run`, the `--model` run after `workbench score` (None when it is gone)."""
    if run.has("metrics") and run.has("validation_predictions"):
        return run
    model = run.record.get("model")
    if not model:
        return None
    folder = Path(model)
    folder = folder.parent if folder.name == "model" else folder
    if (folder / "metrics.json").is_file() and (folder / "config.yaml").is_file():
        return Run(folder)
    return None


# ----------------------------------------------------------------------------- target size
@dataclass
class TargetSize:
    """The profit (or conversions) curve over target size and, with economics, the decision."""

    curve: pd.DataFrame
    decision: dict[str, Any] | None
    source: Run
    cutoffs: list[str]

    @property
    def audience(self) -> int | None:
        """Profiles a `top_by_profit` segment takes (None without economics)."""
        return None if self.decision is None else int(self.decision["audience"]["contacts"])


def target_size(source: Run | None, scores: pd.DataFrame, config: Config) -> TargetSize | None:
    """The curve from the validation origins of `source` (the training run) and, with an
    `economics` section, the cut-offs for today's scores. None without validation data."""
    from workbench.economics import profit_curve, target_decision

    needs = any(rule.top_by_profit for rule in config.segments)
    if source is None:
        if needs:
            raise DataError(
                f"{config.where()}: segments: top_by_profit needs the validation predictions "
                "of the run that trained the model, and that run folder is gone"
            )
        return None
    frames = validation_frames(source)
    curve = profit_curve(frames, config.economics)
    decision = None
    if config.economics is not None:
        decision = target_decision(curve, scores["probability"].to_numpy(), config.economics)
    cutoffs = [str(pd.Timestamp(f["cutoff"].iloc[0]).date()) for f in frames if "cutoff" in f]
    return TargetSize(curve, decision, source, cutoffs)


def _groups(scores: pd.DataFrame, seg_summary: pd.DataFrame, config: Config) -> pd.DataFrame:
    buckets = (
        scores.groupby(scores["bucket"].astype(str))["probability"]
        .agg(profiles="size", expected_conversions="sum")
        .reindex(["high", "medium", "low"])
        .dropna()
        .reset_index(names="group")
    )
    buckets.insert(1, "kind", "bucket")
    if not config.segments:  # the default segments are the buckets themselves
        return buckets.astype({"profiles": "int64"})
    segments = pd.DataFrame(
        {
            "group": seg_summary["segment"],
            "kind": "segment",
            "profiles": seg_summary["size"],
            "expected_conversions": seg_summary["expected_conversions"],
        }
    )
    out = pd.concat([buckets, segments], ignore_index=True)
    out["profiles"] = out["profiles"].astype("int64")
    return out


def save_target(
    run: Run, target: TargetSize | None, scores: pd.DataFrame, seg_summary, config: Config
) -> dict[str, Any]:
    """economics.json (the decision, per bucket and segment) and profit_curve.csv."""
    from workbench.economics import group_economics

    groups = group_economics(_groups(scores, seg_summary, config), config.economics)
    body: dict[str, Any] = {
        "economics": None if config.economics is None else config.economics.model_dump(),
        "decision": None if target is None else target.decision,
        "groups": json.loads(groups.to_json(orient="records")),
        # the final folder name, also while this run is still being built
        "validation_run": None if target is None else str(target.source.base / target.source.name),
        "validation_cutoffs": [] if target is None else target.cutoffs,
    }
    if target is not None:
        run.write_frame("profit_curve", target.curve)
    run.write_json("economics", body)
    return body


# ----------------------------------------------------------------------------- cohorts
def resolve_cohorts(
    config: Config, profile_columns: list[str], snapshot_columns: list[str]
) -> dict[str, tuple[str, str]]:
    """Each `reporting.cohorts` name -> (``profile`` or ``feature``, column): a profile
    attribute first, else a snapshot column (a feature code, or the attribute's profile_*
    feature). An unknown name is one line naming the key and what is available."""
    found: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(config.reporting.cohorts):
        if name in profile_columns and name != "profile_id":
            found[name] = ("profile", name)
        elif name in snapshot_columns:
            found[name] = ("feature", name)
        elif f"profile_{slug(name)}" in snapshot_columns:
            found[name] = ("feature", f"profile_{slug(name)}")
        else:
            attrs = ", ".join(c for c in profile_columns if c != "profile_id") or "none"
            raise ConfigError(
                f"{config.where()}: reporting.cohorts[{i}]: unknown attribute {name!r}; profile "
                f"attributes: {attrs}; or a feature code (feature_spec.json)"
            )
    return found


def _attributes(
    ids: pd.DataFrame, snapshot: pd.DataFrame, profiles: pd.DataFrame | None, sources, on
) -> pd.DataFrame:
    """The cohort columns for the rows of `ids`, from the profiles file and the snapshot."""
    out = ids[on].copy()
    snap_cols = [col for kind, col in sources.values() if kind == "feature"]
    if snap_cols or "_history" in snapshot.columns:
        extra = [c for c in [*snap_cols, "_history"] if c in snapshot.columns]
        out = out.merge(snapshot[[*on, *extra]].drop_duplicates(on), on=on, how="left")
    prof_cols = [col for kind, col in sources.values() if kind == "profile"]
    if prof_cols and profiles is not None:
        attrs = profiles[["profile_id", *prof_cols]].drop_duplicates("profile_id", keep="last")
        out = out.merge(attrs.astype({"profile_id": str}), on="profile_id", how="left")
    return out.rename(columns={col: name for name, (_, col) in sources.items()})


def save_cohorts(
    run: Run,
    source: Run | None,
    scores: pd.DataFrame,
    scoring_snapshot: pd.DataFrame,
    config: Config,
) -> pd.DataFrame | None:
    """cohorts.csv: per cohort of `reporting.cohorts` (and sparse history) the scored
    distribution and, on the training run's validation origins, base rate, calibration, AUC
    and the flag (`workbench.cohorts`). None without validation data."""
    from workbench.cohorts import HISTORY, cohort_table, sparse_history

    if source is None:
        return None
    import pyarrow.parquet as pq

    profiles = run.read_frame("profiles") if run.has("profiles") else None
    lookback = source.config.features.lookback_days
    validation = pd.concat(validation_frames(source), ignore_index=True)
    sources = resolve_cohorts(
        config,
        [] if profiles is None else list(profiles.columns),
        list(scoring_snapshot.columns),
    )
    wanted = {"profile_id", "cutoff", f"active_days_{lookback}d"}
    wanted |= {col for kind, col in sources.values() if kind == "feature"}
    # only the columns the cohorts need: the snapshots are wide (a copy would be too)
    ssnap = scoring_snapshot[[c for c in scoring_snapshot.columns if c in wanted]].copy()
    present = pq.read_schema(source.require("snapshots")).names
    vsnap = source.read_frame("snapshots", columns=[c for c in present if c in wanted])
    validation["cutoff"] = pd.to_datetime(validation["cutoff"], utc=True)
    vsnap["cutoff"] = pd.to_datetime(vsnap["cutoff"], utc=True)
    vsnap = vsnap[vsnap["cutoff"].isin(validation["cutoff"].unique())].reset_index(drop=True)
    for snap in (vsnap, ssnap):
        snap["profile_id"] = snap["profile_id"].astype(str)
        history = sparse_history(snap, lookback)
        if history is not None:
            snap["_history"] = history.to_numpy()
    scored = _attributes(
        scores[["profile_id"]].astype(str), ssnap, profiles, sources, ["profile_id"]
    )
    valid = _attributes(validation, vsnap, profiles, sources, ["profile_id", "cutoff"])
    names = list(sources)
    if "_history" in scored.columns and "_history" in valid.columns:
        scored, valid = (
            scored.rename(columns={"_history": HISTORY}),
            valid.rename(columns={"_history": HISTORY}),
        )
        names.append(HISTORY)
    scored = scored.assign(
        probability=scores["probability"].to_numpy(), bucket=scores["bucket"].to_numpy()
    )
    valid = valid.assign(
        probability=validation["probability"].to_numpy(), label=validation["label"].to_numpy()
    )
    table = cohort_table(scored, valid, names)
    run.write_frame("cohorts", table)
    return table


# ----------------------------------------------------------------------------- together
def decide_and_segment(
    run: Run, scores: pd.DataFrame, scoring_snapshot: pd.DataFrame, config: Config
) -> dict[str, Any]:
    """The target size, the audiences (a `top_by_profit` segment takes the decision's
    audience), economics.json, profit_curve.csv and cohorts.csv for a scored run."""
    from workbench.workflow.stages import save_scores

    source = training_run(run)
    target = target_size(source, scores, config)
    seg_summary = save_scores(run, scores, config, None if target is None else target.audience)
    economics = save_target(run, target, scores, seg_summary, config)
    cohorts = save_cohorts(run, source, scores, scoring_snapshot, config)
    return {
        "segments_summary": seg_summary,
        "target": target,
        "economics": economics,
        "cohorts": cohorts,
    }
