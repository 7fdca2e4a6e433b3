"""Security: model manifests cannot name files outside their folder, CSVs cannot carry live
spreadsheet formulas, names cannot move outputs out of reports/, connection URLs create
nothing, YAML tags run nothing, and an edited model is refused when a signing key is set."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from unittest import mock

import pytest
from reliability.kit import (
    ID,
    ONE_LINE,
    SCORE,
    TS,
    TYPE,
    VALIDATE,
    Outcome,
    Suite,
    base_config,
    base_rows,
    base_with,
    no_formulas_in,
    params,
    run_case,
    write_config,
)

from workbench.errors import ModelMismatchError

S = Suite()


def library_call(fn):
    """A case that calls the library directly: a ModelMismatchError is its one-line exit 2."""

    def action(ws) -> Outcome:
        try:
            fn(ws)
        except ModelMismatchError as exc:
            return Outcome(2, "", f"workbench: error: {exc}")
        return Outcome(0, "", "")

    return action


def spark_load_traversal(ws):
    from workbench import spark_scoring

    manifest = {
        "format": "propensity-workbench-model",
        "format_version": 1,
        "kind": "logistic",
        "files": {"../escaped.txt": "0" * 64},
    }
    with mock.patch.object(tempfile, "tempdir", str(ws.tmp)):  # where '../x' would land
        spark_scoring._load({"model.json": json.dumps(manifest), "../escaped.txt": "outside"})


S.add(
    "spark_load_manifest_traversal_write",
    lambda ws: None,
    None,
    (2,),
    "spark_scoring._load checks manifest names before writing: '../x' never lands outside",
    message=r"unexpected file '\.\./escaped\.txt' in the manifest",
    action=library_call(spark_load_traversal),
    check=lambda ws, o: "escaped.txt written" if list(ws.root.rglob("escaped.txt")) else None,
)


def traversal_model(ws):
    d = ws.inp / "model"
    d.mkdir()
    (ws.inp / "secret.txt").write_text("SECRET-TOKEN\n")
    manifest = {
        "format": "propensity-workbench-model",
        "format_version": 1,
        "kind": "logistic",
        "files": {"../secret.txt": "0" * 64},
    }
    (d / "model.json").write_text(json.dumps(manifest))


def spark_read_traversal(ws):
    from workbench import spark_scoring

    spark_scoring._model_files(ws.inp / "model")


S.add(
    "spark_model_files_traversal_read",
    traversal_model,
    None,
    (2,),
    "spark_scoring._model_files refuses manifest names with '..' before reading them",
    message=r"unexpected file '\.\./secret\.txt'",
    action=library_call(spark_read_traversal),
)


def score_traversal(ws):
    ws.base()
    d = ws.model_run() / "model"
    (ws.inp / "x.txt").write_text("x")
    m = json.loads((d / "model.json").read_text())
    m["files"]["../../x.txt"] = hashlib.sha256(b"x").hexdigest()
    (d / "model.json").write_text(json.dumps(m))


S.add(
    "score_manifest_traversal_name",
    score_traversal,
    SCORE,
    (2,),
    "load_model refuses a manifest name outside the model folder",
    message=r"unexpected file '\.\./\.\./x\.txt'",
)

FORMULAS = [
    '=HYPERLINK("http://example.invalid/x","click")',
    "+SUM(1,1)",
    "-2+3",
    "@SUM(1)",
    "=1+1",
]


def formula_events(ws, **sections):
    rows = base_rows()
    rng = random.Random(9)
    for f in FORMULAS:
        for _ in range(8):
            when = dt.datetime(2025, 10, 1) + dt.timedelta(
                days=rng.randrange(90), seconds=rng.randrange(86400)
            )
            kind = rng.choice(["page_view", "purchase", "add_to_cart"])
            rows.append({ID: f, TS: when, TYPE: kind, "value": 20.0, "channel": "web"})
    rows.sort(key=lambda r: r[TS])
    ws.base(rows, **sections)


def escaped_and_exact(ws, o):
    """No live formula in any CSV, and the workbench reads its own CSV back exactly."""
    import pandas as pd

    from workbench.run import Run

    found = no_formulas_in("*.csv")(ws, o)
    if found:
        return found
    run = Run(next(ws.out.rglob("scores.csv")).parent)
    ids = set(run.read_frame("scores_csv")["profile_id"])
    exact = set(pd.read_parquet(run.file("scores"))["profile_id"])
    return None if ids == exact else f"scores.csv reads back as {sorted(ids - exact)[:3]}"


S.add(
    "formula_profile_ids_in_scores_and_segments",
    lambda ws: (
        formula_events(
            ws,
            segments=[{"name": "high", "bucket": "high"}, {"name": "all", "percentile_min": 1}],
        ),
        ws.model_run(),
    ),
    SCORE,
    (0,),
    "profile ids like =HYPERLINK(...), +SUM(...) are escaped in scores.csv and segments/*.csv",
    check=escaped_and_exact,
)


def formula_quarantine(ws):
    rows = base_rows()
    rows += [
        {
            ID: '=HYPERLINK("http://example.invalid")',
            TS: None,
            TYPE: "=cmd|' /C calc'!A0",
            "value": None,
            "channel": "@SUM(1)",
        }
        for _ in range(3)
    ]
    ws.base(rows)


S.add(
    "formula_cells_in_quarantine_csv",
    formula_quarantine,
    VALIDATE,
    (0,),
    "quarantine.csv escapes text cells starting with = + - @",
    check=no_formulas_in("quarantine.csv"),
)


def formula_profiles(ws):
    rows = base_rows()
    ws.base(rows)
    lines = ["customer_id,tier", *(f"{r[ID]},=1+1" for r in rows[:5]), ",@SUM(1)", ",-cmd"]
    (ws.inp / "profiles.csv").write_text("\n".join(lines) + "\n")


S.add(
    "formula_cells_in_profiles_quarantine_csv",
    formula_profiles,
    VALIDATE,
    (0,),
    "profiles_quarantine.csv escapes them too",
    check=no_formulas_in("profiles_quarantine.csv"),
)
S.add(
    "formula_segment_name_in_summary",
    lambda ws: (ws.base(segments=[{"name": "-1-1", "bucket": "high"}]), ws.model_run()),
    SCORE,
    (0,),
    "a segment named '-1-1' is escaped in segments/summary.csv",
    check=no_formulas_in("*.csv"),
)


def nothing_outside(allowed: str):
    def check(ws, o):
        stray = [
            str(p.relative_to(ws.work))
            for p in ws.work.rglob("*")
            if p.is_file() and not p.resolve().is_relative_to((ws.work / allowed).resolve())
        ]
        return f"written outside {allowed}/: {stray[:4]}" if stray else None

    return check


for name, setup, argv in (
    ("name_dotdot", base_with(name=".."), ["validate", "{in}/config.yaml"]),
    ("set_name_dotdot", base_with(), ["validate", "{in}/config.yaml", "--set", "name=.."]),
    ("name_single_dot", base_with(name="."), ["validate", "{in}/config.yaml"]),
    ("name_hidden", base_with(name=".hidden"), ["validate", "{in}/config.yaml"]),
):
    S.add(
        name,
        setup,
        argv,
        (2,),
        "a name that would put the output folder outside reports/<name> is refused",
        message=r"config\.yaml: name: '\.[.a-z]*' cannot name the output folder reports/<name>",
        check=nothing_outside("reports"),
    )


def connection(url: str):
    def setup(ws):
        cfg = base_config(events={"path": None, "table": "events", "connection": url})
        cfg["events"].pop("path")
        cfg.pop("profiles")
        write_config(ws.inp / "config.yaml", cfg)

    return setup


def no_database_made(ws, o):
    made = [str(p.relative_to(ws.root)) for p in ws.root.rglob("new.*")]
    return f"created {made}" if made else None


for name, url, pattern in (
    (
        "connection_url_duckdb_creates_file",
        "duckdb://new.duckdb",
        r"duckdb://new\.duckdb: database file new\.duckdb not found",
    ),
    (
        "connection_url_sqlite_creates_file",
        "sqlite://new.sqlite",
        r"sqlite://new\.sqlite: database file new\.sqlite not found",
    ),
    ("connection_missing_db_path", "new.duckdb", r"new\.duckdb: database file not found"),
):
    S.add(
        name,
        connection(url),
        VALIDATE,
        (2,),
        "a connection to a database that does not exist: one line, no empty database created",
        message=pattern,
        check=no_database_made,
    )

MAKE_DB = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE events AS SELECT * FROM read_csv_auto(?)", [sys.argv[2]])
con.close()
"""


def duckdb_file(table: str):
    def setup(ws):
        ws.base()
        db = ws.inp / "warehouse.duckdb"
        subprocess.run(
            [sys.executable, "-c", MAKE_DB, str(db), str(ws.inp / "events.csv")], check=True
        )
        cfg = base_config(events={"table": table, "connection": "warehouse.duckdb"})
        cfg["events"].pop("path")
        write_config(ws.inp / "config.yaml", cfg)

    return setup


S.add(
    "duckdb_file_read_only",
    duckdb_file("events"),
    VALIDATE,
    (0,),
    "a DuckDB events database is read, never written (hash unchanged)",
)
S.add(
    "table_name_injection",
    duckdb_file("events; DROP TABLE events"),
    VALIDATE,
    (2,),
    ONE_LINE + " (table not found; the database untouched)",
    message=r"table 'events; DROP TABLE events' not found; available: events",
)
S.add(
    "memory_limit_sql_injection",
    base_with(duckdb={"memory_limit": "1GB'; SELECT 1; --"}),
    VALIDATE,
    (2,),
    ONE_LINE,
    message=r"duckdb\.memory_limit: \"1GB'; SELECT 1; --\" is not an amount of memory",
)


def python_tag(ws):
    ws.base()
    p = ws.inp / "config.yaml"
    tag = f'!!python/object/apply:os.system ["touch {ws.work}/pwned"]'
    p.write_text(p.read_text().replace('"name": "adv"', f'"name": {tag}'))


S.add(
    "yaml_python_tag",
    python_tag,
    VALIDATE,
    (2,),
    "a !!python tag is refused (safe loader), nothing runs",
    message=r"config\.yaml: not valid YAML at line \d+: could not determine a constructor",
    check=lambda ws, o: "the tag ran" if (ws.work / "pwned").exists() else None,
)


def tampered(ws):
    from reliability.test_model_files import calibrator

    ws.base()
    calibrator(-1.0, 0.0)(ws.model_run() / "model")  # the ranking flips; re-hashed
    ws.env["WORKBENCH_MODEL_KEY"] = "reliability-test-key"


S.add(
    "model_tampered_rehashed",
    tampered,
    SCORE,
    (2,),
    "with WORKBENCH_MODEL_KEY set, an unsigned (edited, re-hashed) model is refused",
    message=r"the model is not signed, and WORKBENCH_MODEL_KEY is set",
)


@contextlib.contextmanager
def signing_key(key: str):
    old = os.environ.get("WORKBENCH_MODEL_KEY")
    os.environ["WORKBENCH_MODEL_KEY"] = key
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WORKBENCH_MODEL_KEY")
        else:
            os.environ["WORKBENCH_MODEL_KEY"] = old


def signed_then_edited(edit: bool):
    def setup(ws):
        from reliability.test_model_files import calibrator

        from workbench.config import load_config
        from workbench.modeling import load_model, save_model

        ws.base()
        model_dir = ws.model_run() / "model"
        model = load_model(model_dir)  # the session's model is unsigned
        with signing_key("reliability-test-key"):
            config = load_config(ws.inp / "run" / "config.yaml")
            save_model(model, model.feature_specs_, config, model_dir)
        if edit:
            calibrator(-1.0, 0.0)(model_dir)
        ws.env["WORKBENCH_MODEL_KEY"] = "reliability-test-key"

    return setup


S.add(
    "model_signed_scores",
    signed_then_edited(False),
    SCORE,
    (0,),
    "a model signed with WORKBENCH_MODEL_KEY is scored when the key is set",
)
S.add(
    "model_signed_then_edited",
    signed_then_edited(True),
    SCORE,
    (2,),
    "a signed model edited (and re-hashed) afterwards is refused",
    message=r"the model's signature does not match WORKBENCH_MODEL_KEY",
)


def segments_inside(ws, o):
    stray = [str(p) for p in ws.root.rglob("*.csv") if p.name.startswith(".")]
    return f"segment file written outside segments/: {stray}" if stray else None


S.add(
    "segment_name_dotdot",
    lambda ws: (ws.base(segments=[{"name": "..", "bucket": "high"}]), ws.model_run()),
    SCORE,
    (2,),
    "a segment named '..' writes nothing outside segments/",
    message=r"segments: '\.\.' cannot be used as a file name",
    check=segments_inside,
)

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_security(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
