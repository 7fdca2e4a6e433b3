"""The goal tuner's front end: ipywidgets in notebook 02 (`workflow.evaluate_goal` counts).

Under papermill (`interactive=False`) it shows a static summary of the configured goal instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from workbench.conditions import OPERATORS
from workbench.errors import WorkbenchError
from workbench.run import Run
from workbench.workflow.tuning import (
    evaluate_goal,
    goal_settings,
    not_selective_text,
    tuner_events,
)

__all__ = ["goal_tuner", "readiness_text"]


def readiness_text(readiness: dict[str, Any]) -> str:
    """The readiness verdict as one Markdown paragraph: ready, ready but not selective (most
    profiles reach the goal), or not ready, with the reasons."""
    if not readiness.get("ok"):
        verdict = "**Not ready.**"
    elif readiness.get("selective") is False:
        verdict = "**Ready to train, but not selective.**"
    else:
        verdict = "**Ready to train.**"
    messages = list(readiness.get("messages", []))
    if readiness.get("selective") is False and not any("not selective" in m for m in messages):
        messages.append(not_selective_text(float(readiness.get("base_rate", 0))))
    lines = [f"- {m}" for m in messages]
    return "\n".join([verdict, "", *lines])


def _show_result(result: dict[str, Any], plot: bool = True) -> None:
    from IPython.display import Markdown, display

    from workbench.reporting.tables import readable

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
        table["cutoff"] = pd.to_datetime(table["cutoff"])
        display(readable(table))
        if plot:
            import matplotlib.pyplot as plt

            from workbench.plots.data import plot_base_rate

            fig, ax = plt.subplots(figsize=(9, 3.2))
            plot_base_rate(result["cutoffs"], ax=ax)
            fig.tight_layout()
            plt.show()
            plt.close(fig)


def _static_summary(run: Run, settings: dict[str, Any], intro: str | None = None) -> None:
    """Under papermill (or without ipywidgets): the configured goal's counts and YAML."""
    from IPython.display import Markdown, display

    display(Markdown(intro or "**Configured goal** (open this notebook in Jupyter to try others):"))
    try:
        result = evaluate_goal(run, **settings)
    except WorkbenchError as exc:
        display(Markdown(f"Cannot evaluate the goal: {exc}"))
        return
    _show_result(result, plot=False)
    display(Markdown(f"```yaml\n{result['yaml']}```"))


def _event_type_options(run: Run) -> tuple[list[tuple[str, str]], list[str]]:
    """(event type choices with their counts, the fields a condition can test)."""
    events = tuner_events(run).events
    counts = (
        events.group_by("event_type")
        .aggregate(n=events.count())
        .order_by(events.count().desc())
        .to_pandas()
    )
    options = [("(any event type)", "")] + [
        (f"{t} ({n:,})", str(t)) for t, n in zip(counts["event_type"], counts["n"], strict=True)
    ]
    fields = sorted(c for c in events.columns if not c.startswith("_") and c != "profile_id")
    return options, fields


def _controls(settings: dict[str, Any], type_options, fields) -> dict[str, Any]:
    """The widgets, set to the configured goal."""
    import ipywidgets as w

    style, layout = {"description_width": "130px"}, w.Layout(width="420px")

    def pick(options, value, description):
        return w.Dropdown(
            options=options, value=value, description=description, style=style, layout=layout
        )

    def days(value, low, description):
        return w.BoundedIntText(
            value=value, min=low, max=3650, description=description, style=style, layout=layout
        )

    outcomes = [("occurs (conversion)", "occurs"), ("does not occur (churn)", "does_not_occur")]
    field = settings["field"] if settings["field"] in fields else ""
    return {
        "outcome": pick(outcomes, settings["outcome"], "outcome"),
        "match": w.ToggleButtons(
            options=["all", "any"], value=settings["match"], description="match", style=style
        ),
        "event_type": pick(type_options, settings["event_type"] or "", "event type"),
        "field": pick([("(no field condition)", "")] + [(f, f) for f in fields], field, "field"),
        "op": pick(list(OPERATORS), settings["op"] or "==", "operator"),
        "value": w.Text(
            value="" if settings["value"] is None else str(settings["value"]),
            description="value",
            placeholder="e.g. 150, or a, b for in",
            continuous_update=False,
            style=style,
            layout=layout,
        ),
        "window_days": days(settings["window_days"], 1, "window days"),
        "any_history": w.Checkbox(
            value=settings["active_within_days"] is None,
            description="eligible: any history",
            style=style,
        ),
        "active_within_days": days(settings["active_within_days"] or 90, 30, "active within days"),
    }


def _chosen(controls: dict[str, Any]) -> dict[str, Any]:
    """The widgets' values as `evaluate_goal` keyword arguments."""
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


def _layout(controls: dict[str, Any], show_yaml, yaml_out, out):
    import ipywidgets as w

    left = ("outcome", "match", "event_type", "window_days")
    right = ("field", "op", "value", "any_history", "active_within_days")
    columns = w.HBox([w.VBox([controls[k] for k in left]), w.VBox([controls[k] for k in right])])
    return w.VBox([columns, show_yaml, yaml_out, out])


def goal_tuner(run: Run | str | Path, interactive: bool = True):
    """Widgets to try goal definitions (interactive), or a static summary of the configured goal.

    Interactive controls: outcome, match, event type, an optional field condition, window days
    and the eligibility lookback. Every change recounts positives, negatives and base rate per
    cutoff; "show YAML" prints the `goal:` / `eligibility:` sections to paste into the config.
    """
    from IPython.display import Markdown, display

    run = run if isinstance(run, Run) else Run.open(run)
    settings = goal_settings(run.config)
    if interactive:
        try:
            import ipywidgets  # noqa: F401 - the `lab` extra, not needed by `workbench run`
        except ImportError:
            _static_summary(
                run,
                settings,
                "**Configured goal**. The interactive tuner needs ipywidgets: "
                "`pip install -e '.[lab]'` (`make lab` installs it).",
            )
            return None
    if not interactive:
        _static_summary(run, settings)
        return None

    import ipywidgets as w

    controls = _controls(settings, *_event_type_options(run))
    out, yaml_out = w.Output(), w.Output()
    show_yaml = w.Button(description="show YAML", icon="clipboard")
    state: dict[str, Any] = {}

    def _refresh(_change=None) -> None:
        controls["active_within_days"].disabled = controls["any_history"].value
        yaml_out.clear_output()
        with out:
            out.clear_output(wait=True)
            try:
                result = evaluate_goal(run, **_chosen(controls))
            except WorkbenchError as exc:
                state.pop("result", None)
                display(Markdown(f"**Not counted yet:** {exc}"))
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
    display(_layout(controls, show_yaml, yaml_out, out))
    return None
