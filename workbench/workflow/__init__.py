"""The workflow layer: the only code that opens a run folder.

- `stages`: the five stages, one per notebook (`prepare_data`, `define_goal`, `compare`,
  `explain`, `score_and_segment`), each a build step plus a thin save step through the `Run`;
  `open_events` and `plan_goal`, the first steps every goal command shares;
- `commands`: `run_notebooks` (`workbench run`), `run_pipeline` (the same stages in this
  process), `validate`, `snapshot`, `score`, `backtest`;
- `notebook_run`: the notebooks of `workbench run` one by one, interruption and `--resume`;
- `tuning`: `evaluate_goal`, the goal tuner's logic.
"""

from workbench.workflow.commands import (
    Validation,
    backtest,
    model_directory,
    realised_outcomes,
    run_notebooks,
    run_pipeline,
    score,
    snapshot,
    validate,
)
from workbench.workflow.stages import (
    STAGES,
    EventsContext,
    GoalPlan,
    compare,
    define_goal,
    explain,
    open_events,
    plan_goal,
    prepare_data,
    score_and_segment,
)
from workbench.workflow.tuning import evaluate_goal, goal_settings

__all__ = [
    "STAGES",
    "EventsContext",
    "GoalPlan",
    "Validation",
    "backtest",
    "compare",
    "define_goal",
    "evaluate_goal",
    "explain",
    "goal_settings",
    "model_directory",
    "open_events",
    "plan_goal",
    "prepare_data",
    "realised_outcomes",
    "run_notebooks",
    "run_pipeline",
    "score",
    "score_and_segment",
    "snapshot",
    "validate",
]
