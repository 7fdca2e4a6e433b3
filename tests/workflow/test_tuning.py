"""The goal tuner's logic, without a browser: counts checked against a plain pandas recount."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from workbench import workflow
from workbench.config import config_from_dict, load_config
from workbench.errors import ConfigError
from workbench.ingest.sample import write_sample
from workbench.run import Run

PURCHASE = "commerce.purchases"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:

    root = tmp_path_factory.mktemp("tuning")
    cfg = load_config(write_sample(root / "sample", profiles=1500, seed=3))
    run = Run.create(root / "runs", cfg)
    workflow.prepare_data(run)
    return run.path


def _by_hand(
    run_dir: Path, cutoff, window: int, lookback: int | None, goal_mask
) -> tuple[int, int]:
    """(eligible, goal reached) at one cutoff, recounted in pandas."""
    ev = pd.read_parquet(run_dir / "events.parquet")
    t = pd.to_datetime(ev["timestamp"], utc=True).dt.tz_localize(None)
    c = pd.Timestamp(cutoff)
    before = t < c
    if lookback is not None:
        before &= t >= c - pd.Timedelta(days=lookback)
    eligible = set(ev.loc[before, "profile_id"])
    in_window = (t >= c) & (t < c + pd.Timedelta(days=window))
    reached = set(ev.loc[in_window & goal_mask(ev), "profile_id"]) & eligible
    return len(eligible), len(reached)


def test_counts_match_a_hand_recount(run_dir):
    from workbench.workflow import evaluate_goal

    res = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30, active_within_days=60)
    table = res["cutoffs"]
    assert list(table.columns) == [
        "cutoff",
        "role",
        "eligible",
        "positives",
        "negatives",
        "base_rate",
    ]
    assert set(table["role"]) == {"training", "validation", "scoring"}
    labelled = table[table["role"] != "scoring"]
    for row in labelled.itertuples():
        eligible, reached = _by_hand(
            run_dir, row.cutoff, 30, 60, lambda ev: ev["event_type"] == PURCHASE
        )
        assert (row.eligible, row.positives, row.negatives) == (
            eligible,
            reached,
            eligible - reached,
        )
        assert row.base_rate == pytest.approx(reached / eligible)
    scoring = table[table["role"] == "scoring"].iloc[0]
    assert (
        res["eligible"]
        == scoring["eligible"]
        == _by_hand(run_dir, scoring["cutoff"], 30, 60, lambda ev: False)[0]
    )
    assert pd.isna(scoring["positives"])


def test_churn_flips_the_label_and_field_condition_narrows_it(run_dir):
    from workbench.workflow import evaluate_goal

    base = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30, active_within_days=60)
    churn = evaluate_goal(
        run_dir,
        outcome="does_not_occur",
        event_type=PURCHASE,
        window_days=30,
        active_within_days=60,
    )
    lab = base["cutoffs"]["role"] != "scoring"
    b, c = base["cutoffs"][lab], churn["cutoffs"][lab]
    assert (c["positives"].to_numpy() == b["negatives"].to_numpy()).all()
    big = evaluate_goal(
        run_dir,
        event_type=PURCHASE,
        field="commerce.order.priceTotal",
        op=">=",
        value="150",
        window_days=30,
        active_within_days=60,
    )
    bb = big["cutoffs"][lab]
    assert (bb["positives"].to_numpy() <= b["positives"].to_numpy()).all()
    assert bb["positives"].sum() < b["positives"].sum()
    row = bb.iloc[-1]
    _, reached = _by_hand(
        run_dir,
        row["cutoff"],
        30,
        60,
        lambda ev: (ev["event_type"] == PURCHASE) & (ev["commerce.order.priceTotal"] >= 150),
    )
    assert row["positives"] == reached


def test_any_history_eligibility_and_longer_window(run_dir):
    from workbench.workflow import evaluate_goal

    recent = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30, active_within_days=60)
    anyone = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30, active_within_days=None)
    assert anyone["eligible"] >= recent["eligible"]
    longer = evaluate_goal(run_dir, event_type=PURCHASE, window_days=60, active_within_days=None)
    val = longer["cutoffs"].query("role == 'validation'").iloc[0]
    e, r = _by_hand(run_dir, val["cutoff"], 60, None, lambda ev: ev["event_type"] == PURCHASE)
    assert (val["eligible"], val["positives"]) == (e, r)


def test_readiness_verdict_follows_the_thresholds(run_dir):
    from workbench.workflow import evaluate_goal

    ok = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30)
    assert ok["readiness"]["ok"] is False  # the sample run keeps the default 500 positives
    assert any("positive" in m for m in ok["readiness"]["messages"])
    rare = evaluate_goal(
        run_dir, event_type=PURCHASE, field="commerce.order.priceTotal", op=">", value=1e9
    )
    assert rare["readiness"]["ok"] is False
    assert int(rare["cutoffs"]["positives"].fillna(0).sum()) == 0


def test_yaml_snippet_round_trips_into_the_config(run_dir):
    from workbench.workflow import evaluate_goal

    res = evaluate_goal(
        run_dir,
        outcome="does_not_occur",
        match="all",
        event_type=PURCHASE,
        field="channel",
        op="in",
        value="web, mobile",
        window_days=45,
        active_within_days=90,
    )
    snippet = yaml.safe_load(res["yaml"])
    assert set(snippet) == {"goal", "eligibility"}
    raw = load_config(run_dir / "config.yaml").to_yaml_dict()
    raw.update(snippet)
    cfg = config_from_dict(raw)
    assert cfg.goal.outcome == "does_not_occur" and cfg.goal.window_days == 45
    assert cfg.goal.conditions[1].value == ["web", "mobile"]
    assert cfg.eligibility.active_within_days == 90
    assert "45 days" in res["goal_text"]


def test_settings_of_the_configured_goal_reproduce_it(run_dir):
    from workbench.workflow import evaluate_goal, goal_settings

    cfg = load_config(run_dir / "config.yaml")
    settings = goal_settings(cfg)
    assert settings["event_type"] == PURCHASE and settings["window_days"] == cfg.goal.window_days
    res = evaluate_goal(run_dir, **settings)
    assert yaml.safe_load(res["yaml"])["goal"] == cfg.to_yaml_dict()["goal"]


def test_bad_goals_are_one_line_config_errors(run_dir):
    from workbench.workflow import evaluate_goal

    with pytest.raises(ConfigError, match="event type or a field"):
        evaluate_goal(run_dir)
    with pytest.raises(ConfigError, match="unknown field 'nope'"):
        evaluate_goal(run_dir, field="nope", op="==", value="1")
    with pytest.raises(ConfigError, match="^active within days: .* 30"):
        evaluate_goal(run_dir, event_type=PURCHASE, active_within_days=5)


def test_tuner_errors_name_the_control_not_a_file(run_dir):
    """Choosing a field before typing its value is a hint about that field, never a path."""
    from workbench.workflow import evaluate_goal

    with pytest.raises(ConfigError) as info:
        evaluate_goal(run_dir, event_type=PURCHASE, field="channel", op="==", value="")
    message = str(info.value)
    assert message.startswith("channel == …: enter a value") and "config.yaml" not in message
    with pytest.raises(ConfigError) as info:
        evaluate_goal(
            run_dir, event_type=PURCHASE, field="commerce.order.priceTotal", op=">", value="abc"
        )
    assert "field condition (commerce.order.priceTotal)" in str(info.value)
    assert "/" not in str(info.value).split(":")[0]


def test_tuner_says_when_a_longer_window_leaves_the_newest_fold_few_training_dates(run_dir):
    """Every labelled date trains the final model (issue 11's folds); what a longer window takes
    away is the newest fold's training dates (their outcome windows would reach its origin),
    and the tuner says so with the count, recounted here from the cutoffs."""
    from workbench.workflow import evaluate_goal

    def newest_fold_dates(result, window: int) -> int:
        c = result["cutoffs"]
        cutoffs = pd.to_datetime(c["cutoff"])
        origin = cutoffs[c["role"] == "validation"].max()
        labelled = cutoffs[c["role"] != "scoring"]
        return int((labelled + pd.Timedelta(days=window) <= origin).sum())

    short = evaluate_goal(run_dir, event_type=PURCHASE, window_days=30, active_within_days=None)
    long = evaluate_goal(run_dir, event_type=PURCHASE, window_days=180, active_within_days=None)
    assert newest_fold_dates(short, 30) >= 2
    assert not any("newest validation fold trains" in m for m in short["readiness"]["messages"])
    used = newest_fold_dates(long, 180)
    assert used < 2
    assert f"the newest validation fold trains on {used} training date(s)" in " ".join(
        long["readiness"]["messages"]
    )


def test_goal_most_profiles_reach_is_not_selective(run_dir):
    from workbench.reporting.tuner import readiness_text
    from workbench.workflow import evaluate_goal

    # any event within 90 days: nearly every eligible profile has one
    res = evaluate_goal(
        run_dir, field="profile_id", op="exists", window_days=60, active_within_days=None
    )
    assert res["readiness"]["base_rate"] > 0.5 and res["readiness"]["selective"] is False
    text = readiness_text({**res["readiness"], "ok": True})
    assert "not selective" in text and "Ready to train, but not selective" in text
    assert "has an event where" in res["goal_text"]


def test_static_summary_under_papermill(run_dir, monkeypatch):
    import IPython.display

    from workbench.reporting.tuner import goal_tuner

    shown: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    assert goal_tuner(run_dir, interactive=False) is None
    text = "\n".join(o.data for o in shown if isinstance(o, IPython.display.Markdown))
    assert "window_days: 30" in text  # the YAML of the configured goal
    assert "Not ready" in text and "Eligible at the scoring date" in text
    assert not any(type(o).__module__.startswith("ipywidgets") for o in shown)


def test_interactive_tuner_builds_widgets(run_dir):
    pytest.importorskip("ipywidgets")
    from workbench.reporting.tuner import goal_tuner

    assert goal_tuner(run_dir, interactive=True) is None


def test_evaluation_is_fast_enough_for_a_widget(run_dir):
    from workbench.workflow import evaluate_goal

    evaluate_goal(run_dir, event_type=PURCHASE)
    res = evaluate_goal(run_dir, event_type=PURCHASE, window_days=45)
    assert res["seconds"] < 1.0
