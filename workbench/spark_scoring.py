"""Scoring at scale on Spark: the saved model applied per partition, never collected to the driver.

`score_on_spark(snapshot_df, model_dir, config, plan=...)` takes a Spark DataFrame of the scoring
snapshot (for example the `snapshots.snapshot_expr` of a Spark-backed Ibis table, see
`snapshot_dataframe`) and returns a Spark DataFrame with the columns of
`workbench.scoring.SCORE_COLUMNS`:

- probability and influential factors: `mapInPandas`, one Arrow batch at a time on the executors.
  The model's files (plain JSON / LightGBM text, checked by sha256 in `modeling.load_model`) travel
  inside the task closure, so executors need no shared file system.
- factor importance thresholds (medium/high): quantiles of |contribution| over the population,
  estimated on the driver from a sample of at most `threshold_rows` rows (in pandas scoring they
  come from the whole population; the sample estimate is the only difference).
- percentile and bucket, exactly as `scoring.assign_percentiles` defines them (profiles strictly
  lower / population): rows are range-partitioned by probability (equal probabilities always land
  in the same partition), each partition's row count goes to the driver (one number per
  partition) and each partition then ranks its own rows with the offset of the partitions below.

Only small things reach the driver: the row count, a threshold sample and per-partition counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.factor_groups import family_contributions, grouped_factors
from workbench.factors import importance_thresholds
from workbench.scoring import assign_buckets

_MODELS: dict[str, Any] = {}


def _model_files(model_dir: str | Path) -> dict[str, str]:
    """The model's files by name (read on the driver; only the names `save_model` writes)."""
    from workbench.modeling.persistence import check_file_names, read_manifest

    model_dir = Path(model_dir)
    if not (model_dir / "model.json").exists() and (model_dir / "model" / "model.json").exists():
        model_dir = model_dir / "model"
    manifest = read_manifest(model_dir)
    listed = manifest.get("files")
    names = ["model.json", *(listed if isinstance(listed, dict) else {})]
    check_file_names(names)
    return {name: (model_dir / name).read_text(encoding="utf-8") for name in names}


def _load(files: dict[str, str]):
    """The model from its files (once per Python worker), verified by `modeling.load_model`;
    the names are checked before anything is written to the temporary folder."""
    from workbench.modeling import load_model
    from workbench.modeling.persistence import check_file_names

    check_file_names(files)
    key = hashlib.sha256(files["model.json"].encode()).hexdigest()
    if key not in _MODELS:
        with tempfile.TemporaryDirectory(prefix="workbench-model-") as tmp:
            for name, text in files.items():
                (Path(tmp) / name).write_text(text, encoding="utf-8")
            _MODELS[key] = load_model(tmp)
    return _MODELS[key]


def _prepare(frame: pd.DataFrame, specs, plan) -> pd.DataFrame:
    """Engine rows -> the model's inputs (same rules as `snapshots.finish_frame`)."""
    if plan is not None:
        from workbench.snapshots import finish_frame

        wanted = {s.code for s in specs}
        plan = dataclasses.replace(plan, specs=[s for s in plan.specs if s.code in wanted])
        raw = frame if "cutoff_s" in frame.columns else frame.assign(cutoff_s=0)
        return finish_frame(raw, plan, with_label=False)  # (re-sorted: keep ids from its result)
    out = frame.copy()
    for s in specs:
        if s.kind == "numeric":
            out[s.code] = pd.to_numeric(out[s.code], errors="coerce").astype("float64")
        else:
            out[s.code] = out[s.code].astype("object").astype("category")
    return out


def snapshot_dataframe(con, expr):
    """An Ibis expression on the PySpark backend as a Spark DataFrame (nothing is collected)."""
    con._run_pre_execute_hooks(expr)
    return con._session.sql(con.compile(expr))


FACTOR_TEXT = ("factor_1", "factor_2", "factor_3", "factor_down", "factors_json")


def score_on_spark(
    snapshot_df,
    model_dir: str | Path,
    config,
    *,
    plan=None,
    score_date=None,
    thresholds: tuple[float, float] | None = None,
    threshold_rows: int = 50_000,
    partitions: int | None = None,
    seed: int = 0,
):
    """Score a Spark DataFrame of snapshot rows with a saved model; returns a Spark DataFrame.

    Parameters
    ----------
    snapshot_df : Spark DataFrame with `profile_id` and the model's feature columns (raw engine
        output with `plan`, or already finished numerics/categoricals without it).
    model_dir : a saved model folder (or a run folder holding `model/`), read on the driver.
    config : the whole Config (buckets, propensity type).
    plan : the `features.FeaturePlan` the snapshot was built with (fills counts, maps categories).
    score_date : the date the scores are as of (default: today, UTC).
    thresholds : fixed factor importance thresholds; default estimated from a sample.
    partitions : range partitions for the percentile pass (default: the session's shuffle partitions).
    """
    from pyspark.sql import functions as F

    from workbench.scoring import SCORE_COLUMNS

    files = _model_files(model_dir)
    model = _load(files)
    specs = list(model.feature_specs_)
    codes = [s.code for s in specs]
    missing = [c for c in ["profile_id", *codes] if c not in snapshot_df.columns]
    if missing:
        raise ConfigError(f"score_on_spark: snapshot lacks column(s) {missing}")
    goal = getattr(config, "goal", None)
    propensity_type = goal.propensity_type if goal is not None else ""
    day = pd.Timestamp(score_date or dt.datetime.now(dt.UTC).date()).date()
    keep = ["profile_id", *codes] + (
        ["cutoff_s"] if plan is not None and "cutoff_s" in snapshot_df.columns else []
    )
    rows = snapshot_df.select(*keep)
    population = rows.count()
    if population == 0:
        raise ConfigError("score_on_spark: the scoring snapshot is empty")
    if thresholds is None:
        fraction = min(1.0, threshold_rows / population)
        sample = rows.sample(fraction=fraction, seed=seed) if fraction < 1 else rows
        X = _prepare(sample.toPandas(), specs, plan)[codes]
        # on the families' contributions, as `score_profiles` (one factor per family)
        thresholds = importance_thresholds(family_contributions(model.contributions(X), specs)[1])
    direction = -1 if propensity_type == "churn" else 1
    scorer = _batch_scorer(files, specs, plan, thresholds, direction)
    scored = rows.mapInPandas(scorer, _scored_schema())
    k = partitions or int(snapshot_df.sparkSession.conf.get("spark.sql.shuffle.partitions", "8"))
    ranked = _with_percentiles(scored, k, config.scoring.buckets)
    result = ranked.withColumn("score_date", F.lit(day)).withColumn(
        "propensity_type", F.lit(propensity_type)
    )
    return result.select(*SCORE_COLUMNS)


def _scored_schema():
    from pyspark.sql import types as T

    text = T.StringType()
    return T.StructType(
        [T.StructField("profile_id", text), T.StructField("probability", T.DoubleType())]
        + [T.StructField(c, text) for c in FACTOR_TEXT]
    )


def _batch_scorer(files: dict[str, str], specs, plan, thresholds, direction: int = 1):
    """The mapInPandas function: probability and factor text per Arrow batch, on the executors
    (factor families beside the model's training means, as `score_profiles` writes them)."""
    codes = [s.code for s in specs]

    def score_batches(batches):
        m = _load(files)
        for batch in batches:
            if batch.empty:
                continue
            prepared = _prepare(batch.reset_index(drop=True), specs, plan).reset_index(drop=True)
            X = prepared[codes]
            probability = np.asarray(m.propensity(X), dtype=np.float64).reshape(-1)
            factors, _ = grouped_factors(
                m.contributions(X),
                X,
                specs,
                direction=direction,
                ranges=getattr(m, "ranges_", None),
                thresholds=thresholds,
            )
            out = pd.DataFrame(
                {"profile_id": prepared["profile_id"].astype(str), "probability": probability}
            )
            for c in FACTOR_TEXT:
                out[c] = factors[c].astype("object").where(factors[c].notna(), None).to_numpy()
            yield out

    return score_batches


def _with_percentiles(scored, partitions: int, buckets):
    """Exact percentiles without a global sort on one machine: range partitions keep ties
    together, each partition ranks its rows with the row count of the partitions below."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    ranged = scored.repartitionByRange(partitions, "probability").localCheckpoint(eager=True)
    counts = {
        int(r["pid"]): int(r["n"])
        for r in ranged.groupBy(F.spark_partition_id().alias("pid"))
        .agg(F.count("*").alias("n"))
        .collect()
    }
    offsets, below = {}, 0
    for pid in sorted(counts):
        offsets[pid] = below
        below += counts[pid]
    n = below
    final_schema = T.StructType(
        _scored_schema().fields
        + [
            T.StructField("percentile", T.ShortType()),
            T.StructField("bucket", T.StringType()),
            T.StructField("_pid", T.IntegerType()),
        ]
    )

    def rank_partition(batches):
        parts = [b for b in batches if not b.empty]
        if not parts:
            return
        frame = pd.concat(parts, ignore_index=True)
        p = frame["probability"].to_numpy(dtype=np.float64)
        lower = offsets[int(frame["_pid"].iloc[0])] + np.searchsorted(
            np.sort(p, kind="stable"), p, side="left"
        )
        percentile = (lower * 100 // n + 1).astype(np.int16)
        frame["percentile"] = percentile
        frame["bucket"] = assign_buckets(percentile, buckets)
        yield frame

    with_pid = ranged.withColumn("_pid", F.spark_partition_id())
    return with_pid.mapInPandas(rank_partition, final_schema)
