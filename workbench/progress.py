"""Progress bars for the long stages (ingest, snapshots, TreeSHAP, scoring) in a terminal.

`tqdm` with `disable=None` shows a bar only when standard error is a terminal, so notebooks
under papermill, CI logs and redirected runs stay clean; `WORKBENCH_PROGRESS=0` turns bars off
and `=1` forces them on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def _disable() -> bool | None:
    setting = os.environ.get("WORKBENCH_PROGRESS", "").strip()
    if setting in ("0", "false", "no"):
        return True
    if setting in ("1", "true", "yes"):
        return False
    return None  # tqdm's rule: on when stderr is a terminal


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """`items` with a progress bar (`desc` names the stage)."""
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, leave=False, disable=_disable())


@contextmanager
def steps(desc: str, total: int):
    """A bar over a stage's named steps: `with steps("ingest", 4) as step: step("read")`."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False, disable=_disable(), unit="step")

    def step(what: str) -> None:
        bar.set_postfix_str(what, refresh=False)
        bar.update(1)

    try:
        yield step
    finally:
        bar.close()
