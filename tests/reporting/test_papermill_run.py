"""papermill's engine for `workbench run` writes the executed notebook at its start and end
(also when a cell fails), and at a cell boundary only once the last write is `SAVE_EVERY`
seconds old."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.execute import prepare_notebook_metadata
from papermill.iorw import load_notebook_node

from workbench.reporting import papermill_run


def _run_cells(tmp_path, writes: list[str], fail_at: int | None = None) -> None:
    src, out = tmp_path / "in.ipynb", str(tmp_path / "out.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell(str(i)) for i in range(3)]), src)
    nb = prepare_notebook_metadata(load_notebook_node(str(src)), str(src), out)
    manager = papermill_run._FewerSaves(nb, output_path=out, progress_bar=False)
    manager.notebook_start()
    try:
        for i, cell in enumerate(nb.cells):
            manager.cell_start(cell, i)
            if i == fail_at:
                raise RuntimeError("the kernel died")
            manager.cell_complete(cell, i)
    finally:  # as papermill's Engine.execute_notebook
        manager.notebook_complete()


@pytest.fixture
def writes(monkeypatch) -> list[str]:
    written: list[str] = []
    monkeypatch.setattr("papermill.engines.write_ipynb", lambda nb, path: written.append(path))
    return written


def test_short_cells_write_only_the_start_and_the_end(tmp_path, writes):
    _run_cells(tmp_path, writes)
    assert len(writes) == 2


def test_a_failure_still_writes_the_end(tmp_path, writes):
    with pytest.raises(RuntimeError):
        _run_cells(tmp_path, writes, fail_at=1)
    assert len(writes) == 2


def test_cells_longer_than_save_every_are_written_at_their_boundaries(
    tmp_path, writes, monkeypatch
):
    monkeypatch.setattr(papermill_run, "SAVE_EVERY", 0.0)
    _run_cells(tmp_path, writes)
    assert len(writes) == 2 + 2 * 3
