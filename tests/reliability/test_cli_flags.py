"""Command-line flags: a bad date, count or --set is one line naming it; no output may be, or
hold, an input (events, profiles, config, model)."""

from __future__ import annotations

import pytest
from reliability.kit import (
    ONE_LINE,
    RUN,
    SCORE,
    VALIDATE,
    Suite,
    base_config,
    base_with,
    params,
    run_case,
    write_config,
)

S = Suite()
OUT_IS_INPUT = (
    r"the (--out file|output folder|output\.dir) (is|holds|is inside) the input <case>/in/"
)


def parquet_inputs_and_model(ws):
    ws.base(fmt="parquet")
    ws.model_run()


S.add(
    "validate_out_is_input_folder",
    lambda ws: ws.base(fmt="parquet"),
    ["validate", "{in}/config.yaml", "--out", "{in}"],
    (2,),
    "refused with one line: --out is the input folder",
    message=OUT_IS_INPUT,
)
S.add(
    "score_out_is_input_folder",
    parquet_inputs_and_model,
    ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{in}"],
    (2,),
    "refused: --out is the input folder",
    message=OUT_IS_INPUT,
)
S.add(
    "score_out_is_model_run_folder",
    lambda ws: (ws.base(), ws.model_run()),
    ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{in}/run"],
    (2,),
    "refused: --out is the model's run folder",
    message=OUT_IS_INPUT + r"run/model \(--model\)",
)
S.add(
    "score_out_inside_model_folder",
    lambda ws: (ws.base(), ws.model_run()),
    ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{in}/run/model/scores"],
    (2,),
    "refused: --out inside the model folder",
    message=r"the output folder is inside the input <case>/in/run/model \(--model\)",
)


def model_in_reports(ws):
    import shutil

    ws.base()
    shutil.copytree(ws.fixtures.get("run"), ws.work / "reports" / "adv" / "20260101-000000")


S.add(
    "score_default_out_beside_the_model",
    model_in_reports,
    ["score", "{in}/config.yaml", "--model", "{work}/reports/adv/20260101-000000"],
    (0,),
    "the usual layout: the model in reports/<name>/<run>, the scores into reports/<name>/scores",
    check=lambda ws, o: (
        None
        if list((ws.work / "reports" / "adv" / "scores").glob("*/scores.csv"))
        else "no scores under reports/adv/scores"
    ),
)
S.add(
    "backtest_out_is_input_folder",
    lambda ws: ws.base(fmt="parquet"),
    ["backtest", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{in}"],
    (2,),
    "refused: --out is the input folder",
    message=OUT_IS_INPUT,
)
S.add(
    "run_out_is_input_folder",
    lambda ws: ws.base(fmt="parquet"),
    ["run", "{in}/config.yaml", "--out", "{in}"],
    (2,),
    "refused before any notebook runs: --out is the input folder",
    message=OUT_IS_INPUT,
)
S.add(
    "snapshot_out_is_events_file",
    lambda ws: ws.base(fmt="parquet"),
    ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{in}/events.parquet"],
    (2,),
    "refused: --out is the events file",
    message=r"the --out file is the input <case>/in/events\.parquet \(events\.path\)",
)
S.add(
    "snapshot_out_is_profiles_file",
    lambda ws: ws.base(fmt="parquet"),
    ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{in}/profiles.parquet"],
    (2,),
    "refused: --out is the profiles file",
    message=r"the --out file is the input <case>/in/profiles\.parquet \(profiles\.path\)",
)
S.add(
    "sample_out_is_existing_data",
    lambda ws: ws.base(fmt="parquet"),
    ["sample", "--profiles", "50", "--out", "{in}"],
    (2,),
    "refused: --out already holds events.parquet / config.yaml",
    message=r"in: already holds events\.parquet, profiles\.parquet, config\.yaml, not written by",
)


def sample_twice(ws):
    from workbench.ingest.sample import write_sample

    write_sample(ws.out / "sample", profiles=50)


S.add(
    "sample_replaces_an_earlier_sample",
    sample_twice,
    ["sample", "--profiles", "60", "--out", "{out}/sample"],
    (0,),
    "a sample folder is written again (it holds only an earlier sample)",
)
for command, argv in (
    ("validate", [*VALIDATE, "--as-of", "2025-13-45"]),
    ("score", [*SCORE, "--as-of", "2025-13-45"]),
    ("run", [*RUN, "--as-of", "2025-13-45"]),
):
    S.add(
        f"{command}_as_of_invalid",
        base_with(),
        argv,
        (2,),
        "one line naming --as-of 2025-13-45, before any run folder is made",
        message=r"argument --as-of: 2025-13-45: not a date; write it as YYYY-MM-DD",
        check=lambda ws, o: f"made {list(ws.out.iterdir())}" if any(ws.out.iterdir()) else None,
    )
S.add(
    "backtest_at_yesterday",
    base_with(),
    ["backtest", "{in}/config.yaml", "--at", "yesterday", "--out", "{out}/bt"],
    (2,),
    "one line naming --at yesterday",
    message=r"argument --at: yesterday: not a date",
)
S.add(
    "snapshot_at_99_99_9999",
    base_with(),
    ["snapshot", "{in}/config.yaml", "--at", "99/99/9999", "--out", "{out}/snap.parquet"],
    (2,),
    "one line naming --at 99/99/9999",
    message=r"argument --at: 99/99/9999: not a date",
)
S.add(
    "snapshot_at_empty",
    base_with(),
    ["snapshot", "{in}/config.yaml", "--at", "", "--out", "{out}/snap.parquet"],
    (2,),
    "one line: --at is empty",
    message=r"argument --at: is empty: write a date as YYYY-MM-DD",
)
S.add(
    "validate_as_of_with_time_and_zone",
    base_with(),
    [*VALIDATE, "--as-of", "2025-12-01T23:30:00-05:00"],
    (0,),
    "an ISO time with a zone is read as its day in UTC (2025-12-02)",
    check=lambda ws, o: None if "as of 2025-12-02" in o.stdout else "not read as 2025-12-02 UTC",
)
S.add(
    "set_empty_key",
    base_with(),
    [*VALIDATE, "--set", "=5"],
    (2,),
    "one line naming the bad --set '=5' (no key)",
    message=r"--set '=5': no key before '='",
)
S.add(
    "set_trailing_dot",
    base_with(),
    [*VALIDATE, "--set", "goal.=5"],
    (2,),
    "one line naming the bad --set 'goal.=5'",
    message=r"--set 'goal\.=5': an empty part in the key",
)
S.add(
    "set_no_equals",
    base_with(),
    [*VALIDATE, "--set", "goal"],
    (2,),
    ONE_LINE,
    message=r"--set 'goal': expected key=value",
)
S.add(
    "set_bad_list_index",
    base_with(),
    [*VALIDATE, "--set", "goal.conditions.7.value=x"],
    (2,),
    ONE_LINE,
    message=r"--set goal\.conditions\.7\.value: no list item '7'",
)
for value in ("0", "-5", "many"):
    S.add(
        f"sample_profiles_{value}",
        lambda ws: None,
        ["sample", "--profiles", value, "--out", "{out}/sample"],
        (2,),
        "one line: --profiles must be a whole number of at least 1",
        message=r"argument --profiles: (must be at least 1|'many' is not a whole number)",
    )


def existing_file(ws):
    ws.base()
    (ws.work / "afile").write_text("x\n")


for command, argv in (
    ("sample", ["sample", "--profiles", "50", "--out", "{work}/afile"]),
    ("validate", ["validate", "{in}/config.yaml", "--out", "{work}/afile"]),
    ("run", ["run", "{in}/config.yaml", "--out", "{work}/afile"]),
):
    S.add(
        f"{command}_out_is_existing_file",
        existing_file,
        argv,
        (2,),
        "one line: --out is a file",
        message=r"work/afile: (--out is a file|output folder is a file)",
    )
S.add(
    "snapshot_out_is_directory",
    lambda ws: (ws.base(), (ws.out / "x.parquet").mkdir()),
    ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{out}/x.parquet"],
    (2,),
    "one line: --out is a folder",
    message=r"x\.parquet: --out is a folder",
)
S.add(
    "snapshot_out_bad_suffix",
    base_with(),
    ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{out}/x.txt"],
    (2,),
    ONE_LINE,
    message=r"x\.txt: --out must end in \.csv or \.parquet",
)


def csv_snapshot_escaped(ws, o):
    from reliability.kit import formula_cells

    bad = formula_cells([ws.out / "snap.csv"])
    return f"formula cells in the snapshot CSV: {bad[:3]}" if bad else None


def formula_ids(ws):
    from reliability.kit import base_rows

    rows = base_rows()
    for r in rows[::7]:
        r["customer_id"] = "=1+" + r["customer_id"]
    ws.base(rows)


S.add(
    "snapshot_csv_escapes_formulas",
    formula_ids,
    ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{out}/snap.csv"],
    (0,),
    "a snapshot written as CSV escapes formula-like profile ids",
    check=csv_snapshot_escaped,
)
S.add(
    "validate_missing_config",
    lambda ws: None,
    ["validate", "{in}/nope.yaml"],
    (2,),
    ONE_LINE,
    message=r"nope\.yaml: config file not found",
)


def missing_events(ws):
    cfg = base_config()
    cfg.pop("profiles")
    write_config(ws.inp / "config.yaml", cfg)


S.add(
    "run_missing_events_file",
    missing_events,
    RUN,
    (2,),
    ONE_LINE,
    message=r"events\.path: <case>/in/events\.csv: file not found",
)
S.add(
    "score_model_folder_missing",
    base_with(),
    ["score", "{in}/config.yaml", "--model", "{in}/nope", "--out", "{out}/s"],
    (2,),
    ONE_LINE,
    message=r"in/nope: no saved model here",
)
S.add(
    "backtest_at_before_data",
    base_with(),
    ["backtest", "{in}/config.yaml", "--at", "2020-01-01", "--out", "{out}/bt"],
    (2,),
    ONE_LINE,
    message=r"--at 2020-01-01 is before any data",
)
S.add(
    "run_without_config_or_resume",
    lambda ws: None,
    ["run"],
    (2,),
    "one line: give a config file or --resume",
    message=r"give a config file, or --resume RUN",
)
S.add(
    "no_arguments",
    lambda ws: None,
    [],
    (2,),
    "usage, exit 2",
    message=r"the following arguments are required: command",
)
S.add(
    "unknown_flag_is_one_line",
    base_with(),
    [*VALIDATE, "--frobnicate"],
    (2,),
    "an unknown flag: one line naming it",
    message=r"^workbench: error: unrecognized arguments: --frobnicate \(see workbench --help\)\s*$",
)

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_cli_flags(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
