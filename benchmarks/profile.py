"""Where a `workbench run` spends its wall time: a py-spy sampling profile of the whole run.

py-spy (`pip install -e '.[dev]'`) samples the `workbench run` process and its kernel
(`--subprocesses`), idle frames included, so waiting on DuckDB or LightGBM counts where it is
spent. The collapsed stacks go to `benchmarks/out/profile-<name>.txt` (open them in speedscope
or flamegraph.pl); the summary printed here is the workbench functions with the most wall time
(every frame of a stack counted once) and the lines where the samples themselves sit.

    .venv/bin/python benchmarks/profile.py --profiles 1000000        # the 1M sample (run_all.py's)
    .venv/bin/python benchmarks/profile.py --config examples/cdnow.yaml
    .venv/bin/python benchmarks/profile.py --profiles 1000000 --top 40 --rate 20

py-spy needs ptrace rights (root, or `kernel.yama.ptrace_scope=0`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, label  # noqa: E402

# "function (path/to/file.py:123)" as py-spy writes one frame of a collapsed stack
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
# a stack's roots with --subprocesses --threads: `process PID:"cmd";[process PID:"cmd";]
# thread (TID);...` (a child process is nested under its parent)
ROOTS = re.compile(r'^(?:process (?P<pid>\d+):".*?";)+thread \((?P<tid>\d+)\)(?::[^;]*)?;')


def sample_config(profiles: int, seed: int = 0) -> Path:
    """The sample that run_all.py uses (benchmarks/out/runall-<N>/data), written if missing."""
    data = OUT / f"runall-{label(profiles)}" / "data"
    if not (data / "config.yaml").exists():
        from workbench.ingest.sample import write_sample

        shutil.rmtree(data, ignore_errors=True)
        write_sample(data, profiles=profiles, seed=seed)
    return data / "config.yaml"


def record(config: Path, out: Path, rate: int, extra: list[str]) -> float:
    exe = Path(sys.executable).parent
    spy = shutil.which("py-spy", path=str(exe)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[dev]'")
    reports = out.with_suffix("")
    shutil.rmtree(reports, ignore_errors=True)
    cmd = [
        spy,
        "record",
        "--subprocesses",
        "--idle",
        "--threads",
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--",
        str(exe / "workbench"),
        "run",
        str(config),
        "--out",
        str(reports),
        *extra,
    ]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - started


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for part in stack.split(";"):
        m = FRAME.match(part.strip())
        if m:
            out.append((m["func"], f"{m['file']}:{m['line'] or ''}"))
    return out


def summarise(path: Path, top: int) -> None:
    total: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    samples = 0
    for raw in path.read_text().splitlines():  # "stack count"
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        roots = ROOTS.match(stack)
        # only the main threads (tid == pid) of the parent and the kernel: helpers mostly wait
        if roots is None or roots["pid"] != roots["tid"]:
            continue
        frames = _frames(stack[roots.end() :])
        samples += n
        seen = set()
        for func, where in frames:
            key = f"{func} ({Path(where.split(':')[0]).name})"
            if "workbench" in where and key not in seen:
                total[key] += n
                seen.add(key)
        if frames:
            func, where = frames[-1]
            leaves[f"{func} ({where})"] += n
    print(f"\n{samples} samples on the main threads")
    print(f"\nworkbench functions by wall time (share of the samples), top {top}:")
    for key, n in total.most_common(top):
        print(f"  {n / samples:6.1%}  {key}")
    print(f"\nwhere the samples sit (innermost frame), top {top}:")
    for key, n in leaves.most_common(top):
        print(f"  {n / samples:6.1%}  {key}")


def main(argv=None) -> int:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--profiles", type=int, help="the run_all.py sample of this size")
    which.add_argument("--config", type=Path, help="a config file to run")
    ap.add_argument("--rate", type=int, default=25, help="samples per second")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--set", action="append", default=[], help="passed to workbench run --set")
    ap.add_argument("--summarise", type=Path, help="only summarise an earlier profile file")
    args = ap.parse_args(argv)
    if args.summarise:
        summarise(args.summarise, args.top)
        return 0
    config = args.config or sample_config(args.profiles)
    name = label(args.profiles) if args.profiles else config.stem
    out = OUT / f"profile-{name}.txt"
    OUT.mkdir(parents=True, exist_ok=True)
    extra = [a for s in args.set for a in ("--set", s)]
    seconds = record(config, out, args.rate, extra)
    print(f"\nworkbench run {config}: {seconds:.1f} s under py-spy; stacks in {out}")
    summarise(out, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
