"""Typed errors. Each carries the key, file or row at fault; the CLI prints one line and exits."""

from __future__ import annotations

import errno


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


_OS_REASONS = {
    errno.ENOSPC: "disk full (no space left on device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "already exists",
}


def os_reason(exc: BaseException) -> str:
    """What went wrong with a file in words ('disk full', 'read-only file system'), from an
    OSError or an engine's I/O error text."""
    code = getattr(exc, "errno", None)
    if code in _OS_REASONS:
        return _OS_REASONS[code]
    text = str(exc).lower()
    for needle, reason in (
        ("no space left", _OS_REASONS[errno.ENOSPC]),
        ("read-only file system", _OS_REASONS[errno.EROFS]),
        ("permission denied", _OS_REASONS[errno.EACCES]),
        ("is a directory", _OS_REASONS[errno.EISDIR]),
    ):
        if needle in text:
            return reason
    return getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or ["I/O error"])[0]


def output_error(path, exc: BaseException) -> DataError:
    """A failed write as one line naming the file (exit 2): a full disk, a read-only folder..."""
    return DataError(f"{path}: cannot write: {os_reason(exc)}")
