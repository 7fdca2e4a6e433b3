"""The goal tuner's logic: try goal definitions on a run's events and see positives, negatives
and base rate per cutoff (tested without a browser; `reporting.tuner` is the widget front end).

Counting uses the stages' own `open_events` and `plan_goal` (`goals.goal_counts`), without
features, so one evaluation takes well under a second on the 20,000-profile sample.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.config import Config, config_from_dict
from workbench.errors import ConfigError
from workbench.goals import check_fields, describe_goal
from workbench.run import Run
from workbench.workflow.stages import EventsContext, open_events, plan_goal

__all__ = ["evaluate_goal", "goal_settings", "tuner_events"]

COUNT_COLUMNS = ["cutoff", "role", "eligible", "positives", "negatives", "base_rate"]
# One open events table per run folder (keyed by the file's mtime), so each widget change is fast.
_CACHE: dict[str, tuple[float, EventsContext]] = {}


def tuner_events(run: Run) -> EventsContext:
    """The run's events, opened once per file version (every widget change reuses them)."""
    path = run.require("events")
    key, mtime = str(path), path.stat().st_mtime
    hit = _CACHE.get(key)
    if hit is None or hit[0] != mtime:
        hit = (mtime, open_events(run))
        _CACHE[key] = hit
    return hit[1]


def _parse_value(op: str, value: Any) -> Any:
    """A widget's text as a YAML value; comma-separated lists for `in` / `not_in`."""
    if op in ("exists", "not_exists"):
        return None
    if isinstance(value, str):
        text = value.strip()
        if op in ("in", "not_in"):
            return [yaml.safe_load(v.strip()) for v in text.split(",") if v.strip()]
        if op in ("contains", "starts_with"):
            return text
        try:
            return yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            return text
    return value


def _goal_config(
    config: Config,
    outcome: str,
    match: str,
    event_type: str | None,
    field: str | None,
    op: str | None,
    value: Any,
    window_days: int,
    active_within_days: int | None,
) -> Config:
    conditions: list[dict[str, Any]] = []
    if event_type:
        conditions.append({"field": "event_type", "op": "==", "value": event_type})
    if field:
        op = op or "=="
        parsed = _parse_value(op, value)
        if op not in ("exists", "not_exists") and parsed in (None, "", []):
            raise ConfigError(f"{field} {op} …: enter a value for the field condition")
        conditions.append({"field": field, "op": op, "value": parsed})
    if not conditions:
        raise ConfigError("goal: choose an event type or a field condition")
    raw = config.to_yaml_dict()
    raw["goal"] = {
        "outcome": outcome,
        "match": match,
        "conditions": conditions,
        "window_days": int(window_days),
    }
    raw["eligibility"] = {
        **raw.get("eligibility", {}),
        "active_within_days": int(active_within_days) if active_within_days else None,
    }
    try:
        return config_from_dict(raw, base_dir=Path.cwd(), source=config.source)
    except ConfigError as exc:
        raise ConfigError(_in_tuner_words(str(exc), config, field)) from None


def _in_tuner_words(message: str, config: Config, field: str | None) -> str:
    """An error about the tuner's candidate goal, naming the control and never a file the
    analyst did not edit (`/tmp/.../config.yaml: goal.conditions.1: ...` -> `field ...: ...`)."""
    where = config.where()
    if message.startswith(where + ": "):
        message = message[len(where) + 2 :]
    for key in ("goal.conditions.1", "goal.conditions[1]"):
        message = message.replace(key, f"field condition ({field})")
    for key in ("goal.conditions.0", "goal.conditions[0]"):
        message = message.replace(key, "event type")
    return message.replace("goal.window_days", "window days").replace(
        "eligibility.active_within_days", "active within days"
    )


def _yaml_snippet(config: Config) -> str:
    raw = config.to_yaml_dict()
    snippet = {"goal": raw["goal"], "eligibility": raw.get("eligibility", {})}
    if not snippet["eligibility"]:
        snippet["eligibility"] = {"active_within_days": None}
    return yaml.safe_dump(snippet, sort_keys=False, allow_unicode=True)


def evaluate_goal(
    run: Run | str | Path,
    outcome: str = "occurs",
    match: str = "all",
    event_type: str | None = None,
    field: str | None = None,
    op: str | None = None,
    value: Any = None,
    window_days: int = 30,
    active_within_days: int | None = None,
) -> dict[str, Any]:
    """Positives, negatives and base rate per cutoff for a candidate goal on the run's events.

    The goal is `event_type` (an `event_type == ...` condition) and/or one field condition
    (`field op value`; text values are read as YAML, comma-separated for `in`/`not_in`),
    combined with `match`. `active_within_days=None` makes every profile with history eligible.
    Needs `events.parquet` in the run folder (notebook 01). The rest of the config (training
    cutoffs, readiness thresholds, eligibility conditions) comes from the run's `config.yaml`.

    Returns
    -------
    dict with `cutoffs` (DataFrame: cutoff, role, eligible, positives, negatives, base_rate;
    the `scoring` row has no labels), `eligible` (profiles eligible at the scoring date),
    `readiness` (`{"ok": bool, "messages": [...]}`), `goal_text`, `yaml` (the `goal:` and
    `eligibility:` sections to paste into the config) and `seconds`.
    """
    t0 = time.perf_counter()
    run = run if isinstance(run, Run) else Run.open(run)
    config = _goal_config(
        run.config, outcome, match, event_type, field, op, value, window_days, active_within_days
    )
    ctx = tuner_events(run)
    try:  # an unknown field, or a value that does not fit it, is an error
        check_fields(config, ctx.events.columns, ctx.events)
    except ConfigError as exc:
        raise ConfigError(_in_tuner_words(str(exc), config, field)) from None
    try:
        goal = plan_goal(ctx, config, with_scoring=True, check=False)
    except ConfigError as exc:  # no training cutoff fits: say so instead of failing
        goal = None
        readiness = {"ok": False, "messages": [_in_tuner_words(str(exc), config, field)]}
    if goal is not None:
        readiness = _tuner_readiness(goal, run.config, config)
    counts = goal.counts if goal is not None else pd.DataFrame(columns=COUNT_COLUMNS)
    scoring = counts["role"] == "scoring"
    return {
        "cutoffs": counts.reset_index(drop=True),
        "eligible": int(counts.loc[scoring, "eligible"].sum()),
        "readiness": readiness,
        "goal_text": describe_goal(config),
        "yaml": _yaml_snippet(config),
        "seconds": time.perf_counter() - t0,
    }


def not_selective_text(rate: float) -> str:
    return (
        f"not selective: {rate:.0%} of eligible profiles reach this goal, so a score cannot "
        "single anyone out; narrow the goal or shorten the window"
    )


def _tuner_readiness(goal, configured: Config, candidate: Config) -> dict[str, Any]:
    """Readiness plus what the tuner must say out loud: training dates a longer window leaves
    out, and a goal most profiles reach ("not selective")."""
    readiness = dict(goal.readiness)
    messages = list(readiness["messages"])
    # every labelled date is used (the refit's); a longer window leaves the newest fold fewer
    newest = goal.cutoffs.fold_training(goal.cutoffs.validation)
    if len(newest) < 2:
        messages.append(
            f"the newest validation fold trains on {len(newest)} training date(s): with a "
            f"{candidate.goal.window_days}-day window the others' outcome windows would reach "
            "its origin (more history, or training.snapshots, bring more in)"
        )
    pos, neg = readiness["training_positives"], readiness["training_negatives"]
    rate = readiness["base_rate"]
    if readiness["ok"] and not readiness["selective"]:
        messages.append(not_selective_text(rate))
    elif readiness["ok"]:
        messages.append(
            f"ready: {pos:,} positives and {neg:,} negatives over training cutoffs with "
            f"distinct outcome windows (base rate {rate:.1%})"
        )
    readiness["messages"] = messages
    return readiness


def goal_settings(config: Config) -> dict[str, Any]:
    """The configured goal as `evaluate_goal` keyword arguments (first event-type and field condition)."""
    goal = config.goal
    settings: dict[str, Any] = {
        "outcome": goal.outcome,
        "match": goal.match,
        "event_type": None,
        "field": None,
        "op": None,
        "value": None,
        "window_days": goal.window_days,
        "active_within_days": config.eligibility.active_within_days,
    }
    for cond in goal.conditions:
        if cond.field == "event_type" and cond.op == "==" and settings["event_type"] is None:
            settings["event_type"] = str(cond.value)
        elif settings["field"] is None:
            settings["field"], settings["op"] = cond.field, cond.op
            value = cond.value
            settings["value"] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return settings
