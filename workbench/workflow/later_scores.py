"""The commands that score with a model made earlier: `score` (a saved model on newer data,
no retraining) and `backtest` (trained as if today were a past date, then compared with what
happened since). Each makes a new run folder, as every command does (`workflow.commands`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.config import Config
from workbench.engine import connect, events_table
from workbench.errors import DataError, ModelMismatchError
from workbench.goals import eligible_labels, parse_day, to_day
from workbench.run import Run
from workbench.workflow.commands import (
    ConfigLike,
    _finish,
    as_config,
    check_sources,
    preload_stage_modules,
)
from workbench.workflow.insights import decide_and_segment
from workbench.workflow.stages import (
    compare,
    define_goal,
    open_events,
    prepare_data,
    score_and_segment,
    scoring_figures,
)


# ----------------------------------------------------------------------------- score
def model_directory(path: str | Path) -> Path:
    """Accept a run folder (with model/ inside) or the model folder itself."""
    path = Path(path)
    if (path / "model" / "model.json").exists():
        return path / "model"
    if (path / "model.json").exists():
        return path
    raise ModelMismatchError(
        f"{path}: no saved model here (expected model/model.json or model.json)"
    )


def score(
    config: ConfigLike,
    model: str | Path,
    *,
    as_of: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
) -> Run:
    """Re-score with a saved model (no retraining) on the config's (possibly newer) events, in
    a new folder under `out` (default `<output dir>/scores`); refuses data whose features do not
    match the model's, naming them, and a config whose goal or outcome window differs from the
    one the model was trained for (unless `force`: the differences are then recorded)."""
    from workbench import modeling
    from workbench.features import plan_features
    from workbench.goals import check_fields, resolve_as_of
    from workbench.scoring import score_profiles
    from workbench.segments import check_segments
    from workbench.snapshots import build_snapshots

    cfg = as_config(config, overrides)
    check_sources(cfg)
    if as_of:
        parse_day(as_of, "--as-of")
    model_dir = model_directory(model).resolve()  # recorded: later commands run elsewhere
    fitted = modeling.load_model(model_dir)
    differences = modeling.check_trained_for(fitted, cfg, model_dir)
    if differences and not force:
        raise ModelMismatchError(
            f"{model_dir}: {'; '.join(differences)}: its scores would answer another question; "
            "retrain with workbench run, or pass --force to score anyway"
        )
    record = {"kind": "score", "model": str(model_dir), "as_of": as_of or "", "forced": differences}
    run = Run.create(
        out or cfg.output_dir / "scores", cfg, record=record, inputs=(("--model", model_dir),)
    )
    started = time.perf_counter()
    try:
        prepare_data(run)
        ctx = open_events(run, cfg)
        check_fields(cfg, ctx.events.columns, ctx.events)
        day = resolve_as_of(cfg, as_of, ctx.first_event, ctx.last_event)
        plan = plan_features(ctx.events, cfg, ctx.profiles, before=day)
        _check_model_features(fitted, plan.specs, model_dir)
        profiles = ctx.profiles.limit(0).to_pandas() if ctx.profiles is not None else None
        check_segments(cfg.segments, [s.code for s in plan.specs], profiles, cfg.where())
        frame, _ = build_snapshots(ctx.events, cfg, [day], plan, ctx.profiles, with_label=False)
        codes = [s.code for s in fitted.feature_specs_]
        scores = score_profiles(
            fitted, frame[["profile_id", *codes]], fitted.feature_specs_, cfg, day
        )
        run.write_frame("scoring_snapshot", frame)  # what `workbench compare` measures drift on
        seg_summary = decide_and_segment(run, scores, frame, cfg)["segments_summary"]
        figures = scoring_figures(
            scores,
            seg_summary,
            str(day.date()),
            model=str(model_dir),
            factor_direction_guard=scores.attrs.get("factor_direction_guard"),
        )
        if scores.empty:
            figures["note"] = (
                f"no profile is eligible at {day.date()} (the last event is {ctx.last_event[:10]};"
                " see eligibility in the config): nothing to score"
            )
        run.write_json("score_summary", {**figures, **({"forced": differences} if force else {})})
    except BaseException as exc:
        _finish(run, started, exc)
        raise
    return _finish(run, started)


def _check_model_features(model, specs, model_dir: Path) -> None:
    """The data must still provide every feature the model uses, with the same kind."""
    available = {s.code: s for s in specs}
    missing = [s.code for s in model.feature_specs_ if s.code not in available]
    if missing:
        raise ModelMismatchError(
            f"{model_dir}: the data no longer provides feature(s) {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}; retrain with workbench run"
        )
    kinds = [s.code for s in model.feature_specs_ if available[s.code].kind != s.kind]
    if kinds:
        raise ModelMismatchError(
            f"{model_dir}: feature(s) {kinds} changed kind (numeric/categorical); retrain"
        )


# ----------------------------------------------------------------------------- backtest
def realised_outcomes(events, config: Config, at) -> pd.DataFrame:
    """(profile_id, label): who was eligible at `at` and whether the goal then happened."""
    frame = eligible_labels(events, config, [to_day(at)]).drop("cutoff_s").to_pandas()
    frame["profile_id"] = frame["profile_id"].astype(str)
    return frame


def backtest(
    config: ConfigLike,
    at: str,
    *,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """The whole pipeline as if today were `at` (the stages see only events before it), then
    its scores against what happened in the outcome window after `at`. A new folder under `out`
    (default `<output dir>/backtests`) holds the run and `backtest.json`."""
    from workbench.scoring import realised_performance

    cfg = as_config(config, overrides)
    check_sources(cfg)
    at_day = parse_day(at, "--at")
    run = Run.create(
        out or cfg.output_dir / "backtests",
        cfg,
        record={"kind": "backtest", "at": str(at_day.date()), "visible_before": str(at_day.date())},
    )
    started = time.perf_counter()
    preload_stage_modules()
    try:
        quality = prepare_data(run)["quality"]
        if at_day <= to_day(quality["first_event"]):
            raise DataError(
                f"--at {at_day.date()} is before any data (first event {quality['first_event']})"
            )
        define_goal(run, as_of=str(at_day.date()))
        compare(run)
        scored = score_and_segment(run)
        metrics = run.read_json("metrics")
        full = events_table(connect(cfg), run.file("events"))  # what happened after `at` too
        realised = realised_performance(scored["scores"], realised_outcomes(full, cfg, at_day))
        result = _backtest_result(cfg, at_day, quality, metrics, realised)
        run.write_json("backtest", result)
    except BaseException as exc:
        _finish(run, started, exc)
        raise
    _finish(run, started)
    return {**result, "run_dir": str(run.path)}


def _backtest_result(config, at_day, quality, metrics, realised) -> dict[str, Any]:
    import json

    last = to_day(quality["last_event"])
    window_end = at_day + pd.Timedelta(days=config.goal.window_days)
    complete = window_end <= last + pd.Timedelta(days=1)
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
    }
    if not complete:
        result["note"] = (
            f"the outcome window ends {window_end.date()}, after the last event ({last.date()}): "
            "realised figures are incomplete"
        )
    return result
