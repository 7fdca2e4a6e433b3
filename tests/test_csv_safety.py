"""Spreadsheet-safe CSVs: formula-like text escaped, numbers untouched, every value read back
exactly, and the engine's escaping (quarantine.csv) identical to pandas'."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.csv_safety import escape_cell, escape_column, unescape_cell, write_csv
from workbench.run import Run

TRICKY = [
    "=1+1",
    '=HYPERLINK("http://x","y")',
    "+SUM(1,1)",
    "-2+3",
    "@SUM(1)",
    "\tcmd",
    "\rcmd",
    "'=already",
    "''",
    "'",
    "'a",
    "-0.5",
    "+3",
    "-1e5",
    "1-2",
    "abc",
    "",
    "-",
    "=",
]


@pytest.mark.parametrize("value", TRICKY)
def test_escaping_round_trips_and_leaves_no_formula(value):
    escaped = escape_cell(value)
    assert unescape_cell(escaped) == value
    is_number = value in ("-0.5", "+3", "-1e5")
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not is_number:
        assert escaped.startswith("'")
    if is_number or value in ("abc", "1-2", "", "'", "'a"):
        assert escaped == value


def test_the_engine_escapes_exactly_like_pandas():
    import ibis

    con = ibis.duckdb.connect()
    table = con.create_table("t", pd.DataFrame({"v": TRICKY}))
    got = table.select(escape_column(table.v).name("v")).to_pandas()["v"].tolist()
    assert got == [escape_cell(v) for v in TRICKY]


def test_run_csvs_are_escaped_on_disk_and_exact_when_read_back(tmp_path):
    frame = pd.DataFrame({"profile_id": TRICKY, "probability": [0.5] * len(TRICKY)})
    path = write_csv(frame, tmp_path / "scores.csv")
    on_disk = pd.read_csv(path, dtype=str, keep_default_na=False)["profile_id"]
    numbers = {"-0.5", "+3", "-1e5"}
    assert not any(v.startswith(("=", "+", "-", "@", "\t")) for v in on_disk if v not in numbers)
    back = Run(tmp_path).read_frame("scores_csv", dtype=str, keep_default_na=False)
    assert back["profile_id"].tolist() == TRICKY
    assert not list(tmp_path.glob(".*.tmp"))  # written via a temporary file
