"""Ingest on real-world-shaped files: day-first dates, epoch units, late type changes, encodings,
decimal commas, identity lists and float ids. Each test is small and fails without its fix;
section numbers follow the items of the review that found these (reading first, then timestamps,
then profile ids)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import write_config

from workbench.config import load_config
from workbench.data import ingest_events
from workbench.errors import ConfigError, DataError

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}
MAP = {"profile_id": "p", "timestamp": "t"}


def ingest(tmp_path, events: dict, **extra):
    cfg = load_config(write_config(tmp_path, {"events": events, "goal": GOAL, **extra}))
    quality = ingest_events(cfg, tmp_path / "out")
    return quality, pd.read_parquet(tmp_path / "out" / "events.parquet")


def quarantine(tmp_path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str, keep_default_na=False)


def csv_events(tmp_path, rows: list[str], header: str = "p,t", name: str = "e.csv", **events):
    (tmp_path / name).write_text("\n".join([header, *rows]) + "\n")
    return {"path": name, "columns": MAP, "event_type": "purchase", **events}


# 3. Late type changes and DuckDB errors ------------------------------------------------------


def test_nested_json_key_first_seen_after_the_sample(tmp_path):
    line = {"id": "u", "ts": "2024-01-01T00:00:00Z", "eventType": "view", "items": [{"SKU": "a"}]}
    late = {**line, "eventType": "purchase", "items": [{"SKU": "b", "quantity": 2}]}
    late["commerce"] = {"order": {"priceTotal": 9.5}}
    text = (json.dumps(line) + "\n") * 21_000 + json.dumps(late) + "\n"
    (tmp_path / "e.jsonl").write_text(text)
    columns = {"profile_id": "id", "timestamp": "ts", "event_type": "eventType"}
    q, ev = ingest(tmp_path, {"path": "e.jsonl", "columns": columns, "dedupe": "none"})
    assert q["rows_kept"] == 21_001
    # a top-level key seen only at the end is kept too (DuckDB's sample would drop it silently)
    assert ev["commerce.order.priceTotal"].max() == 9.5


def test_csv_column_numeric_then_text_after_the_sample(tmp_path):
    rows = [f"a{i % 50},2024-01-01,{i}" for i in range(21_000)] + ["z,2024-01-02,POST"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows, header="p,t,StockCode", dedupe="none"))
    assert q["rows_kept"] == 21_001 and "POST" in set(ev["StockCode"])


def test_broken_line_late_in_a_csv_is_one_line_naming_the_file(tmp_path):
    rows = [f"a,2024-01-01,{i}" for i in range(21_000)] + ["b,2024-01-02,1,2,3"]
    with pytest.raises(DataError) as err:
        ingest(tmp_path, csv_events(tmp_path, rows, header="p,t,n"))
    msg = str(err.value)
    assert "\n" not in msg and "e.csv" in msg and "Line: 21002" in msg


def test_whitespace_file_types_come_from_the_whole_column(tmp_path):
    (tmp_path / "e.txt").write_text("p t n x s\n" + "a 20240101 1 1.5 7\nb 20240102 2 2 K7\n")
    q, ev = ingest(
        tmp_path,
        {"path": "e.txt", "delimiter": "whitespace", "columns": MAP, "event_type": "purchase"},
    )
    assert str(ev["n"].dtype) == "int64" and str(ev["x"].dtype) == "float64"
    assert list(ev.sort_values("profile_id")["s"]) == ["7", "K7"]


# 5. Encoding ---------------------------------------------------------------------------------


def test_latin1_file_error_names_the_fix_and_the_key_reads_it(tmp_path):
    text = "p,t,Description\na,2024-01-01,CRÈME BRÛLÉE DISH\nb,2024-01-02,DOORMAT\n"
    (tmp_path / "e.csv").write_bytes(text.encode("latin-1"))
    events = {"path": "e.csv", "columns": MAP, "event_type": "purchase"}
    with pytest.raises(DataError) as err:
        ingest(tmp_path, events)
    msg = str(err.value)
    assert "\n" not in msg and "not utf-8 encoded" in msg and "encoding: latin-1" in msg
    q, ev = ingest(tmp_path, {**events, "encoding": "latin1"})
    assert "CRÈME BRÛLÉE DISH" in set(ev["Description"])
    with pytest.raises(ConfigError, match="events.encoding: unknown encoding 'cp1252'"):
        ingest(tmp_path, {**events, "encoding": "cp1252"})


# 6. Decimal commas ---------------------------------------------------------------------------


def test_decimal_comma_money_columns_are_numbers(tmp_path):
    rows = ["12346;2011-08-13 10:32;18,0", "12347;2011-08-14 10:32;1,25"]
    events = csv_events(tmp_path, rows, header="p;t;Einzelpreis", delimiter=";")
    q, ev = ingest(tmp_path, {**events, "decimal_separator": ","})
    assert ev["Einzelpreis"].dtype == "float64" and sorted(ev["Einzelpreis"]) == [1.25, 18.0]
    with pytest.raises(ConfigError, match="decimal_separator ',' needs another delimiter"):
        ingest(tmp_path, {**events, "delimiter": ",", "decimal_separator": ","})
