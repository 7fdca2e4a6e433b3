"""Files written whole or not at all: every file of a run is written beside its final name and
renamed into place, so a crash, a kill or a full disk never leaves half a file under that name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import output_error


@contextmanager
def replaced(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to, renamed onto `path` when the block ends and
    removed if it fails; a failed write (full disk, read-only folder) is one line naming the
    file (`output_error`)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """`text` (UTF-8) written whole or not at all."""
    with replaced(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
