"""`workbench backtest`: run the whole pipeline as if today were DATE, then compare with what happened.

The pipeline sees only events strictly before DATE (the rest are cut from its events file), so its
validation figures are exactly what a user would have read that day; the realised figures come from
the events after DATE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import pipeline
from workbench.config import dump_config, load_config
from workbench.engine import connect, events_table
from workbench.errors import DataError
from workbench.goals import eligible_labels, to_day


def realised_outcomes(events, config, at) -> pd.DataFrame:
    """(profile_id, label): who was eligible at `at` and whether the goal then happened in the window."""
    frame = eligible_labels(events, config, [to_day(at)]).drop("cutoff_s").to_pandas()
    frame["profile_id"] = frame["profile_id"].astype(str)
    return frame


def run_backtest(
    config_path: str | Path,
    at: str,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    from workbench import scoring

    config = load_config(config_path, overrides)
    at_day = to_day(at)
    run_dir = Path(out) if out else config.output_dir / f"backtest-{at_day.date()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, run_dir / "config.yaml")
    quality = pipeline.prepare_data(run_dir)["quality"]
    last = to_day(quality["last_event"])
    window_end = at_day + pd.Timedelta(days=config.goal.window_days)
    if at_day <= to_day(quality["first_event"]):
        raise DataError(
            f"--at {at_day.date()} is before any data (first event {quality['first_event']})"
        )
    complete = window_end <= last + pd.Timedelta(days=1)

    # Hide the future from the pipeline: events.parquet keeps only events strictly before `at`.
    full_path = run_dir / "events_full.parquet"
    (run_dir / "events.parquet").replace(full_path)
    con = connect(config)
    full = events_table(con, full_path)
    past = full.filter(full.timestamp < at_day.to_pydatetime())
    con.to_parquet(past, str(run_dir / "events.parquet"))
    seen = past.aggregate(first=past.timestamp.min(), last=past.timestamp.max()).to_pandas().iloc[0]
    quality = {
        **quality,
        "first_event": str(seen["first"]),
        "last_event": str(seen["last"]),
        "backtest_at": str(at_day.date()),
    }
    (run_dir / "data_quality.json").write_text(json.dumps(quality, indent=2, default=str))

    pipeline.define_goal(run_dir, as_of=str(at_day.date()))
    pipeline.compare(run_dir)
    scored = pipeline.score_and_segment(run_dir)
    metrics = pipeline.read_json(run_dir, "metrics")

    actual = realised_outcomes(full, config, at_day)
    realised = scoring.realised_performance(scored["scores"], actual)
    champion = metrics["champion"]
    result = {
        "at": str(at_day.date()),
        "outcome_window_complete": bool(complete),
        "champion": champion,
        "validation_roc_auc": metrics["models"][champion]["roc_auc"],
        "realised_roc_auc": realised["roc_auc"],
        "realised_lift_top_decile": realised["lift_top_decile"],
        "realised_base_rate": realised["base_rate"],
        "profiles": realised["profiles"],
        "by_bucket": json.loads(realised["by_bucket"].to_json(orient="records")),
        "by_decile": json.loads(realised["by_decile"].to_json(orient="records")),
        "run_dir": str(run_dir),
    }
    if not complete:
        result["note"] = (
            f"the outcome window ends {window_end.date()}, after the last event ({last.date()}): "
            "realised figures are incomplete"
        )
    (run_dir / "backtest.json").write_text(json.dumps(result, indent=2, default=str))
    return result
