"""Propensity Workbench: goals, leakage-free snapshots, models, factors, scores and segments.

The few names an analyst uses from Python::

    from workbench import load_config, run_pipeline

    run = run_pipeline("my.yaml")                      # or events=a_dataframe, profiles=...
    scores = run.read_frame("scores")

Stage by stage (what notebooks 01-05 call), in a run folder of your own::

    from workbench import Run, load_config, workflow

    run = Run.create("reports/my-goal", load_config("my.yaml"))
    workflow.prepare_data(run, events=events_frame)
    workflow.define_goal(run)
    comparison = workflow.compare(run)

Names are imported on first use, so `import workbench` (and the CLI's `--help`) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "workbench.config",
    "load_config": "workbench.config",
    "config_from_dict": "workbench.config",
    "Run": "workbench.run",
    "run_pipeline": "workbench.workflow",
    "run_notebooks": "workbench.workflow",
    "prepare_data": "workbench.workflow",
    "define_goal": "workbench.workflow",
    "compare": "workbench.workflow",
    "explain": "workbench.workflow",
    "score_and_segment": "workbench.workflow",
    "validate": "workbench.workflow",
    "snapshot": "workbench.workflow",
    "score": "workbench.workflow",
    "backtest": "workbench.workflow",
    "evaluate_goal": "workbench.workflow",
    "WorkbenchError": "workbench.errors",
    "ConfigError": "workbench.errors",
    "DataError": "workbench.errors",
    "NotReadyError": "workbench.errors",
    "ModelMismatchError": "workbench.errors",
}
__all__ = [
    "__version__",
    "Config",
    "load_config",
    "config_from_dict",
    "Run",
    "run_pipeline",
    "run_notebooks",
    "prepare_data",
    "define_goal",
    "compare",
    "explain",
    "score_and_segment",
    "validate",
    "snapshot",
    "score",
    "backtest",
    "evaluate_goal",
    "WorkbenchError",
    "ConfigError",
    "DataError",
    "NotReadyError",
    "ModelMismatchError",
]

if TYPE_CHECKING:  # for type checkers and editors; at run time `__getattr__` imports lazily
    from workbench.config import Config, config_from_dict, load_config
    from workbench.errors import (
        ConfigError,
        DataError,
        ModelMismatchError,
        NotReadyError,
        WorkbenchError,
    )
    from workbench.run import Run
    from workbench.workflow import (
        backtest,
        compare,
        define_goal,
        evaluate_goal,
        explain,
        prepare_data,
        run_notebooks,
        run_pipeline,
        score,
        score_and_segment,
        snapshot,
        validate,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
