"""`workbench run --resume RUN`: continue a run that did not finish, where it stopped.

A run killed (`kill -9`, a closed laptop), interrupted (Ctrl-C) or failed stays in its folder
with `run.json` listing the notebooks that finished. Resuming reopens that folder, keeps those
notebooks (and the files they wrote) and runs the first one that did not finish and every one
after it, with the run's own config and as_of, so a resumed run is the run that was started.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path
from typing import Any

from workbench.config import load_config
from workbench.errors import ConfigError, WorkbenchError
from workbench.run import PARTIAL_SUFFIX, Run


def _find(path: str | Path) -> Run:
    """The run folder at `path`; `<base>/<stamp>` also finds `<base>/.<stamp>.partial`."""
    path = Path(path)
    partial = path.parent / f".{path.name}{PARTIAL_SUFFIX}"
    if not path.exists() and partial.exists():
        path = partial
    run = Run(path)
    if not run.file("record").is_file() or not run.file("config").is_file():
        raise WorkbenchError(f"{path}: not a run folder (no run.json and config.yaml) to resume")
    return run


def open_for_resume(
    path: str | Path,
    config_path: str | Path | None,
    overrides: list[str] | None,
    as_of: str | None,
    notebooks: list[Path],
) -> tuple[Run, dict[str, Any]]:
    """The run to continue and its record, with the notebooks to keep (the finished ones
    before the first that did not finish) and status `running` again. Refuses a run that
    finished, is still running, is not a `workbench run`, or whose config or as_of differ from
    the ones given."""
    from workbench.reporting.notebooks import pick_kernel

    run = _find(path)
    record = run.record
    if record.get("kind") != "notebooks":
        raise WorkbenchError(
            f"{run.path}: a {record.get('kind', 'different')} run, not one of `workbench run`: "
            "only notebook runs are resumed"
        )
    status = record.get("status")
    if status == "ok":
        raise WorkbenchError(f"{run.path}: this run finished; there is nothing to resume")
    if run.is_running_elsewhere:
        raise WorkbenchError(f"{run.path}: still running (pid {record.get('pid')})")
    if config_path is not None:
        given = load_config(config_path, overrides).to_yaml_dict()
        if given != run.config.to_yaml_dict():
            raise ConfigError(
                f"{config_path}: differs from the config the run started with "
                f"({run.file('config')}); a resumed run keeps its own config, so start a new "
                "run instead (without --resume)"
            )
    if as_of and as_of != record.get("as_of"):
        raise ConfigError(
            f"--as-of {as_of}: the run started with as_of {record.get('as_of') or '(default)'}; "
            "a resumed run keeps it"
        )
    finished = {nb["name"]: nb for nb in record.get("notebooks", []) if nb.get("status") == "ok"}
    keep = []
    for src in notebooks:  # only an unbroken start of the sequence is kept
        if src.stem not in finished:
            break
        keep.append(finished[src.stem])
    record = {
        **{k: v for k, v in record.items() if k != "error"},
        "notebooks": keep,
        "status": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "kernel": record.get("kernel") or pick_kernel(),
        "resumed": [*record.get("resumed", []), dt.datetime.now().isoformat(timespec="seconds")],
    }
    run.write_record(record)
    return run, record
