"""papermill's engine for `workbench run` leaves the finished notebook's one write to
`papermill.execute_notebook` (which writes it after the engine, also when a cell failed), writes
it itself when execution broke off, and at a cell boundary only once the last write is
`SAVE_EVERY` seconds old."""

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
        manager.broke_off = False  # as RunEngine.execute_notebook after a normal end
    finally:  # as papermill's Engine.execute_notebook
        manager.notebook_complete()


@pytest.fixture
def writes(monkeypatch) -> list[str]:
    written: list[str] = []
    monkeypatch.setattr("papermill.engines.write_ipynb", lambda nb, path: written.append(path))
    return written


def test_short_cells_leave_the_one_write_to_papermill(tmp_path, writes):
    _run_cells(tmp_path, writes)
    assert writes == []  # papermill.execute_notebook writes the finished notebook next


def test_execution_that_broke_off_still_writes_the_end(tmp_path, writes):
    with pytest.raises(RuntimeError):
        _run_cells(tmp_path, writes, fail_at=1)
    assert len(writes) == 1


def test_a_run_notebook_is_written_once_with_its_outputs(tmp_path, monkeypatch):
    import papermill

    written: list[str] = []
    real = papermill.iorw.write_ipynb
    for where in ("papermill.engines.write_ipynb", "papermill.execute.write_ipynb"):
        monkeypatch.setattr(
            where, lambda nb, path, real=real: written.append(path) or real(nb, path)
        )
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(6 * 7)")]), src)
    papermill.execute_notebook(
        str(src), str(out), kernel_name="python3", progress_bar=False,
        engine_name=papermill_run.register_engine(),
    )  # fmt: skip
    assert written == [str(out)]
    assert "42" in nbformat.read(out, as_version=4).cells[0].outputs[0]["text"]


def test_cells_longer_than_save_every_are_written_at_their_boundaries(
    tmp_path, writes, monkeypatch
):
    monkeypatch.setattr(papermill_run, "SAVE_EVERY", 0.0)
    _run_cells(tmp_path, writes)
    assert len(writes) == 1 + 2 * 3  # the start (its last write is 0 s old), each boundary
