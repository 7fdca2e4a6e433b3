"""Run folders, papermill execution and the landing page, with tiny fake notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from workbench.reporting import NotebookError, write_report
from workbench.run import Run
from workbench.workflow import run_notebooks


def _notebook(path: Path, *sources: str) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = new_code_cell(
        'run_dir: str = ""  # run folder\nas_of: str = ""  # scoring date\nshout: bool = False  # unused'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# Fake"), params, *(new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)


@pytest.fixture
def config(tmp_path):
    (tmp_path / "events.csv").write_text("profile_id,timestamp,event_type\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        "name: fake\n"
        "events: {path: events.csv}\n"
        "goal: {conditions: [{field: event_type, value: purchase}], window_days: 30}\n"
    )
    return path


PNG = (
    "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
    "from IPython.display import Image, display\nimport io\n"
    "fig, ax = plt.subplots(); ax.plot([1, 2]); buf = io.BytesIO(); fig.savefig(buf, format='png')\n"
    "display(Image(buf.getvalue()))"
)


def test_run_executes_in_order_and_writes_reports(tmp_path, config):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(
        nbs / "01_first.ipynb",
        "import json, pathlib\n"
        "pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps("
        "{'champion': 'logistic', 'validation': {'roc_auc': 0.71}, 'profiles_scored': 1234}))",
        PNG,
    )
    _notebook(
        nbs / "02_second.ipynb",
        "import pathlib\nassert pathlib.Path(run_dir, 'metrics.json').exists()\n"
        "pathlib.Path(run_dir, 'scores.csv').write_text('profile_id,probability\\n')",
    )
    lines: list[str] = []
    done = run_notebooks(
        config, out=tmp_path / "runs", as_of="2026-01-01", notebooks_dir=nbs, progress=lines.append
    )
    run = done.path
    assert run.parent == (tmp_path / "runs").resolve() and not done.is_partial
    assert Run.latest(tmp_path / "runs").path == run
    assert (run / "config.yaml").exists()
    for stem in ("01_first", "02_second"):
        assert (run / f"{stem}.ipynb").exists()
        assert (run / f"{stem}.html").exists()
    page = (run / "01_first.html").read_text()
    assert "data:image/png;base64" in page
    assert "pathlib.Path(run_dir" not in page  # code is hidden
    executed = nbformat.read(run / "01_first.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "2026-01-01" in injected[0].source and run.name in injected[0].source
    assert "interactive" not in injected[0].source  # only declared parameters are injected
    report = (run / "report.html").read_text()
    assert "logistic" in report and "0.710" in report and "1,234" in report
    assert 'href="01_first.html"' in report and 'href="scores.csv"' in report
    assert any("01_first" in s and " s" in s for s in lines)
    rec = json.loads((run / "run.json").read_text())
    assert [n["status"] for n in rec["notebooks"]] == ["ok", "ok"]


def test_a_page_that_cannot_be_written_loses_its_link_on_the_report(tmp_path, config):
    """The landing page is written while the last pages export, naming them ahead; a page
    that then cannot be written (here its name is taken by a folder) is not linked, and
    run.json names no page for it."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_first.ipynb", "x = 1")
    _notebook(
        nbs / "02_second.ipynb", "import pathlib\npathlib.Path(run_dir, '02_second.html').mkdir()"
    )
    lines: list[str] = []
    done = run_notebooks(config, out=tmp_path / "runs", notebooks_dir=nbs, progress=lines.append)
    run = done.path
    assert any("could not export 02_second.ipynb to HTML" in s for s in lines)
    report = (run / "report.html").read_text()
    assert 'href="01_first.html"' in report and 'href="02_second.html"' not in report
    rec = json.loads((run / "run.json").read_text())
    assert [n["html"] for n in rec["notebooks"]] == ["01_first.html", None]
    assert rec["status"] == "ok"
    assert 'href="02_second.html"' not in (run / "01_first.html").read_text()


@pytest.mark.parametrize(
    ("raise_src", "code"),
    [
        ("raise ValueError('boom went the cell')", 1),
        (
            "from workbench.errors import NotReadyError\nraise NotReadyError(['only 3 positives'])",
            3,
        ),
        ("from workbench.errors import DataError\nraise DataError('events.csv: empty')", 2),
    ],
)
def test_failing_notebook_is_saved_and_named(tmp_path, config, raise_src, code):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_ok.ipynb", "x = 1")
    _notebook(nbs / "02_broken.ipynb", raise_src)
    _notebook(nbs / "03_never.ipynb", "x = 3")
    with pytest.raises(NotebookError) as info:
        run_notebooks(config, out=tmp_path / "runs", notebooks_dir=nbs, progress=None)
    err = info.value
    assert err.exit_code == code
    assert "02_broken" in str(err) and "\n" not in str(err)
    assert ".partial" not in str(err)  # names the notebook where it is after the run ended
    (run,) = (p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert not run.name.startswith(".")  # published under its final name, but not as latest
    assert Run.latest(tmp_path / "runs") is None
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    saved = nbformat.read(run / "02_broken.ipynb", as_version=4)
    outputs = [o for c in saved.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any(o.get("output_type") == "error" for o in outputs)
    assert (run / "02_broken.html").exists()
    assert not (run / "03_never.ipynb").exists()
    report = (run / "report.html").read_text()
    assert "did not finish" in report and "What to do:" in report
    # The page shows the one-line reason and what to do, never papermill's banner or a traceback.
    page = (run / "02_broken.html").read_text()
    assert "This step stopped." in page and "What to do:" in page
    assert "Traceback" not in page and "An Exception was encountered" not in page
    assert err.error.split(": ")[-1] in page
    assert 'href="report.html"' in page


# ------------------------------------------------------------------ one kernel per run
def test_notebooks_share_one_kernel_but_not_their_variables(tmp_path, config):
    """One kernel serves the run (imports stay loaded), yet each notebook starts from an empty
    namespace, in the run folder, with its execution count at 1: what it did not define itself
    does not exist, as when it is opened alone."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(
        nbs / "01_first.ipynb",
        "import os, colorsys, pathlib\n"
        "pathlib.Path(run_dir, 'pid').write_text(str(os.getpid()))\n"
        "leftover = 1\nos.chdir('/')",
    )
    _notebook(
        nbs / "02_second.ipynb",
        "import os, sys, pathlib\n"
        "assert pathlib.Path('pid').read_text() == str(os.getpid()), 'a second kernel'\n"
        "assert 'colorsys' in sys.modules, 'modules were unloaded'\n"
        "assert 'leftover' not in globals(), 'a variable of notebook 01 leaked'\n"
        "assert 'colorsys' not in globals()",
    )
    run = run_notebooks(config, out=tmp_path / "runs", notebooks_dir=nbs, progress=None).path
    second = nbformat.read(run / "02_second.ipynb", as_version=4)
    code = [c for c in second.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert code[0].execution_count == 1


def test_a_notebook_relying_on_an_earlier_ones_variable_fails(tmp_path, config):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_defines.ipynb", "shared_frame = [1, 2, 3]")
    _notebook(nbs / "02_uses.ipynb", "len(shared_frame)")
    with pytest.raises(NotebookError, match="02_uses failed: NameError"):
        run_notebooks(config, out=tmp_path / "runs", notebooks_dir=nbs, progress=None)


def test_a_dead_kernel_fails_its_notebook_and_is_replaced(tmp_path, config):
    from workbench.reporting.kernel import RunKernel
    from workbench.reporting.notebooks import pick_kernel

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_dies.ipynb", "import os\nos._exit(1)")
    _notebook(nbs / "02_after.ipynb", "x = 2")
    with pytest.raises(NotebookError, match="01_dies failed") as info:
        run_notebooks(config, out=tmp_path / "runs", notebooks_dir=nbs, progress=None)
    assert info.value.exit_code == 1
    (run,) = (p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    # The next notebook of the same RunKernel gets a fresh kernel.
    with RunKernel(pick_kernel(), tmp_path) as kernel:
        assert kernel.execute(nbs / "01_dies.ipynb", tmp_path / "a.ipynb", {}) is not None
        assert kernel.execute(nbs / "02_after.ipynb", tmp_path / "b.ipynb", {}) is None
        assert kernel.starts == 2


def test_a_goal_the_data_cannot_support_stops_before_a_run_folder(tmp_path):
    """`workbench run` checks readiness (as `validate` does) before it makes a run folder."""
    from workbench.errors import NotReadyError
    from workbench.ingest.sample import write_sample

    config = write_sample(tmp_path / "sample", profiles=400, seed=2)
    never = ["goal.conditions.0.value=never.happens"]
    with pytest.raises(NotReadyError, match="only 0 positive training examples"):
        run_notebooks(config, out=tmp_path / "runs", overrides=never, progress=None)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == []  # no folder, no check left


def test_report_without_metrics_still_renders(tmp_path, config):
    from workbench.config import load_config

    run = Run.create(tmp_path / "runs", load_config(config))
    page = write_report(run).read_text()
    assert "Likely to have a purchase event within 30 days" in page  # the goal in words
    assert "No verdict yet" in page and "Traceback" not in page


def test_headline_and_key_figures_read_the_run_files(tmp_path):
    from workbench.reporting import headline, key_figures

    run = Run(tmp_path)
    run.write_json(
        "metrics",
        {
            "champion": "boosted",
            "models": {"boosted": {"roc_auc": 0.8123, "lift_top_decile": 3.2}},
            "validation": {"profiles": 1000, "positives": 250},
        },
    )
    run.write_json(
        "score_summary", {"profiles": 900, "buckets": {"low": 225, "medium": 450, "high": 225}}
    )
    h = headline(run)
    assert h["champion"] == "boosted" and h["validation ROC AUC"] == 0.8123
    assert h["base rate"] == 0.25 and h["profiles scored"] == 900
    assert list(h["bucket sizes"]) == ["high", "medium", "low"]
    table = key_figures(run)
    assert table.loc["base rate", "value"] == "25.0%"
    assert table.loc["lift in top decile", "value"] == "3.20×"
    run.write_json(
        "quality", {"rows_read": 10, "columns": {"a": "string"}, "quarantine_reasons": {"x": 2}}
    )
    dq = key_figures(run, "quality")
    assert dq.loc["rows_read", "value"] == "10" and "columns.a" not in dq.index


# ------------------------------------------------------------------ notebooks outside a checkout
def test_installed_package_finds_its_own_notebook_copies(tmp_path, monkeypatch):
    import workbench
    from workbench.reporting import find_notebooks
    from workbench.reporting.notebooks import find_notebook

    site = tmp_path / "site-packages" / "workbench"
    (site / "notebooks").mkdir(parents=True)
    for name in (
        "02_goal_definition.ipynb",
        "01_data_prep.ipynb",
        "06_monitoring.ipynb",
        "_build_notebooks.py",
    ):
        (site / "notebooks" / name).write_text("{}")
    monkeypatch.setattr(workbench, "__file__", str(site / "__init__.py"))
    assert [p.name for p in find_notebooks()] == ["01_data_prep.ipynb", "02_goal_definition.ipynb"]
    assert find_notebook("06_monitoring") == site / "notebooks" / "06_monitoring.ipynb"


def test_wheel_carries_the_notebooks(tmp_path):
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools")
    from helpers import REPO as repo

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(repo),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    sources = sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(sources) == 6  # 01-05 for `workbench run`, 06 for `workbench compare`
    with zipfile.ZipFile(wheel) as zf:
        for src in sources:
            assert zf.read(f"workbench/notebooks/{src.name}") == src.read_bytes()


def test_missing_events_file_fails_before_a_run_folder_is_made(tmp_path):
    import yaml

    from workbench.errors import DataError

    cfg = tmp_path / "my.yaml"
    goal = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}
    cfg.write_text(yaml.safe_dump({"events": {"path": "nope.csv"}, "goal": goal}))
    with pytest.raises(DataError, match=r"my.yaml: events.path: .*nope.csv: file not found"):
        run_notebooks(cfg, out=tmp_path / "runs", progress=None)
    assert not (tmp_path / "runs").exists()


def test_economics_section_speaks_of_the_goal_and_says_when_nothing_pays(tmp_path):
    import numpy as np
    import pandas as pd

    from workbench.config import EconomicsConfig, load_config
    from workbench.economics import profit_curve, target_decision
    from workbench.reporting.decisions import economics_section

    (tmp_path / "events.csv").write_text("profile_id,timestamp,event_type\n")
    (tmp_path / "churn.yaml").write_text(
        "name: churn\nevents: {path: events.csv}\n"
        "goal: {outcome: does_not_occur, conditions: [{field: event_type, value: buy}], window_days: 60}\n"
    )
    run = Run.create(tmp_path / "runs", load_config(tmp_path / "churn.yaml"))
    validation = pd.DataFrame(
        {"probability": np.linspace(0.9, 0.0, 10), "label": [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]}
    )
    for cost, expected in ((1, "churners reached"), (10, "No target size pays")):
        economics = EconomicsConfig(cost_per_contact=cost, value_per_conversion=4, currency="$")
        curve = profit_curve([validation], economics)
        decision = target_decision(curve, np.linspace(0.95, 0.0, 20), economics)
        run.write_frame("profit_curve", curve)
        run.write_json(
            "economics", {"economics": economics.model_dump(), "decision": decision, "groups": []}
        )
        page = economics_section(run)
        assert "Whom to contact" in page and expected in page and "data:image/svg+xml" in page
