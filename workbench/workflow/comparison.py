"""`workbench compare RUN_A RUN_B`: two scored runs set side by side, in a folder of their own.

`compare_runs` makes `<output dir>/compares/<stamp>/` and executes notebook 06 there (or, with
`notebook=False`, the same stage in this process); `monitor` is that stage: it opens the two
runs, computes with `workbench.monitoring` (score and feature PSI, bucket migration, factor
drift, what changed) and, once the earlier run's outcome window has closed in the later run's
data, its realised performance (`workbench.scoring.realised_performance`), and writes
comparison.json and feature_drift.csv.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.run import Run
from workbench.workflow.scored import (
    ScoredRun,
    change_flags,
    factor_weights,
    model_specs,
    read_columns,
    realised_of_earlier,
    run_differences,
    scored_run,
    side_facts,
)

__all__ = ["Monitoring", "compare_runs", "open_comparison", "monitor"]

REALISED_COLUMNS = ["bucket", "profiles", "mean_predicted", "actual_rate", "expected", "actual"]


# ----------------------------------------------------------------------------- the command
def compare_runs(
    earlier: str | Path,
    later: str | Path,
    *,
    out: str | Path | None = None,
    notebook: bool = True,
    notebooks_dir: str | Path | None = None,
    kernel_name: str | None = None,
    progress=print,
) -> Run:
    """Compare two scored runs into a new folder (default `<goal folder>/compares/`): notebook
    06 executed there with its HTML page, comparison.json and feature_drift.csv; the goal's
    index.html is rewritten. The run scored first is the reference, whichever order given."""
    from workbench.reporting.history import write_index

    say = progress or (lambda _msg: None)
    a, b = sorted([scored_run(earlier), scored_run(later)], key=lambda r: (r.as_of, r.run.name))
    if a.run.path == b.run.path:
        raise WorkbenchError(f"{a.run.path}: compare needs two different runs")
    record = {"kind": "compare", "earlier": str(a.run.path), "later": str(b.run.path)}
    inputs = (("the earlier run", a.run.path), ("the later run", b.run.path))
    run = Run.create(
        out or b.run.goal_folder / "compares", b.run.config, record=record, inputs=inputs
    )
    say(f"comparison folder: {run.base / run.name}")
    started = time.perf_counter()
    failure: BaseException | None = None
    try:
        if notebook:
            failure = _run_notebook(run, notebooks_dir, kernel_name)
        else:
            monitor(run)
    except BaseException as exc:
        failure = exc
    changes: dict[str, Any] = {
        "status": "ok" if failure is None else "failed",
        "seconds": round(time.perf_counter() - started, 1),
    }
    if failure is not None:
        changes["error"] = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
    run.update_record(**changes)
    run.publish(succeeded=failure is None)
    write_index(run.goal_folder)
    if failure is not None:
        raise failure
    return run


def _run_notebook(run: Run, notebooks_dir, kernel_name):
    from workbench.reporting.notebooks import (
        MONITORING,
        execute_notebook,
        export_html,
        find_notebook,
        link_pages,
        pick_kernel,
    )

    src = find_notebook(MONITORING, notebooks_dir)
    dest = run.path / src.name
    t0 = time.perf_counter()
    failure = execute_notebook(
        src, dest, {"run_dir": str(run.path)}, pick_kernel(kernel_name), run.path
    )
    html = export_html(dest).name if dest.exists() else None
    if html is not None:
        link_pages(run.path, comparison_links(run, html), pages=[html])
    entry = {
        "name": src.stem,
        "status": "ok" if failure is None else "failed",
        "seconds": round(time.perf_counter() - t0, 1),
        "parameters": {"run_dir": str(run.path)},
        "ipynb": dest.name if dest.exists() else None,
        "html": html,
        "error": failure.error if failure is not None else None,
    }
    run.update_record(notebooks=[entry])
    return failure


def comparison_links(run: Run, page: str) -> list[tuple[str, str]]:
    """The comparison page's navigation: every run of the goal, the two runs' reports, itself
    (paths relative to the comparison folder, which is `run.path` by the time they are read)."""
    import os

    here = run.base / run.name
    links = [(os.path.relpath(run.goal_folder / "index.html", here), "← Every run")]
    for side in ("earlier", "later"):
        report = Path(run.record[side]) / "report.html"
        if report.is_file():
            links.append((os.path.relpath(report, here), f"{side} run's report"))
    return [*links, (page, "06 · Monitoring")]


def open_comparison(run_dir: str = "", earlier: str = "", later: str = "") -> Run:
    """The comparison folder notebook 06 works in: `run_dir` (made by `workbench compare`), or
    a new one for the run folders `earlier` and `later` when opened by hand."""
    if str(run_dir):
        return Run.open(run_dir)
    if not (str(earlier) and str(later)):
        raise WorkbenchError(
            "set run_dir to a folder made by `workbench compare`, or earlier and later to two "
            "run folders that scored profiles"
        )
    a, b = sorted([scored_run(earlier), scored_run(later)], key=lambda r: (r.as_of, r.run.name))
    record = {"kind": "compare", "status": "interactive"}
    run = Run.create(
        b.run.goal_folder / "compares",
        b.run.config,
        record={**record, "earlier": str(a.run.path), "later": str(b.run.path)},
    )
    run.publish(succeeded=True)
    print(f"new comparison folder: {run.path}")
    return run


# ----------------------------------------------------------------------------- the stage
@dataclass
class Monitoring:
    """What `monitor` found (comparison.json holds the same figures)."""

    earlier: ScoredRun
    later: ScoredRun
    differences: pd.DataFrame
    score_drift: dict[str, Any]
    feature_drift: pd.DataFrame
    migration: pd.DataFrame
    migration_summary: dict[str, Any]
    factor_drift: pd.DataFrame  # empty when a run's factors could not be measured
    realised: dict[str, Any] | None  # None while the earlier run's outcome window is open
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def realised_by_bucket(self) -> pd.DataFrame:
        """Expected against actual per bucket for the earlier run (empty while unknown)."""
        if self.realised is None:
            return pd.DataFrame(columns=REALISED_COLUMNS)
        return self.realised["by_bucket"]

    def realised_figures(self) -> pd.DataFrame:
        """The earlier run's realised headline figures (a note while they are unknown)."""
        if self.realised is None:
            return _figures({"realised performance": "not known yet: the window is still open"})
        r = self.realised
        auc = r["validation_roc_auc"]
        return _figures(
            {
                "outcome window": f"{r['window'][0]} to {r['window'][1]} (closed)",
                "profiles of the earlier run found": f"{r['profiles']:,}",
                "realised ROC AUC": f"{r['roc_auc']:.3f}",
                "validation ROC AUC of its model": "–" if auc is None else f"{auc:.3f}",
                "conversions expected": f"{r['expected']:,.1f}",
                "conversions that happened": f"{r['actual']:,}",
                "realised lift in the top decile": f"{r['lift_top_decile']:.2f}×",
                "an out-of-time test": "yes" if r["out_of_time"] else "no (the model saw them)",
            }
        )

    def migration_figures(self) -> pd.DataFrame:
        """The bucket migration in words."""
        m = self.migration_summary
        if not m["profiles_in_both"]:
            return _figures({"profiles scored in both runs": "none"})
        return _figures(
            {
                "profiles scored in both runs": f"{m['profiles_in_both']:,}",
                "kept their bucket": f"{m['kept_bucket']:,} ({m['kept_share']:.0%})",
                "would keep it by chance alone": f"{m['chance_kept_share']:.0%}",
                "agreement beyond chance (kappa)": f"{m['kappa']:.2f}",
                "moved up a bucket or two": f"{m['moved_up']:,}",
                "moved down": f"{m['moved_down']:,}",
                "of the earlier high bucket, still high": f"{m['high_still_high']:.0%}",
                "new (not scored earlier)": f"{m['new_profiles']:,}",
                "no longer scored": f"{m['no_longer_scored']:,}",
            }
        )

    def key_figures(self) -> pd.DataFrame:
        """The comparison's headline figures."""
        d, m = self.score_drift, self.migration_summary
        top = self.feature_drift.head(3)
        auc = None if self.realised is None else f"{self.realised['roc_auc']:.3f}"
        return _figures(
            {
                "earlier run": self.earlier.label,
                "later run": self.later.label,
                "score PSI": f"{d['psi']:.3f} ({d['level']})",
                "features that moved most": ", ".join(
                    f"{r.label} ({r.psi:.2f})" for r in top.itertuples(index=False)
                ),
                "kept their bucket": f"{m['kept_share']:.0%} (chance alone {m['chance_kept_share']:.0%})",
                "realised ROC AUC of the earlier run": auc or "not known yet",
                "flags": f"{len(self.flags)}",
            }
        )


def _figures(values: dict[str, Any]) -> pd.DataFrame:
    """Figures already written as text, as a two-column table (`reporting.readable` shows it)."""
    return pd.DataFrame({"figure": list(values), "value": [str(v) for v in values.values()]})


def monitor(run: Run) -> Monitoring:
    """Compare the two runs a comparison folder names (run.json `earlier`, `later`) and write
    comparison.json and feature_drift.csv."""
    from workbench import monitoring as mon

    record = run.record
    if not record.get("earlier") or not record.get("later"):
        raise WorkbenchError(f"{run.path}: not a comparison folder (run.json names no runs)")
    a, b = scored_run(record["earlier"]), scored_run(record["later"])
    columns = ["profile_id", "probability", "percentile", "bucket"]
    sa, sb = a.run.read_frame("scores", columns), b.run.read_frame("scores", columns)
    notes: list[str] = []
    specs = model_specs(a) + [
        s for s in model_specs(b) if s.code not in {x.code for x in model_specs(a)}
    ]
    drift = mon.score_drift(sa, sb)
    features = _feature_drift(a, b, specs, notes)
    matrix = mon.bucket_migration(sa, sb)
    moved = mon.migration_summary(matrix)
    factors = _factor_drift(a, b, specs, notes)
    differences = run_differences(a, b)
    realised = realised_of_earlier(a, b, sa, notes)
    flags = change_flags(differences)
    if bool(differences.loc[differences["what"] == "model", "changed"].any()):
        notes.append("a different model scored the later run: part of the drift is the model's")
    flags += mon.drift_flags(drift, features, moved, factors)
    if realised is not None:
        flags += realised["flags"]
    result = Monitoring(
        a,
        b,
        differences,
        drift,
        features,
        matrix,
        moved,
        factors,
        realised,
        flags,
        notes,
        {"earlier": sa, "later": sb},
    )
    run.write_frame("feature_drift", features)
    run.write_json("comparison", comparison_record(result))
    return result


def _feature_drift(a: ScoredRun, b: ScoredRun, specs, notes: list[str]) -> pd.DataFrame:
    from workbench.monitoring import feature_drift

    if not (a.run.has("scoring_snapshot") and b.run.has("scoring_snapshot")):
        notes.append("feature drift needs both runs' scoring_snapshot.parquet: not available")
        return feature_drift(pd.DataFrame(), pd.DataFrame(), [])
    codes = [s.code for s in specs]
    fa = read_columns(a.run, "scoring_snapshot", codes)
    fb = read_columns(b.run, "scoring_snapshot", codes)
    only = sorted((set(fa.columns) ^ set(fb.columns)) & set(codes))
    if only:
        notes.append(f"features in one run only (no drift measured): {', '.join(only[:8])}")
    return feature_drift(fa, fb, specs)


def _factor_drift(a: ScoredRun, b: ScoredRun, specs, notes: list[str]) -> pd.DataFrame:
    from workbench.monitoring import factor_drift, feature_families

    weights = [factor_weights(side, notes) for side in (a, b)]
    if any(w is None for w in weights):
        return factor_drift(_NO_FACTORS, _NO_FACTORS, {})
    return factor_drift(weights[0], weights[1], feature_families(specs))


_NO_FACTORS = pd.DataFrame({"feature": [], "mean_abs_contribution": []})


def comparison_record(result: Monitoring) -> dict[str, Any]:
    """comparison.json: every figure of the comparison (tables as lists of records)."""

    def records(frame: pd.DataFrame | None) -> list[dict] | None:
        return None if frame is None else json.loads(frame.to_json(orient="records"))

    drift = {k: v for k, v in result.score_drift.items() if k != "bins"}
    realised = None
    if result.realised is not None:
        realised = {
            k: (records(v) if isinstance(v, pd.DataFrame) else v)
            for k, v in result.realised.items()
        }
    return {
        "earlier": {"path": str(result.earlier.run.path), **side_facts(result.earlier)},
        "later": {"path": str(result.later.run.path), **side_facts(result.later)},
        "flags": result.flags,
        "notes": result.notes,
        "score_drift": {**drift, "bins": records(result.score_drift["bins"])},
        "feature_drift_top": records(result.feature_drift.head(20)),
        "migration": {
            **result.migration_summary,
            "matrix": records(result.migration.reset_index()),
        },
        "factor_drift": records(result.factor_drift) if len(result.factor_drift) else None,
        "differences": records(result.differences.astype({"earlier": str, "later": str})),
        "realised": realised,
    }
