"""Typed errors. Each carries the key, file or row at fault; the CLI prints one line and exits."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: a problem the user can fix, reported as one line."""

    exit_code = 1


class ConfigError(WorkbenchError):
    """The configuration file is missing, malformed or inconsistent (exit 2)."""

    exit_code = 2


class DataError(WorkbenchError, ValueError):
    """An input file is missing, empty, in the wrong format or lacks a mapped column (exit 2).

    Also a `ValueError`, as scikit-learn expects of an estimator given bad data."""

    exit_code = 2


class NotReadyError(WorkbenchError):
    """The data cannot support the goal: too few positives/negatives or too little history (exit 3)."""

    exit_code = 3

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("not ready: " + "; ".join(self.messages))


class ModelMismatchError(WorkbenchError, ValueError):
    """A saved model's feature specification does not match the data it is asked to score (exit 2)."""

    exit_code = 2
