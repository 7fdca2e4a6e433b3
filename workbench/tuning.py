"""The goal tuner: try goal definitions on a run's events and see positives, negatives and base rate.

`evaluate_goal` is the logic (tested without a browser); `goal_tuner` is the ipywidgets front end
used in notebook 02, which under papermill (`interactive=False`) shows a static summary instead.
Counting uses the same engine functions as the pipeline (`goals.goal_counts`), without features,
so one evaluation takes well under a second on the 20,000-profile sample.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench import engine, goals, readiness
from workbench.config import OPERATORS, Config, config_from_dict, load_config
from workbench.errors import ConfigError, WorkbenchError

__all__ = ["evaluate_goal", "goal_settings", "goal_tuner", "readiness_text"]

# One open events table per run folder (keyed by the file's mtime), so each widget change is fast.
_CACHE: dict[str, tuple[float, Any, Any, pd.Timestamp, pd.Timestamp]] = {}


def _run_config(run_dir: Path) -> Config:
    path = run_dir / "config.yaml"
    if not path.exists():
        raise ConfigError(
            f"{path}: no config.yaml in the run folder (start it with `workbench run`)"
        )
    return load_config(path)


def _events(run_dir: Path, config: Config):
    """(events table, first event, last event) for the run, opened once per file version."""
    path = run_dir / "events.parquet"
    mtime = path.stat().st_mtime if path.exists() else -1.0
    key = str(path.resolve()) if path.exists() else str(path)
    hit = _CACHE.get(key)
    if hit is None or hit[0] != mtime:
        con = engine.connect(config)
        events = engine.events_table(con, path)
        span = events.aggregate(
            first=events.timestamp.min(), last=events.timestamp.max()
        ).to_pandas()
        hit = (mtime, con, events, span["first"].iloc[0], span["last"].iloc[0])
        _CACHE[key] = hit
    return hit[2], hit[3], hit[4]


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
        conditions.append({"field": field, "op": op, "value": _parse_value(op, value)})
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
    return config_from_dict(raw, base_dir=Path.cwd(), source=config.source)


def _readiness(counts: pd.DataFrame, config: Config, first, last) -> dict[str, Any]:
    """The pipeline's readiness verdict (`readiness.check_readiness`) on the labelled cutoffs."""
    labelled = counts[counts["role"].isin(["training", "validation"])]
    verdict = readiness.check_readiness(labelled, config, first, last)
    messages = list(verdict["messages"])
    if verdict["ok"]:
        messages.append(
            f"ready: {verdict['training_positives']:,} positives and "
            f"{verdict['training_negatives']:,} negatives over the training cutoffs"
        )
    return {**verdict, "messages": messages}


def _yaml_snippet(config: Config) -> str:
    raw = config.to_yaml_dict()
    snippet = {"goal": raw["goal"], "eligibility": raw.get("eligibility", {})}
    if not snippet["eligibility"]:
        snippet["eligibility"] = {"active_within_days": None}
    return yaml.safe_dump(snippet, sort_keys=False, allow_unicode=True)


def evaluate_goal(
    run_dir: str | Path,
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
    run_dir = Path(run_dir)
    base = _run_config(run_dir)
    config = _goal_config(
        base, outcome, match, event_type, field, op, value, window_days, active_within_days
    )
    events, first, last = _events(run_dir, config)
    goals.check_fields(config, list(events.columns), events)
    as_of = goals.resolve_as_of(config, None, first, last)
    try:
        plan = goals.plan_cutoffs(config, as_of, first)
    except ConfigError as exc:
        return {
            "cutoffs": pd.DataFrame(
                columns=["cutoff", "role", "eligible", "positives", "negatives", "base_rate"]
            ),
            "eligible": 0,
            "readiness": {"ok": False, "messages": [str(exc)]},
            "goal_text": goals.describe_goal(config),
            "yaml": _yaml_snippet(config),
            "seconds": time.perf_counter() - t0,
        }
    cutoffs = plan.labelled + [plan.as_of]
    counts = goals.goal_counts(events, config, cutoffs)
    roles = {goals.to_day(c): "training" for c in plan.training}
    roles[goals.to_day(plan.validation)] = "validation"
    roles[goals.to_day(plan.as_of)] = "scoring"
    counts.insert(1, "role", [roles.get(goals.to_day(c), "") for c in counts["cutoff"]])
    scoring = counts["role"] == "scoring"
    # At the scoring date the outcome window is in the future: no labels yet.
    counts["positives"] = counts["positives"].astype("Int64")
    counts["negatives"] = counts["negatives"].astype("Int64")
    counts.loc[scoring, ["positives", "negatives"]] = pd.NA
    counts.loc[scoring, "base_rate"] = float("nan")
    eligible = int(counts.loc[scoring, "eligible"].sum())
    return {
        "cutoffs": counts.reset_index(drop=True),
        "eligible": eligible,
        "readiness": _readiness(counts, config, first, last),
        "goal_text": goals.describe_goal(config),
        "yaml": _yaml_snippet(config),
        "seconds": time.perf_counter() - t0,
    }


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


def readiness_text(readiness: dict[str, Any]) -> str:
    """The readiness verdict as one Markdown paragraph."""
    verdict = "**Ready to train.**" if readiness.get("ok") else "**Not ready.**"
    lines = [f"- {m}" for m in readiness.get("messages", [])]
    return "\n".join([verdict, "", *lines])


def _show_result(result: dict[str, Any], plot: bool = True) -> None:
    from IPython.display import Markdown, display

    ok = result["readiness"]["ok"]
    display(
        Markdown(
            f"Goal: profile **{result['goal_text']}**  \n"
            f"Eligible at the scoring date: **{result['eligible']:,}** profiles  \n"
            f"{readiness_text(result['readiness'])}"
            + ("" if ok else "\n\nTry a longer window, a broader goal or a longer lookback.")
        )
    )
    table = result["cutoffs"].copy()
    if len(table):
        table["cutoff"] = pd.to_datetime(table["cutoff"]).dt.strftime("%Y-%m-%d")
        display(
            table.style.format({"base_rate": "{:.2%}", "eligible": "{:,}"}, na_rep="–").hide(
                axis="index"
            )
        )
        if plot:
            import matplotlib.pyplot as plt

            from workbench.plots.data import plot_base_rate

            fig, ax = plt.subplots(figsize=(8, 3))
            plot_base_rate(result["cutoffs"], ax=ax)
            fig.tight_layout()
            plt.show()
            plt.close(fig)


def goal_tuner(run_dir: str | Path, interactive: bool = True):
    """Widgets to try goal definitions (interactive), or a static summary of the configured goal.

    Interactive controls: outcome, match, event type, an optional field condition, window days
    and the eligibility lookback. Every change recounts positives, negatives and base rate per
    cutoff; "show YAML" prints the `goal:` / `eligibility:` sections to paste into the config.
    """
    from IPython.display import Markdown, display

    run_dir = Path(run_dir)
    config = _run_config(run_dir)
    settings = goal_settings(config)

    if not interactive:
        display(Markdown("**Configured goal** (open this notebook in Jupyter to try others):"))
        try:
            result = evaluate_goal(run_dir, **settings)
        except WorkbenchError as exc:
            display(Markdown(f"Cannot evaluate the goal: `{exc}`"))
            return None
        _show_result(result, plot=False)
        display(Markdown(f"```yaml\n{result['yaml']}```"))
        return None

    import ipywidgets as w

    events, _, _ = _events(run_dir, config)
    type_counts = (
        events.group_by("event_type")
        .aggregate(n=events.count())
        .order_by(events.count().desc())
        .to_pandas()
    )
    type_options = [("(any event type)", "")] + [
        (f"{t} ({n:,})", str(t))
        for t, n in zip(type_counts["event_type"], type_counts["n"], strict=True)
    ]
    fields = sorted(c for c in events.columns if not c.startswith("_") and c != "profile_id")
    style = {"description_width": "130px"}
    layout = w.Layout(width="420px")
    controls = {
        "outcome": w.Dropdown(
            options=[
                ("occurs (conversion)", "occurs"),
                ("does not occur (churn)", "does_not_occur"),
            ],
            value=settings["outcome"],
            description="outcome",
            style=style,
            layout=layout,
        ),
        "match": w.ToggleButtons(
            options=["all", "any"], value=settings["match"], description="match", style=style
        ),
        "event_type": w.Dropdown(
            options=type_options,
            value=settings["event_type"] or "",
            description="event type",
            style=style,
            layout=layout,
        ),
        "field": w.Dropdown(
            options=[("(no field condition)", "")] + [(f, f) for f in fields],
            value=settings["field"] if settings["field"] in fields else "",
            description="field",
            style=style,
            layout=layout,
        ),
        "op": w.Dropdown(
            options=list(OPERATORS),
            value=settings["op"] or "==",
            description="operator",
            style=style,
            layout=layout,
        ),
        "value": w.Text(
            value="" if settings["value"] is None else str(settings["value"]),
            description="value",
            placeholder="e.g. 150, or a, b for in",
            continuous_update=False,
            style=style,
            layout=layout,
        ),
        "window_days": w.BoundedIntText(
            value=settings["window_days"],
            min=1,
            max=3650,
            description="window days",
            style=style,
            layout=layout,
        ),
        "any_history": w.Checkbox(
            value=settings["active_within_days"] is None,
            description="eligible: any history",
            style=style,
        ),
        "active_within_days": w.BoundedIntText(
            value=settings["active_within_days"] or 90,
            min=30,
            max=3650,
            description="active within days",
            style=style,
            layout=layout,
        ),
    }
    out = w.Output()
    yaml_out = w.Output()
    show_yaml = w.Button(description="show YAML", icon="clipboard")
    state: dict[str, Any] = {}

    def _kwargs() -> dict[str, Any]:
        c = controls
        return {
            "outcome": c["outcome"].value,
            "match": c["match"].value,
            "event_type": c["event_type"].value or None,
            "field": c["field"].value or None,
            "op": c["op"].value,
            "value": c["value"].value,
            "window_days": c["window_days"].value,
            "active_within_days": None if c["any_history"].value else c["active_within_days"].value,
        }

    def _refresh(_change=None) -> None:
        controls["active_within_days"].disabled = controls["any_history"].value
        yaml_out.clear_output()
        with out:
            out.clear_output(wait=True)
            try:
                result = evaluate_goal(run_dir, **_kwargs())
            except WorkbenchError as exc:
                state.pop("result", None)
                display(Markdown(f"**Cannot evaluate this goal:** `{exc}`"))
                return
            state["result"] = result
            _show_result(result)
            display(Markdown(f"<small>counted in {result['seconds']:.2f} s</small>"))

    def _yaml(_button=None) -> None:
        with yaml_out:
            yaml_out.clear_output()
            if "result" in state:
                display(Markdown("Paste into the config (replacing `goal:` and `eligibility:`):"))
                display(Markdown(f"```yaml\n{state['result']['yaml']}```"))

    for control in controls.values():
        control.observe(_refresh, names="value")
    show_yaml.on_click(_yaml)
    _refresh()
    box = w.VBox(
        [
            w.HBox(
                [
                    w.VBox(
                        [controls[k] for k in ("outcome", "match", "event_type", "window_days")]
                    ),
                    w.VBox(
                        [
                            controls[k]
                            for k in ("field", "op", "value", "any_history", "active_within_days")
                        ]
                    ),
                ]
            ),
            show_yaml,
            yaml_out,
            out,
        ]
    )
    display(box)
    return None
