"""Benchmark: what issue 15 adds to a run and what `workbench compare` costs.

For each size, two training runs of the sample a month apart (`run_pipeline`, the later one
with the default scoring date) are built once under benchmarks/out/monitoring-<N>/; then, timed
with peak RSS, `repeat` times each, interleaved:

    target size      workflow.insights.target_size (profit curve + cut-offs on today's scores)
    cohorts          workflow.insights.save_cohorts (country, loyaltyTier, history)
    compare          workflow.compare_runs(notebook=False): PSI of scores and every feature,
                     bucket migration, factor weights, realised performance, comparison.json

    .venv/bin/python benchmarks/monitoring.py                          # 100k profiles
    .venv/bin/python benchmarks/monitoring.py --profiles 20000 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, ensure_sample, gb, label, machine, measured, median, print_table  # noqa: E402

SETTINGS = [
    "economics={cost_per_contact: 1.5, value_per_conversion: 20, budget: 3000}",
    "reporting.cohorts=[country, loyaltyTier]",
]


def build_runs(profiles: int):
    """The two runs (earlier, later) for this size, built once."""
    from workbench import workflow
    from workbench.run import Run

    config, _ = ensure_sample(profiles)
    base = OUT / f"monitoring-{label(profiles)}"
    marker = base / "runs.txt"
    if marker.exists():
        earlier, later = marker.read_text().split()
        return config, Run(earlier), Run(later)
    shutil.rmtree(base, ignore_errors=True)
    later = workflow.run_pipeline(config, out=base, overrides=SETTINGS)
    day = pd.Timestamp(later.read_json("score_summary")["as_of"]) - pd.Timedelta(days=30)
    earlier = workflow.run_pipeline(config, out=base, overrides=SETTINGS, as_of=str(day.date()))
    marker.write_text(f"{earlier.path} {later.path}\n")
    return config, earlier, later


def main() -> None:
    from workbench import workflow
    from workbench.workflow.insights import save_cohorts, target_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    rows = []
    for profiles in args.profiles:
        _, earlier, later = build_runs(profiles)
        scores = later.read_frame("scores")
        snapshot = later.read_frame("scoring_snapshot")
        config = later.config
        timings: dict[str, list] = {"target size": [], "cohorts": [], "compare": []}
        for _ in range(args.repeat):
            with measured() as m:
                target_size(later, scores, config)
            timings["target size"].append(m)
            with measured() as m:
                save_cohorts(later, later, scores, snapshot, config)
            timings["cohorts"].append(m)
            with measured() as m:
                workflow.compare_runs(earlier.path, later.path, notebook=False, progress=None)
            timings["compare"].append(m)
        for stage, ms in timings.items():
            rows.append(
                {
                    "profiles": f"{profiles:,}",
                    "scored": f"{len(scores):,}",
                    "stage": stage,
                    "median s": f"{median([m.seconds for m in ms]):.2f}",
                    "runs s": " ".join(f"{m.seconds:.2f}" for m in ms),
                    "peak RSS": gb(max(m.peak_rss for m in ms)),
                }
            )
    print_table(rows, ["profiles", "scored", "stage", "median s", "runs s", "peak RSS"])


if __name__ == "__main__":
    main()
