"""One small end to end: the sample scored a month apart (`--as-of`), re-scored with the earlier
model, compared (in process and through `workbench compare` with notebook 06), with economics,
a `top_by_profit` segment and cohorts, and the goal's index.html listing every run."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers import browser_or_skip

from workbench import economics, monitoring, workflow
from workbench.cli import main
from workbench.engine import connect, events_table
from workbench.ingest.sample import write_sample
from workbench.scoring import realised_performance

SETTINGS = [
    "readiness.min_positives=50",
    "readiness.min_negatives=50",
    "economics={cost_per_contact: 2, value_per_conversion: 25, budget: 300, currency: '$'}",
    "segments=[{name: best-to-contact, top_by_profit: true}, {name: high-propensity, bucket: high}]",
    "reporting.cohorts=[country, loyaltyTier]",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("monitoring")
    config = write_sample(base / "sample", profiles=2000, seed=3)
    out = base / "reports" / "sample"
    later = workflow.run_pipeline(config, out=out, overrides=SETTINGS)
    day = pd.Timestamp(later.read_json("score_summary")["as_of"])
    month_before = str((day - pd.Timedelta(days=30)).date())
    earlier = workflow.run_pipeline(config, out=out, overrides=SETTINGS, as_of=month_before)
    rescored = workflow.score(
        config, earlier.path, as_of=str(day.date()), out=out / "scores", overrides=SETTINGS
    )
    compared = workflow.compare_runs(earlier.path, later.path, notebook=False, progress=None)
    return {
        "config": config,
        "out": out,
        "earlier": earlier,
        "later": later,
        "rescored": rescored,
        "compared": compared,
        "day": day,
    }


def test_comparison_figures_are_the_functions_on_the_two_runs_files(runs):
    body = runs["compared"].read_json("comparison")
    a, b = runs["earlier"].read_frame("scores"), runs["later"].read_frame("scores")
    assert body["earlier"]["path"] == str(runs["earlier"].path)  # the earlier run is the reference
    assert body["score_drift"]["psi"] == pytest.approx(
        monitoring.psi(a["probability"], b["probability"])
    )
    joined = a.merge(b, on="profile_id", suffixes=("_a", "_b"))
    stayed = int((joined["bucket_a"] == joined["bucket_b"]).sum())
    moved = body["migration"]
    assert (moved["profiles_in_both"], moved["kept_bucket"]) == (len(joined), stayed)
    assert moved["new_profiles"] == len(set(b["profile_id"]) - set(a["profile_id"]))
    assert moved["no_longer_scored"] == len(set(a["profile_id"]) - set(b["profile_id"]))
    drift = runs["compared"].read_frame("feature_drift")
    assert len(drift) == body["earlier"]["features the model uses"]
    assert drift["psi"].is_monotonic_decreasing
    families = pd.DataFrame(body["factor_drift"])
    assert families["earlier_share"].sum() == pytest.approx(1) and families[
        "later_share"
    ].sum() == pytest.approx(1)


def test_realised_performance_of_the_earlier_run_from_the_later_runs_events(runs):
    realised = runs["compared"].read_json("comparison")["realised"]
    earlier, later, day = runs["earlier"], runs["later"], runs["day"]
    assert realised["window"] == [str((day - pd.Timedelta(days=30)).date()), str(day.date())]
    assert realised["out_of_time"]  # the earlier model never saw that window
    events = events_table(connect(later.config), later.file("events"))
    events = events.filter(events.timestamp < day.to_pydatetime())
    actual = workflow.realised_outcomes(events, earlier.config, day - pd.Timedelta(days=30))
    again = realised_performance(earlier.read_frame("scores"), actual)
    assert realised["roc_auc"] == pytest.approx(again["roc_auc"])
    assert realised["actual"] == int(again["by_bucket"]["actual"].sum())
    assert pd.DataFrame(realised["by_bucket"])["expected"].sum() == pytest.approx(
        earlier.read_frame("scores")["probability"].sum()
        * again["profiles"]
        / len(earlier.read_frame("scores")),
        rel=0.05,
    )
    assert 0.65 < realised["roc_auc"] < 0.95


def test_economics_decision_and_the_top_by_profit_audience(runs):
    run = runs["later"]
    body = run.read_json("economics")
    scores = run.read_frame("scores")
    curve = run.read_frame("profit_curve")
    config = run.config
    again = economics.target_decision(curve, scores["probability"], config.economics)
    assert body["decision"]["within_budget"] == pytest.approx(again["within_budget"])
    cut = body["decision"]["audience"]
    assert cut["cost"] <= 300 and cut["contacts"] == 150  # $300 at $2 a contact, the budget binds
    audience = pd.read_csv(run.segment_file("best-to-contact"))
    assert len(audience) == cut["contacts"]
    assert audience["probability"].min() >= scores["probability"].nlargest(cut["contacts"]).min()
    groups = pd.DataFrame(body["groups"]).set_index("group")
    assert groups.loc["best-to-contact", "cost"] == cut["contacts"] * 2
    assert groups.loc["high", "profiles"] == (scores["bucket"] == "high").sum()
    page = run.file("report").read_text()
    assert "Whom to contact" in page and "Within the budget of $300" in page
    assert "Who the model serves badly" in page and "Every run of this goal" in page


def test_cohort_tables_carry_every_cohort_and_the_sparse_share(runs):
    table = runs["later"].read_frame("cohorts")
    assert table.iloc[0]["cohort"] == "all profiles"
    assert set(table["cohort"]) == {"all profiles", "country", "loyaltyTier", "history"}
    for cohort in ("country", "loyaltyTier", "history"):
        part = table[table["cohort"] == cohort]
        assert part["scored_profiles"].sum() == table.iloc[0]["scored_profiles"]
        assert part["validation_profiles"].sum() == table.iloc[0]["validation_profiles"]
    assert "flag" in table.columns


def test_rescoring_run_is_compared_with_its_model_and_its_own_snapshot(runs):
    rescored = runs["rescored"]
    assert (
        rescored.has("scoring_snapshot") and rescored.has("economics") and rescored.has("cohorts")
    )
    assert rescored.read_json("economics")["validation_run"] == str(runs["earlier"].path)
    result = workflow.monitor(
        workflow.open_comparison(earlier=str(runs["earlier"].path), later=str(rescored.path))
    )
    assert len(result.factor_drift) and len(result.feature_drift)  # from the model, not a file
    assert result.realised is not None and result.realised["out_of_time"]
    same_model = result.differences.set_index("what").loc["model", "changed"]
    assert not same_model


def test_workbench_compare_writes_its_page_and_the_index_lists_every_run(runs, capsys):
    out = runs["out"]
    code = main(["compare", str(runs["rescored"].path), str(runs["earlier"].path)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "score drift: PSI" in printed and "realised (earlier run): ROC AUC" in printed
    folder = sorted(p for p in (out / "compares").iterdir() if p.is_dir() and not p.is_symlink())[
        -1
    ]
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "ok" and record["earlier"] == str(runs["earlier"].path)
    executed = nbformat.read(folder / "06_monitoring.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    page = (folder / "06_monitoring.html").read_text()
    assert (
        "Score drift" in page and "Bucket migration" in page and "data:image/svg+xml;base64" in page
    )
    assert "Traceback" not in page
    index = (out / "index.html").read_text()
    for run in (runs["earlier"], runs["later"], runs["rescored"]):
        assert run.name in index
    assert "Expected against realised, run by run" in index and "data:image/svg+xml;base64" in index
    assert index.count("re-scoring") >= 1 and "Comparisons" in index


def test_comparison_page_and_index_as_a_person_sees_them(runs, tmp_path):
    """The monitoring page and index.html in headless Chromium at 1,400 px: no horizontal
    scrolling, no broken image, no traceback, titled; the words a marketer looks for."""
    browser = browser_or_skip()
    out = runs["out"]
    folder = workflow.compare_runs(runs["earlier"].path, runs["later"].path, progress=None)
    pages = [folder.path / "06_monitoring.html", out / "index.html"]
    checks = browser.check_pages(pages, tmp_path / "screenshots")
    assert [p for c in checks for p in c.problems] == []
    page, index = (" ".join(c.text.split()) for c in checks)
    for words in (
        "Read this first",
        "Score drift",
        "Bucket migration",
        "turned out",
        "← Every run",
    ):
        assert words in page, words
    assert "every run over time" in index and "Expected against realised, run by run" in index
    assert checks[0].images >= 4 and checks[1].images >= 1


def test_compare_refuses_runs_without_scores(runs, tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("x: 1\n")
    assert main(["compare", str(tmp_path), str(runs["later"].path)]) == 2
    assert "no scores.parquet" in capsys.readouterr().err
    assert np.isfinite(runs["compared"].read_json("comparison")["migration"]["kappa"])
