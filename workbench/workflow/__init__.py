"""The workflow layer: the only code that opens a run folder.

- `stages`: the five stages, one per notebook (`prepare_data`, `define_goal`, `compare`,
  `explain`, `score_and_segment`), each a build step plus a thin save step through the `Run`;
  `open_events` and `plan_goal`, the first steps every goal command shares;
- `commands`: `run_notebooks` (`workbench run`), `run_pipeline` (the same stages in this
  process), `validate`, `snapshot`, `score`, `backtest`;
- `notebook_run`: the notebooks of `workbench run` one by one, interruption and `--resume`;
- `tuning`: `evaluate_goal`, the goal tuner's logic;
- `insights`: the target size, audiences and cohort tables of a scored run (`economics`,
  `reporting.cohorts`), and `validation_frames`, the one reader of validation predictions;
- `comparison`: `compare_runs` (`workbench compare`), `open_comparison` and `monitor`, the
  stage notebook 06 runs; `scored`: the two runs it reads (`scored_run`, their facts, the
  realised outcome of the earlier run's scores).
"""

from workbench.workflow.commands import (
    Validation,
    run_notebooks,
    run_pipeline,
    snapshot,
    validate,
)
from workbench.workflow.comparison import Monitoring, compare_runs, monitor, open_comparison
from workbench.workflow.insights import training_run, validation_frames
from workbench.workflow.later_scores import backtest, model_directory, realised_outcomes, score
from workbench.workflow.scored import ScoredRun, scored_run
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
    "Monitoring",
    "ScoredRun",
    "compare_runs",
    "monitor",
    "open_comparison",
    "scored_run",
    "training_run",
    "validation_frames",
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
