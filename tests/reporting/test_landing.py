"""The landing page a marketer acts on, the readable tables, the verdict, the history of
expected vs actual, the score/backtest pages and summaries, and the derived interactive run."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from workbench import workflow
from workbench.cli import main
from workbench.config import config_from_dict
from workbench.ingest.sample import write_sample
from workbench.reporting import insight
from workbench.reporting.tables import formatted, number, percent, readable
from workbench.run import Run

SMALL = ["readiness.min_positives=50", "readiness.min_negatives=50"]


# ----------------------------------------------------------------------------- readable numbers
def test_numbers_and_percentages_read_at_a_glance():
    assert number(1234567) == "1,234,567" and number(162.778409) == "163"
    assert number(12.3456) == "12.3" and number(0.0045678) == "0.00457"
    assert number(float("nan")) == "–" and number(None) == "–" and number(True) == "yes"
    assert percent(0.22134) == "22.1%" and percent(0.0045) == "0.45%" and percent(1.0) == "100%"
    assert percent(pd.NA) == "–"


def test_tables_have_words_not_codes_no_index_no_json():
    frame = pd.DataFrame(
        {
            "base_rate": [0.2213, np.nan],
            "eligible": [12345, 7],
            "roc_auc": [0.81234, 0.7],
            "factors_json": ["[]", "[]"],
        },
        index=pd.Index(["a", "b"], name="cutoff"),
    )
    text = formatted(frame)
    assert list(text.columns) == ["cutoff", "base rate", "eligible", "ROC AUC"]
    assert text.iloc[0].tolist() == ["a", "22.1%", "12,345", "0.812"]
    assert text.iloc[1, 1] == "–"
    html = readable(frame).to_html()
    assert "factors_json" not in html and "NaN" not in html and "base rate" in html
    wide = readable(
        pd.DataFrame({"model": ["logistic", "recency_rule"], "roc_auc": [0.8, 0.6]}), transpose=True
    )
    assert "recency rule" in wide.to_html()  # one row per figure, models as columns


# ----------------------------------------------------------------------------- goal and verdict
def _config(outcome="occurs", active=60, where=None):
    return config_from_dict(
        {
            "events": {"path": "events.csv"},
            "goal": {
                "outcome": outcome,
                "conditions": [{"field": "event_type", "value": "purchase"}],
                "window_days": 30,
            },
            "eligibility": {"active_within_days": active, "conditions": where or []},
        }
    )


def test_goal_in_words_frames_churn_as_likely_to_churn():
    buy = insight.goal_words(_config())
    assert buy.title == "Likely to have a purchase event within 30 days"
    assert "active in the 60 days" in buy.population and buy.converts == "conversions"
    churn = insight.goal_words(_config("does_not_occur", None))
    assert churn.title == "Likely to churn: no purchase event within 30 days"
    assert churn.high_means.startswith("High scores: most likely to churn")
    assert churn.converts == "churners" and "every profile" in churn.population


def test_who_is_scored_reads_as_the_eligibility_rule():
    """Eligible: one event (in the activity span, when set) matching every condition; the
    landing page and the run comparison (`workflow.scored.side_facts`) use these words."""
    web = [{"field": "channel", "value": "web"}]
    both = _config(where=web)
    assert insight.population(both) == (
        "profiles with an event where channel == web in the 60 days before the scoring date"
    )
    assert insight.population(_config()) == "profiles active in the 60 days before the scoring date"
    only = insight.population(_config(active=None, where=web))
    assert only == "every profile with an event where channel == web before the scoring date"
    assert insight.goal_words(both).population == insight.population(both)


def _metrics(auc, recency=0.6, lift=3.0, poor=False, uncertain=False, low=None, high=None):
    low = auc - 0.02 if low is None else low
    high = auc + 0.02 if high is None else high
    return {
        "champion": "boosted",
        "models": {
            "boosted": {
                "roc_auc": auc,
                "lift_top_decile": lift,
                "roc_auc_ci_low": low,
                "roc_auc_ci_high": high,
            },
            "recency_rule": {"roc_auc": recency},
        },
        "validation": {"cutoff": "2025-12-02", "profiles": 1000, "positives": 80},
        "quality": {"poor": poor, "uncertain": uncertain},
    }


@pytest.mark.parametrize(
    ("metrics", "level", "words"),
    [
        (_metrics(0.81), "good", "3.0 times as often"),
        (_metrics(0.70), "usable", "ranking by recency alone reaches 0.60"),
        (_metrics(0.60, poor=True), "poor", "0.5 is chance"),
        (_metrics(0.70, recency=0.72), "poor", "recency alone reaches 0.72"),
        (_metrics(0.80, uncertain=True, low=0.65, high=0.95), "uncertain", "0.65 to 0.95"),
        (_metrics(0.98), "uncertain", "part of the goal"),
        ({}, "uncertain", "stopped before"),
    ],
)
def test_verdict_in_plain_words(metrics, level, words):
    v = insight.verdict(metrics)
    assert v.level == level and words in v.reason + v.headline
    assert v.next_steps  # always something to try


def test_a_goal_most_profiles_reach_is_usable_not_good():
    metrics = _metrics(0.81)
    metrics["validation"]["positives"] = 780  # 78% of 1,000 churn
    v = insight.verdict(metrics, churn=True)
    assert v.level == "usable" and "most profiles reach this goal" in v.headline
    assert "the top 10% of profiles churn" in v.reason
    assert any(
        s.startswith("not selective: 78% of eligible profiles churn") and "1.3×" in s
        for s in v.next_steps
    )


def test_verdict_warns_when_expected_counts_were_off():
    v = insight.verdict(_metrics(0.8), calibration_gap=-0.4)
    assert any("40% below what happened" in s for s in v.next_steps)


# ----------------------------------------------------------------------------- history
def _bucket_rows(scale):
    return [
        {"bucket": b, "profiles": 100, "expected": e * scale, "actual": a}
        for b, e, a in (("low", 2.0, 3), ("medium", 10.0, 9), ("high", 40.0, 44))
    ]


def test_history_reads_every_validation_origin_when_metrics_has_folds(tmp_path):
    run = Run(tmp_path)
    run.write_json(
        "metrics",
        {
            "validation": {"cutoff": "2025-12-02"},
            "folds": [
                {"origin": "2025-11-02", "expected_vs_actual": {"bucket": _bucket_rows(1.0)}},
                {"validation_cutoff": "2025-10-03", "by_bucket": _bucket_rows(0.5)},
            ],
        },
    )
    run.write_json("expected_vs_actual", {"bucket": _bucket_rows(2.0)})
    hist = insight.history(run)
    assert list(hist["origin"].unique()) == ["2025-10-03", "2025-11-02"]  # oldest first
    assert list(hist["bucket"].astype(str)[:3]) == ["high", "medium", "low"]
    high = hist[(hist["origin"] == "2025-10-03") & (hist["bucket"] == "high")].iloc[0]
    assert high["expected"] == 20.0 and high["actual_rate"] == pytest.approx(0.44)


def test_history_falls_back_to_the_validation_cutoff(tmp_path):
    run = Run(tmp_path)
    run.write_json("metrics", {"validation": {"cutoff": "2025-12-02"}})
    run.write_json("expected_vs_actual", {"bucket": _bucket_rows(1.0)})
    hist = insight.history(run)
    assert set(hist["origin"]) == {"2025-12-02"} and len(hist) == 3
    assert insight.calibration_gap(hist) == pytest.approx((52 - 56) / 56)


# ----------------------------------------------------------------------------- a real run
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("landing")
    config = write_sample(base / "sample", profiles=2500, seed=5)
    run = workflow.run_pipeline(
        config, out=base / "runs", overrides=[*SMALL, "goal.window_days=28"]
    )
    return config, run


def test_landing_page_leads_with_goal_verdict_buckets_and_factors(finished):
    _, run = finished
    page = run.file("report").read_text()
    summary = run.read_json("score_summary")
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Likely to have a commerce.purchases event within 28 days" in text
    assert "goal.window_days=28" in page.split("</title>")[0]  # overrides in the title
    assert "Run with overrides" in text
    assert f"Scoring date {summary['as_of']}" in " ".join(text.split())
    assert re.search(r'class="verdict (good|usable|poor|uncertain)"', page)
    buckets = insight.bucket_table(run)
    assert buckets["profiles"].sum() == summary["profiles"]
    assert buckets["expected"].sum() == pytest.approx(summary["expected_conversions"])
    assert list(buckets["bucket"]) == ["high", "medium", "low"]
    assert f"{int(buckets['profiles'].iloc[0]):,}" in text
    assert "Why they score high or low" in text and ("raises for" in text or "lowers for" in text)
    assert "Historical performance" in text and "Segments" in text
    for href in re.findall(r'href="([^"]+)"', page):
        assert (run.path / href).exists(), href
    assert "factors_json" not in page and "NaN" not in text and "Traceback" not in text


def test_score_and_backtest_print_a_summary_and_write_a_page(finished, tmp_path, capsys):
    config, run = finished
    args = ["--set", SMALL[0], "--set", SMALL[1], "--set", "goal.window_days=28"]
    assert (
        main(["score", str(config), "--model", str(run.path), "--out", str(tmp_path / "s"), *args])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("scored ") and "high" in out and "page: " in out and "{" not in out
    page = next((tmp_path / "s").glob("2*/report.html")).read_text()
    assert "Scored with a saved model" in page and "Whom to target" in page
    assert (
        main(
            [
                "score",
                str(config),
                "--model",
                str(run.path),
                "--out",
                str(tmp_path / "s"),
                "--json",
                *args,
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["profiles"] > 0
    assert len(list((tmp_path / "s").glob("2*"))) == 2  # a new folder per call
    at = str((pd.Timestamp(run.read_json("goal_summary")["validation_cutoff"])).date())
    assert main(["backtest", str(config), "--at", at, "--out", str(tmp_path / "b"), *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backtest as of {at}") and "expected" in out and "page: " in out
    page = next((tmp_path / "b").glob("2*/report.html")).read_text()
    assert f"What happened after {at}" in page and "decile (1 = highest scores)" in page


# ----------------------------------------------------------------------------- finished runs
def test_a_finished_run_is_never_written_a_derived_run_is(finished):
    _, run = finished
    before = {p.name: p.stat().st_mtime_ns for p in run.path.iterdir() if p.is_file()}
    snapshots = run.file("snapshots").read_bytes()
    derived = Run.open(run.path).writable()
    assert derived.path != run.path and derived.base == run.base
    assert derived.record["derived_from"] == run.name and derived.is_interactive
    assert derived.file("events").exists() and derived.file("model").is_dir()
    workflow.define_goal(derived)  # the notebook 02 stage, re-run in the derived run
    assert not derived.has("metrics") and not derived.has("scores")  # later stages cleared
    assert derived.record["rerun"] == ["define_goal"]
    assert run.file("snapshots").read_bytes() == snapshots
    assert {p.name: p.stat().st_mtime_ns for p in run.path.iterdir() if p.is_file()} == before
    assert Run.latest(run.base).path == run.path  # latest stays on the complete run
    page = derived.file("report").read_text()
    assert f"run {run.name}: re-run interactively" in page
    assert derived.writable().path == derived.path  # an interactive run is written in place


def test_files_list_links_the_profile_rows_set_aside(tmp_path):
    from workbench.reporting.landing import _files

    run = Run(tmp_path)
    assert "profiles_quarantine.csv" not in _files(run)
    run.file("profiles_quarantine").write_text("person_id,_reason\n,missing profile id\n")
    assert 'href="profiles_quarantine.csv"' in _files(run)
