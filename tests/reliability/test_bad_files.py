"""Bad input files: every one is read, or refused with one line naming the row or value; none
crashes, none is read silently wrong, and the input folder is never written."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
import zipfile

import pytest
from reliability.kit import (
    ID,
    ONE_LINE,
    RUN,
    SNAPSHOT,
    TS,
    TYPE,
    VALIDATE,
    Suite,
    base_config,
    base_rows,
    params,
    profile_rows,
    quality,
    run_case,
    write_config,
    write_csv,
    write_parquet,
)

S = Suite()


def with_extra_types(codes: dict[str, str], every: int = 6):
    """The base events plus copies of every `every`-th event under each of the extra event
    types in turn; `codes`: the code prefix each type must get."""

    def setup(ws):
        types = list(codes)
        rows = base_rows()
        extra = [
            {**r, TYPE: types[i % len(types)], "value": None} for i, r in enumerate(rows[::every])
        ]
        ws.base(rows + extra)
        ws.data["codes"] = codes

    return setup


def counts_match(ws, o):
    """Each extra type's 180-day count is the count of its own events: no two types shared a
    code, no aggregate overwrote another."""
    import pandas as pd

    snap = pd.read_parquet(ws.out / "snap.parquet").set_index("profile_id")
    events = pd.read_csv(ws.inp / "events.csv", parse_dates=[TS])
    cut = pd.Timestamp("2025-10-01")
    window = events[(events[TS] < cut) & (events[TS] >= cut - pd.Timedelta(days=180))]
    for t, prefix in ws.data["codes"].items():
        code = f"{prefix}_count_180d"
        if code not in snap.columns:
            return f"no column {code} for event type {t!r}"
        truth = window[window[TYPE] == t].groupby(ID).size().reindex(snap.index).fillna(0)
        if not (snap[code] == truth).all():
            return f"{code} does not count the {t!r} events"
    return None


for name, codes, note in (
    ("event_types_differ_in_case", {"search": "search", "Search": "search_2"}, "search / Search"),
    ("event_types_normalise_same", {"a_b": "a_b", "a.b": "a_b_2"}, "a.b / a_b"),
    ("event_type_named_events", {"events": "events_2"}, "'events' vs events_count_30d"),
    ("event_types_only_symbols", {"\U0001f4b3": "x", "\U0001f6d2": "x_2"}, "two emoji, both 'x'"),
    ("event_type_named_active", {"active": "active"}, "'active' vs active_days_<L>d"),
):
    S.add(
        name,
        with_extra_types(codes),
        SNAPSHOT,
        (0,),
        f"snapshot succeeds ({note}), each type counted under its own code",
        check=counts_match,
    )


def numeric_collision(ws):
    rows = base_rows()
    for i, r in enumerate(rows):
        r["price.total"] = round(i * 0.37 % 50, 2)
        r["price_total"] = round(i * 0.11 % 20, 2)
    ws.base(rows)


S.add(
    "numeric_fields_normalise_same",
    numeric_collision,
    SNAPSHOT,
    (0,),
    "snapshot succeeds with numeric columns price.total and price_total",
)


def profile_collision(ws):
    rows = base_rows()
    prows = profile_rows(sorted({r[ID] for r in rows}))
    for i, p in enumerate(prows):
        p["score.x"], p["score_x"] = i % 7, i % 5
    ws.base(rows, prows=prows)


S.add(
    "profile_attributes_normalise_same",
    profile_collision,
    SNAPSHOT,
    (0,),
    "snapshot succeeds with profile attributes score.x and score_x",
)
S.add(
    "run_event_types_differ_in_case",
    with_extra_types({"search": "search", "Search": "search_2"}),
    RUN,
    (0,),
    "workbench run succeeds (validate said ready: yes)",
)


def text_rows(fmt_for_row):
    return [{**r, TS: fmt_for_row(i, r)} for i, r in enumerate(base_rows())]


def write_text_events(ws, rows, **sections):
    write_csv(ws.inp / "events.csv", rows)
    write_csv(ws.inp / "profiles.csv", profile_rows(sorted({r[ID] for r in rows if r.get(ID)})))
    write_config(ws.inp / "config.yaml", base_config(**sections))


def mixed_day_order(ws):
    def fmt(i, r):
        return r[TS].strftime("%d/%m/%Y %H:%M" if i % 2 else "%m/%d/%Y %H:%M")

    write_text_events(ws, text_rows(fmt))


S.add(
    "mixed_day_order",
    mixed_day_order,
    VALIDATE,
    (2,),
    "half dd/mm, half mm/dd: refused with one line naming both and suggesting timestamp_format",
    message=r"'ts'.{0,40}day orders.*only day-first.*only month-first.*timestamp_format",
)


def minority_day_order(ws):
    def fmt(i, r):  # one row in 50 written month-first: quarantined, with a notice
        return r[TS].strftime("%m/%d/%Y %H:%M" if i % 50 == 0 else "%d/%m/%Y %H:%M")

    write_text_events(ws, text_rows(fmt))


def minority_noticed(ws, o):
    notes = " ".join(quality(ws)["notices"])
    if "quarantined" not in notes or "timestamp_format" not in notes:
        return f"no notice of the month-first rows set aside: {notes[:200]!r}"
    return None


S.add(
    "day_order_with_a_few_month_first_rows",
    minority_day_order,
    VALIDATE,
    (0,),
    "a few month-first dates among day-first ones: read day-first, the others quarantined, noticed",
    check=minority_noticed,
)


def serial_rows():
    epoch = dt.datetime(1899, 12, 30)
    return [{**r, TS: round((r[TS] - epoch).total_seconds() / 86400, 5)} for r in base_rows()]


def excel_serial_parquet(ws):
    import pyarrow as pa

    write_parquet(ws.inp / "events.parquet", serial_rows(), types={TS: pa.float64()})
    cfg = base_config(events={"path": "events.parquet"})
    cfg.pop("profiles")
    write_config(ws.inp / "config.yaml", cfg)


def excel_serial_text(ws):
    write_text_events(ws, serial_rows())


def read_as_2025(ws, o):
    q = quality(ws)
    if not str(q["first_event"]).startswith("2025-01-01"):
        return f"first event {q['first_event']} (serial days read as something else)"
    if not any("serial" in n for n in q["notices"]):
        return "no notice that the numbers were read as serial days"
    return None


S.add(
    "excel_serial_dates_numeric",
    excel_serial_parquet,
    VALIDATE,
    (0,),
    "Excel serial dates stored as numbers (45658.25) read as 2025 with a notice, not 1970",
    check=read_as_2025,
)
S.add(
    "excel_serial_dates_text",
    excel_serial_text,
    VALIDATE,
    (0,),
    "Excel serial dates written as text: read as 2025 with a notice",
    check=read_as_2025,
)


def nan_ids(ws):
    import pyarrow as pa

    rows = base_rows()
    for i, r in enumerate(rows):
        r[ID] = float("nan") if i % 40 == 0 else float(int(r[ID][1:]) + 1000)
    ws.data["nan_rows"] = sum(1 for r in rows if r[ID] != r[ID])
    write_parquet(ws.inp / "events.parquet", rows, types={ID: pa.float64()})
    cfg = base_config(events={"path": "events.parquet"})
    cfg.pop("profiles")
    write_config(ws.inp / "config.yaml", cfg)


def nan_quarantined(ws, o):
    import pandas as pd

    q = quality(ws)
    ids = pd.read_parquet(next(ws.out.rglob("events.parquet")), columns=["profile_id"])
    named_nan = int(ids["profile_id"].str.lower().eq("nan").sum())
    missing = q["quarantine_reasons"].get("missing profile_id", 0)
    if named_nan or missing != ws.data["nan_rows"]:
        return f"{named_nan} events kept under 'nan'; {missing} of {ws.data['nan_rows']} set aside"
    return None


S.add(
    "nan_numeric_ids",
    nan_ids,
    VALIDATE,
    (0,),
    "NaN (not null) ids quarantined as missing profile_id, no profile named 'nan'",
    check=nan_quarantined,
)


def profile_dups(ws):
    rows = base_rows()
    prows = profile_rows(sorted({r[ID] for r in rows}))
    prows += [{**p, "tier": "platinum", "age": None} for p in prows[:10]]
    ws.base(rows, prows=prows)


def profile_blank(ws):
    rows = base_rows()
    prows = profile_rows(sorted({r[ID] for r in rows}))
    prows += [{ID: "", "country": "US", "tier": "gold", "age": 30} for _ in range(7)]
    ws.base(rows, prows=prows)


def profiles_set_aside(reason: str, n: int, text: str):
    def check(ws, o):
        q = quality(ws)["profiles_file"]
        files = list(ws.out.rglob("profiles_quarantine.csv"))
        if q.get("quarantine_reasons", {}).get(reason) != n or not q.get("notices"):
            return f"data_quality.json does not report {n} rows: {reason}: {q}"
        if not files or text not in files[0].read_text() or not q["reconciles"]:
            return "the rows set aside are not in profiles_quarantine.csv"
        return None

    return check


S.add(
    "profile_table_duplicates",
    profile_dups,
    VALIDATE,
    (0,),
    "duplicate profile rows reported in data_quality.json and written to profiles_quarantine.csv",
    # the kept row is the one with the most attributes filled in: the first (age is set)
    check=profiles_set_aside(
        "duplicate profile_id (another row of this id is kept)", 10, "platinum"
    ),
)
S.add(
    "profile_blank_ids",
    profile_blank,
    VALIDATE,
    (0,),
    "blank-id profile rows written to profiles_quarantine.csv, not only counted",
    check=profiles_set_aside("missing profile_id", 7, "gold"),
)


def whitespace(extra_at: int | None, n: int = 120):
    def setup(ws):
        lines = ["customer_id ts type"]
        for r in base_rows()[:n]:
            lines.append(f"{r[ID]} {r[TS]:%Y-%m-%dT%H:%M:%S} {r[TYPE]}")
        if extra_at is not None:
            lines[extra_at] += " extra"
        (ws.inp / "events.txt").write_text("\n".join(lines) + "\n")
        cfg = base_config(events={"path": "events.txt", "delimiter": "whitespace"})
        cfg.pop("profiles")
        write_config(ws.inp / "config.yaml", cfg)

    return setup


S.add(
    "whitespace_extra_token_first_row",
    whitespace(1),
    VALIDATE,
    (2,),
    "a whitespace line with an extra token: refused naming the line (no shifted columns)",
    message=r"events\.txt: line 2 has 4 fields, the header has 3",
)
S.add(
    "whitespace_extra_token_middle_row",
    whitespace(60),
    VALIDATE,
    (2,),
    "a whitespace line with an extra token: refused naming the line",
    message=r"line 61",
)


def ragged(ws):
    rows = base_rows()
    lines = ["customer_id,ts,type,value,channel"]
    rng = random.Random(2)
    for r in rows:
        cells = [r[ID], f"{r[TS]:%Y-%m-%d %H:%M:%S}", r[TYPE], str(r["value"] or ""), r["channel"]]
        lines.append(",".join((cells + ["x", "y"])[: rng.choice([3, 4, 5, 5, 6, 7])]))
    (ws.inp / "events.csv").write_text("\n".join(lines) + "\n")
    write_csv(ws.inp / "profiles.csv", profile_rows(sorted({r[ID] for r in rows})))
    write_config(ws.inp / "config.yaml", base_config())


S.add(
    "ragged_csv",
    ragged,
    VALIDATE,
    (2,),
    "one line naming a row whose field count differs from the header (not 'column not found')",
    message=r"events\.csv: line \d+ has \d fields, the header has 5",
)


def truncated_gz(ws):
    ws.base()
    data = gzip.compress((ws.inp / "events.csv").read_bytes())
    (ws.inp / "events.csv.gz").write_bytes(data[: len(data) * 2 // 3])
    (ws.inp / "events.csv").unlink()
    write_config(ws.inp / "config.yaml", base_config(events={"path": "events.csv.gz"}))


S.add(
    "truncated_gz",
    truncated_gz,
    VALIDATE,
    (2,),
    "one line saying the .gz is truncated",
    message=r"events\.csv\.gz: the gzip file is truncated",
)


def huge_cell(ws):
    rows = base_rows()
    rows[399]["channel"] = "z" * (3 * 1024 * 1024)
    ws.base(rows)


S.add(
    "huge_cell",
    huge_cell,
    VALIDATE,
    (2,),
    "a 3 MB cell on data row 400: one line naming that row (not 'Line: 1')",
    message=r"line 401 \(data row 400\) is 3,145,7\d\d bytes",
)


def one_profile(ws):
    rows = base_rows(n_profiles=1, seed=3)
    ws.base(rows + [{**r, TS: r[TS] + dt.timedelta(days=1)} for r in rows])


S.add(
    "one_profile",
    one_profile,
    VALIDATE,
    (3,),
    "not ready, saying there is only one profile (not only 'only 2 negatives')",
    message=r"only 1 eligible profile",
)


def reserved(col: str):
    def setup(ws):
        rows = base_rows()
        for r in rows:
            r[col] = "r"
        ws.base(rows)
        ws.data["column"] = col

    return setup


def kept_renamed(ws, o):
    if ws.data["column"] in ("_t", "cutoff_s") and not (ws.out / "snap.parquet").exists():
        return "no snapshot written"
    if (ws.out / "v").exists():
        notes = " ".join(quality(ws)["notices"])
        if f"'{ws.data['column']}' is kept as" not in notes:
            return f"no notice of the renamed column: {notes[:200]!r}"
    return None


for col, argv in (
    ("_reason", VALIDATE),
    ("_ts", VALIDATE),
    ("_raw_timestamp", VALIDATE),
    ("_ts_missing", VALIDATE),
    ("_t", SNAPSHOT),
    ("cutoff_s", SNAPSHOT),
):
    S.add(
        f"reserved_column_{col.strip('_')}",
        reserved(col),
        argv,
        (0,),
        f"a source column named {col} is read (kept under another name), no traceback",
        check=kept_renamed,
    )


def encoded(encoding: str):
    def setup(ws):
        ws.base()
        text = (ws.inp / "events.csv").read_text().replace("web", "wéb")
        (ws.inp / "events.csv").write_bytes(text.encode(encoding))

    return setup


S.add(
    "utf16_without_encoding",
    encoded("utf-16"),
    VALIDATE,
    (2,),
    "one line suggesting events.encoding",
    message=r"events\.csv.*encoding",
)
S.add(
    "latin1_without_encoding",
    encoded("latin-1"),
    VALIDATE,
    (2,),
    "one line suggesting events.encoding: latin-1",
    message=r"events\.csv.*encoding: latin-1",
)


def xlsx(ws):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet>" + "<row/>" * 2000 + "</worksheet>")
    (ws.inp / "events.xlsx").write_bytes(buf.getvalue())
    cfg = base_config(events={"path": "events.xlsx"})
    cfg.pop("profiles")
    write_config(ws.inp / "config.yaml", cfg)


S.add(
    "xlsx_as_events",
    xlsx,
    VALIDATE,
    (2,),
    "one line saying .xlsx is not a supported format (export CSV)",
    message=r"events\.xlsx: a spreadsheet workbook is not a supported events format.*CSV",
)


def raw_events(text: str | bytes | None, name: str = "events.csv", directory: bool = False):
    def setup(ws):
        path = ws.inp / name
        if directory:
            path.mkdir()
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text or "")
        cfg = base_config(events={"path": name})
        cfg.pop("profiles")
        write_config(ws.inp / "config.yaml", cfg)

    return setup


S.add(
    "header_only_csv",
    raw_events("customer_id,ts,type\n"),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"events\.csv: file has no rows",
)
S.add(
    "events_path_is_directory",
    raw_events(None, directory=True),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"events\.csv: the folder holds no files",
)
S.add(
    "empty_events_file",
    raw_events(""),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"events\.csv: events file is empty",
)


def truncated_parquet(ws):
    ws.base(fmt="parquet")
    data = (ws.inp / "events.parquet").read_bytes()
    (ws.inp / "events.parquet").write_bytes(data[: len(data) // 2])


S.add(
    "truncated_parquet",
    truncated_parquet,
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"events\.parquet: cannot read as parquet",
)


def jsonl_bad_line(ws):
    lines = [json.dumps({ID: r[ID], TS: r[TS].isoformat(), TYPE: r[TYPE]}) for r in base_rows()]
    lines[500] = lines[500][:-5]  # cut mid-record
    raw_events("\n".join(lines) + "\n", "events.jsonl")(ws)


S.add(
    "jsonl_malformed_line",
    jsonl_bad_line,
    VALIDATE,
    (2,),
    "one line naming the malformed line (501, or the next)",
    message=r"events\.jsonl.*\b50[12]\b",
)


def duplicate_header(ws):
    lines = ["customer_id,ts,type,channel,channel"]
    lines += [f"{r[ID]},{r[TS]:%Y-%m-%d %H:%M:%S},{r[TYPE]},{r['channel']},x" for r in base_rows()]
    raw_events("\n".join(lines) + "\n")(ws)


S.add(
    "duplicate_header_names",
    duplicate_header,
    VALIDATE,
    (0,),
    "two columns named channel: read (DuckDB renames the second)",
)


def bom(ws):
    ws.base()
    p = ws.inp / "events.csv"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())


S.add(
    "utf8_bom_header", bom, VALIDATE, (0,), "a UTF-8 byte-order mark before the header is ignored"
)


def nul_bytes(ws):
    ws.base()
    p = ws.inp / "events.csv"
    p.write_bytes(p.read_bytes().replace(b",web\n", b",w\x00eb\n", 3))


S.add("nul_bytes_in_cells", nul_bytes, VALIDATE, (0,), "NUL bytes inside cells are read")


def unparseable(ws):
    write_text_events(ws, text_rows(lambda i, r: "soon"))


S.add(
    "all_timestamps_unparseable",
    unparseable,
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"events\.csv: column 'ts': 1,6\d\d of 1,6\d\d timestamps do not parse \(e\.g\. 'soon'\)",
)


def profiles_without_id(ws):
    rows = base_rows()
    ws.base(rows)
    ids = sorted({r[ID] for r in rows})
    write_csv(ws.inp / "profiles.csv", [{"id": i, "tier": "gold"} for i in ids])


S.add(
    "profiles_missing_id_column",
    profiles_without_id,
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"profiles\.csv: column 'customer_id' \(mapped to profile_id\) not found",
)

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_bad_files(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
