"""The same Ibis expressions on Spark (local mode) and on DuckDB give the same snapshots.

Floats agree to 1e-9, counts, labels and rows exactly. Runs in Spark local[1] on a 300-profile
sample; skipped (with the reason) when Java or pyspark is missing.

Known engine difference, by design: `hash()` (used only to sample snapshot rows when they exceed
`training.max_rows`) is a different function on each engine, so a *sampled* training set differs
between DuckDB and Spark. Sampling is off here; every row is compared.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import ingest_quality

pytestmark = pytest.mark.spark

if shutil.which("java") is None:
    pytest.skip("Spark tests need Java (no `java` on PATH)", allow_module_level=True)
pytest.importorskip(
    "pyspark", reason="Spark tests need the optional extra: pip install -e '.[spark]'"
)

from workbench.config import load_config  # noqa: E402
from workbench.engine import (  # noqa: E402
    connect,
    duckdb_connection,
    events_table,
    is_spark,
    profiles_table,
    spark_connection,
)
from workbench.features import plan_features  # noqa: E402
from workbench.goals import goal_counts, plan_cutoffs, resolve_as_of  # noqa: E402
from workbench.snapshots import build_snapshots  # noqa: E402

# Small data: one core, one shuffle partition, no whole-stage codegen (compiling the wide
# aggregate costs more than running it on 6k events), quick JIT for a short-lived JVM.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
}


@pytest.fixture(scope="module")
def spark_con():
    con = spark_connection("local[1]", TEST_CONF)
    con._session.sparkContext.setLogLevel("ERROR")
    yield con
    con._session.stop()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from workbench.ingest.sample import write_sample

    root = tmp_path_factory.mktemp("spark-sample")
    config_path = write_sample(root / "data", profiles=300, seed=3)
    config = load_config(config_path)
    run = root / "run"
    quality = ingest_quality(config, run)
    as_of = resolve_as_of(config, None, quality["first_event"], quality["last_event"])
    plan = plan_cutoffs(config, as_of, quality["first_event"])
    return config, run, as_of, plan


def _tables(con, run):
    return events_table(con, run / "events.parquet"), profiles_table(con, run / "profiles.parquet")


def _assert_same(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert list(duck.columns) == list(spark.columns)
    assert len(duck) == len(spark) > 0
    for col in duck.columns:
        a, b = duck[col], spark[col]
        if pd.api.types.is_float_dtype(a):
            assert pd.api.types.is_float_dtype(b), col
            np.testing.assert_array_equal(a.isna().to_numpy(), b.isna().to_numpy(), err_msg=col)
            np.testing.assert_allclose(
                a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col
            )
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True, obj=col)


def _both(spark_con, run, fn):
    duck = fn(*_tables(duckdb_connection(), run))
    spark = fn(*_tables(spark_con, run))
    return duck, spark


def test_connect_spark_engine(sample_run, spark_con):
    config = sample_run[0].model_copy(update={"engine": "spark"})
    assert is_spark(connect(config))


def test_snapshots_equal_on_spark_and_duckdb(sample_run, spark_con):
    config, run, as_of, plan = sample_run

    def build(events, profiles):
        fplan = plan_features(events, config, profiles, before=as_of)
        counts = goal_counts(events, config, plan.labelled)
        train, _ = build_snapshots(events, config, plan.labelled, fplan, profiles)
        scoring, _ = build_snapshots(events, config, [as_of], fplan, profiles, with_label=False)
        return fplan, counts, train, scoring

    (dplan, dcounts, dtrain, dscore), (splan, scounts, strain, sscore) = _both(
        spark_con, run, build
    )
    assert dplan.specs == splan.specs
    # the sample's families are all there: event types, custom event, numeric, distinct, profile
    families = {s.family for s in dplan.specs}
    assert {
        "event_type",
        "custom_event",
        "numeric_field",
        "distinct",
        "overall",
        "profile",
    } <= families
    pd.testing.assert_frame_equal(dcounts, scounts, check_exact=True)
    assert dcounts["positives"].sum() > 0 and dcounts["negatives"].sum() > 0
    _assert_same(dtrain, strain)
    _assert_same(dscore, sscore)
    assert set(dtrain["label"].unique()) == {0, 1}


def test_eligibility_conditions_and_churn_goal_on_spark(sample_run, spark_con):
    """Other operators (in, contains, >=, not_in), eligibility conditions and does_not_occur."""
    config, run, as_of, plan = sample_run
    data = config.model_dump(mode="python", exclude={"source"})
    data["goal"] = {
        "outcome": "does_not_occur",
        "match": "any",
        "conditions": [
            {"field": "event_type", "op": "contains", "value": "commerce."},
            {"field": "commerce.order.priceTotal", "op": ">=", "value": 40},
        ],
        "window_days": 45,
    }
    data["eligibility"] = {
        "active_within_days": 90,
        "conditions": [{"field": "channel", "op": "in", "value": ["web", "mobile"]}],
    }
    data["custom_events"] = [
        {
            "name": "Not email",
            "conditions": [{"field": "channel", "op": "not_in", "value": ["email"]}],
        }
    ]
    variant = type(config).model_validate(data)

    def build(events, profiles):
        fplan = plan_features(events, variant, None, before=as_of)
        counts = goal_counts(events, variant, plan.labelled)
        frame, _ = build_snapshots(events, variant, plan.labelled, fplan, None)
        return counts, frame

    (dcounts, dframe), (scounts, sframe) = _both(spark_con, run, build)
    pd.testing.assert_frame_equal(dcounts, scounts, check_exact=True)
    _assert_same(dframe, sframe)


def test_score_on_spark_equals_pandas_scoring(sample_run, spark_con, tmp_path):
    """The saved model applied per partition (mapInPandas) gives the scores pandas gives."""
    from workbench.modeling import LogisticPropensity, load_model, save_model
    from workbench.scoring import SCORE_COLUMNS, score_profiles
    from workbench.snapshots import snapshot_expr
    from workbench.spark_scoring import score_on_spark, snapshot_dataframe

    config, run, as_of, plan = sample_run
    events, profiles = _tables(duckdb_connection(), run)
    fplan = plan_features(events, config, profiles, before=as_of)
    train, _ = build_snapshots(events, config, plan.labelled, fplan, profiles)
    scoring, _ = build_snapshots(events, config, [as_of], fplan, profiles, with_label=False)
    specs = [s for s in fplan.specs if s.kind == "numeric"][:12]
    model = LogisticPropensity(specs).fit(train[[s.code for s in specs]], train["label"])
    save_model(model, specs, config, tmp_path / "model")
    expected = score_profiles(load_model(tmp_path / "model"), scoring, specs, config, as_of)

    sevents, sprofiles = _tables(spark_con, run)
    expr = snapshot_expr(sevents, config, [as_of], fplan, sprofiles, with_label=False)
    frame = snapshot_dataframe(spark_con, expr).repartition(3)  # several partitions on purpose
    result = score_on_spark(
        frame, tmp_path / "model", config, plan=fplan, score_date=as_of, partitions=4
    )
    got = result.toPandas()
    assert list(got.columns) == SCORE_COLUMNS
    got = got.sort_values("profile_id").reset_index(drop=True)
    expected = expected.sort_values("profile_id").reset_index(drop=True)
    assert list(got["profile_id"]) == list(expected["profile_id"])
    np.testing.assert_allclose(got["probability"], expected["probability"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got["percentile"].astype(int), expected["percentile"].astype(int))
    for col in (
        "bucket",
        "factor_1",
        "factor_2",
        "factor_3",
        "factor_down",
        "factors_json",
        "propensity_type",
    ):
        assert got[col].fillna("").tolist() == expected[col].fillna("").tolist(), col
    assert got["score_date"].astype(str).tolist() == expected["score_date"].astype(str).tolist()
