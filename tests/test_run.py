"""The run folder: one object names every file; runs are never reused; `latest` moves last."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from helpers import write_config

from workbench.artifacts import ARTIFACTS
from workbench.config import load_config
from workbench.errors import DataError, WorkbenchError
from workbench.run import Run

NOW = dt.datetime(2026, 3, 1, 9, 30, 5)
GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}


@pytest.fixture
def config(tmp_path):
    (tmp_path / "events.csv").write_text("profile_id,timestamp,event_type\n")
    return load_config(
        write_config(tmp_path, {"name": "fake", "events": {"path": "events.csv"}, "goal": GOAL})
    )


def _latest(base: Path) -> str | None:
    found = Run.latest(base)
    return found.name if found else None


def test_every_artifact_has_one_name_one_file_and_one_writer():
    names = [a.name for a in ARTIFACTS]
    files = [a.file for a in ARTIFACTS]
    assert len(set(names)) == len(names) and len(set(files)) == len(files)
    assert all(a.writer and a.holds for a in ARTIFACTS)


def test_run_is_named_by_time_built_aside_and_never_reused(tmp_path, config):
    tmp_path = tmp_path / "runs"
    a = Run.create(tmp_path, config, now=NOW)
    assert (
        a.is_partial and a.path.name == ".20260301-093005.partial" and a.name == "20260301-093005"
    )
    assert json.loads(a.file("record").read_text())["status"] == "running"
    a.publish(succeeded=True)
    assert a.path == (tmp_path / "20260301-093005").resolve() and not a.is_partial
    (a.path / "keep.txt").write_text("first run")
    b = Run.create(tmp_path, config, now=NOW)
    c = Run.create(tmp_path, config, now=NOW)
    assert (b.name, c.name) == ("20260301-093005-2", "20260301-093005-3")
    assert (a.path / "keep.txt").read_text() == "first run"


def test_latest_moves_only_when_a_run_succeeds(tmp_path, config):
    tmp_path = tmp_path / "runs"
    ok = Run.create(tmp_path, config, now=NOW).publish(succeeded=True)
    assert _latest(tmp_path) == ok.name
    Run.create(tmp_path, config, now=NOW + dt.timedelta(days=1)).publish(succeeded=False)
    assert _latest(tmp_path) == ok.name
    Run.create(tmp_path, config, now=NOW + dt.timedelta(days=2))  # killed: never published
    assert _latest(tmp_path) == ok.name
    later = Run.create(tmp_path, config, now=NOW + dt.timedelta(days=3)).publish(succeeded=True)
    assert _latest(tmp_path) == later.name
    if (tmp_path / "latest").is_symlink():
        assert (tmp_path / "latest").resolve() == later.path


def test_files_are_named_by_the_run_and_missing_ones_say_who_writes_them(tmp_path, config):
    run = Run.create(tmp_path / "runs", config)
    assert run.file("metrics") == run.path / "metrics.json"
    with pytest.raises(DataError, match="metrics.json: not found .*compare"):
        run.read_json("metrics")
    assert run.optional_json("metrics") == {}
    with pytest.raises(KeyError, match="unknown run artifact"):
        run.file("nope")
    run.write_json("metrics", {"champion": "logistic"})
    assert run.read_json("metrics") == {"champion": "logistic"}
    assert not list(run.path.glob(".*.tmp"))  # written via a temporary file and renamed
    assert run.config.name == "fake" and run.title == "fake"


def test_resolve_explicit_config_or_latest(tmp_path, config, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)  # as in `make lab`
    with pytest.raises(WorkbenchError, match="no run folder"):
        Run.resolve("")
    with pytest.raises(WorkbenchError, match="not a run folder"):
        Run.resolve(str(notebooks))
    started = Run.resolve("", str(config.source))  # a new run folder from the config
    assert started.file("config").exists()
    assert started.base == tmp_path / "reports" / "fake"  # next to notebooks/, not inside
    assert not started.is_partial and started.record["kind"] == "interactive"
    assert Run.resolve("").path == started.path  # the latest run, found from notebooks/
    assert Run.resolve(str(started.path)).path == started.path


def test_an_output_folder_that_is_or_holds_an_input_is_refused(tmp_path, config):
    from workbench.inputs import check_output

    events = config.events.path
    for bad in (tmp_path, events, events.parent):  # holds the events and the config; is them
        with pytest.raises(WorkbenchError, match="outputs never go where inputs are"):
            Run.create(bad, config)
    model = tmp_path / "old-run" / "model"
    model.mkdir(parents=True)
    for bad in (model, model / "scores", model.parent):
        with pytest.raises(WorkbenchError, match=r"\(--model\)"):
            check_output(bad, config, (("--model", model),))
    check_output(tmp_path / "runs", config, (("--model", model),))  # beside the inputs is fine


def test_a_partial_run_whose_process_died_is_marked_interrupted(tmp_path, config):
    from workbench.run import mark_interrupted

    base = tmp_path / "runs"
    dead = Run.create(base, config, now=NOW)
    dead.update_record(pid=2**22 + 12345)  # no such process
    assert [r.path for r in mark_interrupted(base)] == [dead.path]
    assert dead.record["status"] == "interrupted"
    dead.update_record(status="running")
    alive = Run.create(base, config, now=NOW + dt.timedelta(seconds=1))  # marks the dead one
    assert dead.record["status"] == "interrupted" and alive.record["status"] == "running"
    assert mark_interrupted(base) == []  # this process is alive: its run is left alone
    assert alive.is_running_elsewhere and not dead.is_running_elsewhere
    assert Run.latest(base) is None  # neither became latest
