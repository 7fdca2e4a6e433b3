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
from workbench.workflow.tuning import evaluate_goal, goal_settings, tuner_events

__all__ = ["goal_tuner", "readiness_text"]


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


def goal_tuner(run: Run | str | Path, interactive: bool = True):
    """Widgets to try goal definitions (interactive), or a static summary of the configured goal.

    Interactive controls: outcome, match, event type, an optional field condition, window days
    and the eligibility lookback. Every change recounts positives, negatives and base rate per
    cutoff; "show YAML" prints the `goal:` / `eligibility:` sections to paste into the config.
    """
    from IPython.display import Markdown, display

    run = run if isinstance(run, Run) else Run.open(run)
    settings = goal_settings(run.config)
    intro = "**Configured goal** (open this notebook in Jupyter to try others):"
    if interactive:
        try:
            import ipywidgets  # noqa: F401 - the `lab` extra, not needed by `workbench run`
        except ImportError:
            interactive = False
            intro = (
                "**Configured goal**. The interactive tuner needs ipywidgets: "
                "`pip install -e '.[lab]'` (`make lab` installs it)."
            )

    if not interactive:
        display(Markdown(intro))
        try:
            result = evaluate_goal(run, **settings)
        except WorkbenchError as exc:
            display(Markdown(f"Cannot evaluate the goal: `{exc}`"))
            return None
        _show_result(result, plot=False)
        display(Markdown(f"```yaml\n{result['yaml']}```"))
        return None

    import ipywidgets as w

    events = tuner_events(run).events
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
                result = evaluate_goal(run, **_kwargs())
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
