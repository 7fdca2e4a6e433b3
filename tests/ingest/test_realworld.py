"""Ingest on real-world-shaped files: day-first dates, epoch units, late type changes, encodings,
decimal commas, identity lists and float ids. Each test is small and fails without its fix;
section numbers follow the items of the review that found these (reading first, then timestamps,
then profile ids)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ingest_quality, write_config

from workbench.config import load_config
from workbench.errors import ConfigError, DataError

GOAL = {"conditions": [{"field": "event_type", "value": "purchase"}], "window_days": 30}
MAP = {"profile_id": "p", "timestamp": "t"}


def ingest(tmp_path, events: dict, **extra):
    cfg = load_config(write_config(tmp_path, {"events": events, "goal": GOAL, **extra}))
    quality = ingest_quality(cfg, tmp_path / "out")
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


# 1. Day-first dates -------------------------------------------------------------------------


def test_day_first_column_is_read_day_first_throughout(tmp_path):
    # 01/02/2011 alone would read month-first; the 13/08 and 25/12 rows say the column is day-first.
    rows = ["a,13/08/2011 10:32", "b,01/02/2011 09:00", "c,25/12/2011 18:05", "d,2011-03-04"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 4 and q["rows_quarantined"] == 0
    ts = ev.set_index("profile_id")["timestamp"]
    assert ts["a"] == pd.Timestamp("2011-08-13 10:32")
    assert ts["b"] == pd.Timestamp("2011-02-01 09:00")  # day-first, not 2 January
    assert ts["d"] == pd.Timestamp("2011-03-04")  # ISO is never ambiguous
    assert q["timestamp"]["day_order"] == "day-first"
    assert any("day-first" in n for n in q["notices"])


def test_dotted_german_dates_parse(tmp_path):
    rows = ["a,13.08.2011 10:32", "b,01.02.2011 09:00:05", "c,24.12.2011"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 3
    ts = ev.set_index("profile_id")["timestamp"]
    assert ts["a"] == pd.Timestamp("2011-08-13 10:32")
    assert ts["b"] == pd.Timestamp("2011-02-01 09:00:05")


def test_ambiguous_column_stays_month_first_with_a_notice(tmp_path):
    rows = ["a,01/02/2011 10:00", "b,03/04/2011 11:00", "c,12/11/2011 12:00"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 3
    assert ev.set_index("profile_id")["timestamp"]["a"] == pd.Timestamp("2011-01-02 10:00")
    assert q["timestamp"]["day_order"] == "month-first"
    (notice,) = q["notices"]
    assert "every one of them also reads day-first" in notice and "timestamp_format" in notice


def test_month_first_column_has_no_notice(tmp_path):
    rows = ["a,8/13/2011 10:32", "b,8/12/2011 14:50", "c,12/1/2010 8:26"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 3 and q["notices"] == []
    assert ev.set_index("profile_id")["timestamp"]["b"] == pd.Timestamp("2011-08-12 14:50")


def test_mixed_offsets_still_convert_to_utc(tmp_path):
    rows = [
        "a,2015-06-02T05:02:12.117Z",
        "b,2015-06-02T02:02:12-03:00",
        "c,2015-06-02 07:02:12+0200",
        "d,2015-06-02 05:02:12 UTC",
    ]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 4
    ts = ev.set_index("profile_id")["timestamp"].dt.floor("s")
    assert set(ts) == {pd.Timestamp("2015-06-02 05:02:12")}


def test_mostly_unparseable_timestamps_fail_with_one_line(tmp_path):
    rows = ["a,13 Aug 2011 10:32", "b,14 Aug 2011 10:32", "c,2011-08-15"]
    with pytest.raises(DataError) as err:
        ingest(tmp_path, csv_events(tmp_path, rows))
    msg = str(err.value)
    assert "\n" not in msg and "column 't'" in msg and "'13 Aug 2011 10:32'" in msg
    assert "timestamp_format" in msg and "2 of 3" in msg


# 2. Epoch units and out-of-range timestamps --------------------------------------------------


def test_epoch_units_inferred_from_magnitude(tmp_path):
    frame = pd.DataFrame(
        {
            "profile_id": ["s", "ms", "us", "ns"],
            "timestamp": [1437187379, 1437187379968, 1437187379968849, 1437187379968849123],
            "event_type": "view",
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    q, ev = ingest(tmp_path, {"path": "e.parquet"})
    ts = ev.set_index("profile_id")["timestamp"]
    assert ts["s"] == pd.Timestamp("2015-07-18 02:42:59")
    assert ts["ms"] == pd.Timestamp("2015-07-18 02:42:59.968")
    assert ts["us"] == ts["ns"] == pd.Timestamp("2015-07-18 02:42:59.968849")  # GA4 event_timestamp
    rows = ["a,1437187379968849", "b,1437187379"]  # the same as text
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert ev.set_index("profile_id")["timestamp"]["a"] == pd.Timestamp(
        "2015-07-18 02:42:59.968849"
    )


def test_out_of_range_timestamps_are_quarantined_not_a_traceback(tmp_path):
    frame = pd.DataFrame(
        {
            "profile_id": ["ok", "ok2", "ok3", "far", "old"],
            "timestamp": [1437187379, 1437187380, 1437187381, 1.0e19, -4.0e9],
            "event_type": "view",
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    q, ev = ingest(tmp_path, {"path": "e.parquet"})
    assert q["rows_kept"] == 3 and q["reconciles"]
    assert q["quarantine_reasons"] == {
        "unparseable timestamp": 1,  # 1e19 is past any epoch unit
        "timestamp out of range (before 1900 or after 2199)": 1,
    }
    rows = ["a,2024-01-01", "b,2024-01-02", "c,9999-12-31", "d,2024-01-03"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["rows_kept"] == 3
    assert quarantine(tmp_path)["timestamp"].tolist() == ["9999-12-31"]


# 4. The raw value in quarantine.csv ----------------------------------------------------------


def test_quarantine_keeps_the_raw_timestamp_text(tmp_path):
    rows = ["a,2024-01-01", "b,2024-01-02", "c,13.08.2011 25:99", "d,2024-01-03", ",2024-01-04"]
    q, ev = ingest(tmp_path, csv_events(tmp_path, rows))
    assert q["quarantine_reasons"] == {"unparseable timestamp": 1, "missing profile_id": 1}
    rows = quarantine(tmp_path).set_index("reason")
    assert rows.loc["unparseable timestamp", "timestamp"] == "13.08.2011 25:99"
    assert rows.loc["missing profile_id", "timestamp"] == "2024-01-04"


def test_every_row_quarantined_is_one_line(tmp_path):
    rows = [",2024-01-01", ",2024-01-02"]
    with pytest.raises(DataError, match=r"no event rows left: 2 read, all quarantined \(missing"):
        ingest(tmp_path, csv_events(tmp_path, rows))
    assert len(quarantine(tmp_path)) == 2  # written first, for the analyst to look at


# 7. Lists and objects mapped to profile_id ---------------------------------------------------


def test_identity_list_gives_the_primary_id_and_other_lists_are_refused(tmp_path):
    lines = [
        {"identityMap": {"ECID": [{"id": "e1", "primary": True}]}, "t": "2024-01-01", "k": "v"},
        {
            "identityMap": {"ECID": [{"id": "x", "primary": False}, {"id": "e2", "primary": True}]},
            "t": "2024-01-02",
            "k": "v",
        },
    ]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    columns = {"profile_id": "identityMap.ECID", "timestamp": "t", "event_type": "k"}
    q, ev = ingest(tmp_path, {"path": "e.jsonl", "columns": columns})
    assert sorted(ev["profile_id"]) == ["e1", "e2"]

    lines = [{"tags": ["a", "b"], "t": "2024-01-01", "k": "v"}]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    columns = {"profile_id": "tags", "timestamp": "t", "event_type": "k"}
    with pytest.raises(DataError) as err:
        ingest(tmp_path, {"path": "e.jsonl", "columns": columns})
    msg = str(err.value)
    assert "\n" not in msg and "'tags'" in msg and "holds lists/objects" in msg


# 8. Float profile ids ------------------------------------------------------------------------


def test_integral_float_ids_match_a_profiles_file(tmp_path):
    rows = ["12346.0,2024-01-01", ",2024-01-02", "12347.0,2024-01-03", "A12.5,2024-01-04"]
    events = csv_events(tmp_path, rows)
    pd.DataFrame({"p": [12346.0, 12347.0, None], "tier": ["gold", "silver", "x"]}).to_parquet(
        tmp_path / "profiles.parquet"
    )
    profiles = {"path": "profiles.parquet", "columns": {"profile_id": "p"}}
    q, ev = ingest(tmp_path, events, profiles=profiles)
    assert sorted(ev["profile_id"]) == ["12346", "12347", "A12.5"]
    prof = pd.read_parquet(tmp_path / "out" / "profiles.parquet")
    assert sorted(prof["profile_id"]) == ["12346", "12347"]
    pd.DataFrame({"p": ["007.0", "12346"], "tier": ["a", "b"]}).to_csv(
        tmp_path / "crm.csv", index=False
    )
    q, ev = ingest(tmp_path, events, profiles={**profiles, "path": "crm.csv"})
    prof = pd.read_parquet(tmp_path / "out" / "profiles.parquet")
    assert sorted(prof["profile_id"]) == ["007", "12346"]  # zero padding kept


def test_validate_prints_the_ingest_notices(tmp_path, capsys):
    from workbench.cli import main

    rows = ["a,01/02/2011 10:00", "b,03/04/2011 11:00", "c,12/11/2011 12:00"]
    events = csv_events(tmp_path, rows)
    path = write_config(tmp_path, {"events": events, "goal": GOAL})
    assert main(["validate", str(path), "--out", str(tmp_path / "o")]) in (0, 3)
    assert "notice: t: " in capsys.readouterr().out
