"""Helpers shared by the benchmark scripts: the sample on disk, timing with peak RSS, tables.

Peak RSS is sampled by a background thread (psutil, every 20 ms) while a stage runs, so each stage
reports its own peak; DuckDB runs in-process, so its memory is included.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"  # git-ignored


def label(profiles: int) -> str:
    if profiles % 1_000_000 == 0:
        return f"{profiles // 1_000_000}m"
    if profiles % 1_000 == 0:
        return f"{profiles // 1_000}k"
    return str(profiles)


@dataclass
class Measure:
    seconds: float = 0.0
    peak_rss: int = 0  # bytes
    extra: dict = field(default_factory=dict)


@contextmanager
def measured(interval: float = 0.02):
    """`with measured() as m:` -> m.seconds, m.peak_rss (bytes, this process, sampled)."""
    proc = psutil.Process()
    m = Measure(peak_rss=proc.memory_info().rss)
    stop = threading.Event()

    def poll():
        while not stop.wait(interval):
            try:
                m.peak_rss = max(m.peak_rss, proc.memory_info().rss)
            except psutil.Error:  # pragma: no cover
                return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    started = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - started
        stop.set()
        thread.join()
        m.peak_rss = max(m.peak_rss, proc.memory_info().rss)


def lifetime_peak_rss() -> int:
    """Peak RSS of this process since it started (bytes), children excluded."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB"


def median(values):
    return statistics.median(values) if values else float("nan")


def ensure_sample(profiles: int, seed: int = 0, out: Path = OUT) -> tuple[Path, Measure | None]:
    """The sample at benchmarks/out/sample-<N> (written once); returns (config path, timing or None)."""
    from workbench.ingest.sample import write_sample

    folder = out / f"sample-{label(profiles)}"
    config = folder / "config.yaml"
    if config.exists() and (folder / "events.parquet").exists():
        return config, None
    with measured() as m:
        write_sample(folder, profiles=profiles, seed=seed)
    return config, m


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.machine()} {os.cpu_count()} cores, {mem:.0f} GiB RAM, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )


def print_table(rows: list[dict], columns: list[str]) -> None:
    text = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(t[i]) for t in text)) if text else len(c) for i, c in enumerate(columns)
    ]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for t in text:
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(t, widths, strict=True))
            )
        )
