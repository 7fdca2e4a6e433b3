"""Inputs are never written: what a command reads, and the rule that no output goes there.

`input_paths` lists every path a config makes a command read (the events, profiles and
identities files, the folder a glob searches, the config file, an events database file, a
model folder); `check_output` refuses an output that is one of them, holds one (`output.dir: .`
next to the events) or lies inside an input folder (a model's, a glob's). `Run.create` calls it
for every run folder, `snapshot --out` for its file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.config import Config


def input_paths(config: Config, extra=()) -> list[tuple[str, Path]]:
    """What a command reads: `(what, resolved path)` of the events, profiles and identities
    (each file of a list; the folder a glob searches), the config file, an events database
    file, and `extra` (e.g. `("--model", model folder)`)."""
    found: list[tuple[str, Any]] = []
    sources = [("events.path", config.events.path)]
    if config.profiles is not None:
        sources.append(("profiles.path", config.profiles.path))
    if getattr(config, "identities", None) is not None:
        sources.append(("identities.path", config.identities.path))
    for what, value in sources:
        for item in value if isinstance(value, list) else [value]:
            found.append((what, _glob_root(item) if item is not None else None))
    scheme, _, database = (config.events.connection or "").rpartition("://")
    if database and scheme in ("", "duckdb", "sqlite"):  # a database file
        found.append(("events.connection", database.split("?")[0]))
    found.append(("the config file", config.source))
    found += list(extra)
    return [(what, Path(p).expanduser().resolve()) for what, p in found if p]


def _glob_root(item) -> Path:
    """`data/**/*.parquet` -> `data/`: a glob reads whatever lands under that folder, so an
    output there would be read back as input next time."""
    text = str(item)
    match = re.search(r"[*?\[]", text)
    if match is None:
        return Path(item)
    head = text[: match.start()]
    return Path(head) if head.endswith(("/", os.sep)) else Path(head).parent


def check_output(path: str | Path, config: Config, extra=(), what: str = "output folder") -> None:
    """Refuse an output that is an input, holds one (`output.dir: .` next to the events) or lies
    inside an input folder (the model's): inputs are never written."""
    out = Path(path).expanduser().resolve()
    for label, source in input_paths(config, extra):
        inside_source = source.is_dir() and out.is_relative_to(source)  # a model, a glob's
        if out == source or source.is_relative_to(out) or inside_source:
            relation = "is" if out == source else ("is inside" if inside_source else "holds")
            raise ConfigError(
                f"{path}: the {what} {relation} the input {source} ({label}): outputs never "
                "go where inputs are (they could be overwritten); choose another folder"
            )
