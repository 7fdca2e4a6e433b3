"""Faults: a real `kill -9`, Ctrl-C, a full disk (a tiny tmpfs) and a read-only folder leave no
half-done run that looks finished; `workbench run --resume` continues a killed run; the
errors are one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from reliability.kit import (
    RUN,
    VALIDATE,
    Outcome,
    Suite,
    base_with,
    consistent_runs,
    kill_group,
    params,
    run_case,
    run_folders,
    run_process,
    spawn,
)

S = Suite()
DISK_FULL = r"cannot write: disk full \(no space left on device\)|disk full"
READ_ONLY = r"(read-only file system|permission denied)"


def signal_when(ws, proc: subprocess.Popen, marker: str, sig, deadline: float = 300) -> str:
    """Send `sig` to the run's process group once `marker` exists in its partial folder."""
    base = ws.out / "runs"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline and proc.poll() is None:
        if any(base.glob(f".*.partial/{marker}")):
            time.sleep(0.3)
            kill_group(proc, sig)
            return ""
        time.sleep(0.1)
    return f"the run ended (or {deadline:.0f} s passed) before {marker} appeared"


def interrupted(sig):
    def action(ws) -> Outcome:
        t0 = time.perf_counter()
        proc = spawn(ws, RUN)
        note = signal_when(ws, proc, "snapshots.parquet", sig)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            note += "; did not exit within 120 s of the signal"
        return Outcome(proc.returncode, out, err, time.perf_counter() - t0, note)

    return action


def left_interrupted(status: str):
    def check(ws, o):
        base = ws.out / "runs"
        found = consistent_runs(base, latest_expected=False)
        if found:
            return found
        folders = run_folders(base)
        if len(folders) != 1 or not folders[0].name.endswith(".partial"):
            return f"expected one .partial run folder, found {[f.name for f in folders]}"
        record = json.loads((folders[0] / "run.json").read_text())
        if record["status"] != status:
            return f"run.json status {record['status']!r}, expected {status!r}"
        ws.data["partial"] = folders[0]
        return None

    return check


def kill_then_resume(ws) -> Outcome:
    """kill -9 during notebook 02, check what is left, then `workbench run --resume` it."""
    killed = interrupted(signal.SIGKILL)(ws)
    if killed.note:
        return killed
    problem = left_interrupted("running")(ws, killed)  # the process could not say anything
    if problem:
        return Outcome(killed.code, killed.stdout, killed.stderr, killed.seconds, problem)
    partial = ws.data["partial"]
    before = json.loads((partial / "run.json").read_text())["notebooks"]
    resumed = run_process(ws, ["run", "{in}/config.yaml", "--resume", str(partial)], 400)
    ws.data["kept"] = [nb["name"] for nb in before if nb["status"] == "ok"]
    return resumed


def resumed_to_the_end(ws, o):
    base = ws.out / "runs"
    found = consistent_runs(base, latest_expected=True)
    if found:
        return found
    folders = run_folders(base)
    record = json.loads((folders[0] / "run.json").read_text())
    names = [nb["name"] for nb in record["notebooks"]]
    kept = ws.data["kept"]
    if len(folders) != 1 or record["status"] != "ok" or len(names) != 5:
        return f"resume did not finish the run: {[f.name for f in folders]}, {record['status']}"
    if not kept or names[: len(kept)] != kept or not record.get("resumed"):
        return f"the notebooks done before the kill ({kept}) were not kept: {names}"
    if "done before, kept" not in o.stdout:
        return "resume did not say which notebooks it kept"
    return None


S.add(
    "kill9_then_resume",
    base_with(),
    None,
    (0,),
    "after kill -9 mid-run: no run looks finished (latest unchanged, run.json readable); then "
    "`workbench run --resume RUN` continues from the first notebook that did not finish",
    action=kill_then_resume,
    check=resumed_to_the_end,
)


def interrupted_and_said(ws, o):
    found = left_interrupted("interrupted")(ws, o)
    if found:
        return found
    return None if "--resume" in o.stdout else "no hint to continue with --resume"


S.add(
    "sigint_during_run",
    base_with(),
    None,
    (130,),
    "Ctrl-C mid-run: one line, exit 130, the run folder marked interrupted, latest unchanged",
    message=r"workbench: interrupted",
    action=interrupted(signal.SIGINT),
    check=interrupted_and_said,
)
S.add(
    "sigterm_during_run",
    base_with(),
    None,
    (130,),
    "SIGTERM mid-run (a scheduler stopping it): like Ctrl-C",
    message=r"workbench: interrupted",
    action=interrupted(signal.SIGTERM),
    check=left_interrupted("interrupted"),
)


def marked_by_the_next_run(ws):
    """A partial run left by a dead process: the next run in the same folder marks it."""
    from workbench.config import load_config
    from workbench.run import Run

    ws.base()
    config = load_config(ws.inp / "config.yaml")
    dead = Run.create(ws.out / "runs", config)
    dead.update_record(pid=2**22 + 12345)  # no such process
    ws.data["dead"] = dead.path


def marked(ws, o):
    record = json.loads((ws.data["dead"] / "run.json").read_text())
    if record["status"] != "interrupted":
        return f"the dead run's status is {record['status']!r}, expected 'interrupted'"
    return consistent_runs(ws.out / "runs")


S.add(
    "dead_partial_run_marked_interrupted",
    marked_by_the_next_run,
    ["validate", "{in}/config.yaml", "--out", "{out}/runs"],
    (0,),
    "a run whose process died is marked interrupted by the next command in that folder",
    check=marked,
)


def fault(kind: str):
    def setup(ws):
        ws.base()
        if kind == "tmpfs":
            ws.data["fault"] = ws.mount_tmpfs("full", "2m")
        elif kind == "full":
            ws.data["fault"] = ws.mount_tmpfs("full", "2m")
            ws.fill(ws.data["fault"])
        elif kind == "full_tmpdir":
            ws.data["fault"] = ws.mount_tmpfs("full", "2m")
            ws.fill(ws.data["fault"])
            ws.env["TMPDIR"] = str(ws.data["fault"])
        else:
            ws.data["fault"] = ws.read_only("ro")

    return setup


def consistent_under(ws, o):
    return consistent_runs(ws.data["fault"] / "runs")


S.add(
    "full_disk_run",
    fault("tmpfs"),
    ["run", "{in}/config.yaml", "--out", "{fault}/runs"],
    (2,),
    "a 2 MB disk filling up mid-run: one line (disk full), `latest` not moved to the partial run",
    message=DISK_FULL,
    check=consistent_under,
    needs=("mount",),
    process=True,
    timeout=400,
)
for command, argv in (
    ("validate", ["validate", "{in}/config.yaml", "--out", "{fault}/v"]),
    (
        "snapshot",
        ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{fault}/snap.parquet"],
    ),
    ("score", ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{fault}/s"]),
    (
        "snapshot_csv",
        ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{fault}/s.csv"],
    ),
    ("sample", ["sample", "--profiles", "3000", "--out", "{fault}/sample"]),
):
    setup = fault("full")
    if command == "score":
        setup = (lambda s: lambda ws: (s(ws), ws.model_run()))(setup)
    S.add(
        f"full_disk_{command}",
        setup,
        argv,
        (2,),
        f"{command} on a full disk: one line (disk full) naming the file",
        message=DISK_FULL,
        needs=("mount",),
    )
S.add(
    "full_tmpdir_validate",
    fault("full_tmpdir"),
    VALIDATE,
    (0, 2),
    "TMPDIR on a full disk: it works (DuckDB spills elsewhere) or one line naming the disk",
    message=DISK_FULL,
    needs=("mount",),
)


def ro_output_dir(ws):
    ro = ws.read_only("ro")
    ws.base(output={"dir": str(ro / "reports")})


S.add(
    "readonly_output_dir_validate",
    ro_output_dir,
    ["validate", "{in}/config.yaml"],
    (2,),
    "output.dir on a read-only folder: one line",
    message=r"cannot create the output folder \(" + READ_ONLY,
)
for command, argv in (
    ("run", ["run", "{in}/config.yaml", "--out", "{fault}/runs"]),
    (
        "snapshot",
        ["snapshot", "{in}/config.yaml", "--at", "2025-10-01", "--out", "{fault}/snap.parquet"],
    ),
    ("score", ["score", "{in}/config.yaml", "--model", "{in}/run", "--out", "{fault}/s"]),
    ("sample", ["sample", "--profiles", "50", "--out", "{fault}/sample"]),
):
    setup = fault("ro")
    if command == "score":
        setup = (lambda s: lambda ws: (s(ws), ws.model_run()))(setup)
    S.add(
        f"readonly_out_{command}",
        setup,
        argv,
        (2,),
        f"{command} --out on a read-only folder: one line",
        message=READ_ONLY,
    )


def concurrently(argv_a, argv_b, timeout: float):
    def action(ws) -> Outcome:
        t0 = time.perf_counter()
        procs = [spawn(ws, argv_a), spawn(ws, argv_b)]
        outs = []
        for p in procs:
            try:
                outs.append(p.communicate(timeout=timeout))
            except subprocess.TimeoutExpired:
                kill_group(p)
                outs.append(p.communicate())
        codes = [p.returncode for p in procs]
        err = "\n".join(e for _, e in outs)
        worst = next((c for c in codes if c != 0), 0)
        return Outcome(worst, "\n".join(o for o, _ in outs), err, time.perf_counter() - t0)

    return action


def two_complete(base_name: str):
    def check(ws, o):
        base = ws.out / base_name
        folders = run_folders(base)
        if len(folders) != 2:
            return f"{len(folders)} run folders, expected 2"
        return consistent_runs(base, latest_expected=True)

    return check


S.add(
    "concurrent_validate_same_out",
    base_with(),
    None,
    (0,),
    "two validates into the same --out at once both finish, each in its own folder",
    action=concurrently(VALIDATE, VALIDATE, 180),
    check=two_complete("v"),
)
S.add(
    "concurrent_runs_same_base",
    base_with(),
    None,
    (0,),
    "two `workbench run` into the same folder at once: two complete runs, `latest` on one",
    action=concurrently(RUN, RUN, 600),
    check=two_complete("runs"),
)

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_faults(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
