"""Display helpers for the notebooks and pages: headline figures, key figures, reconciliation and
notes as small tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.run import Run

if TYPE_CHECKING:
    import pandas as pd


def _dig(d: Any, *paths: str) -> Any:
    """The first value found at any of the dotted `paths` in nested dicts (None if none)."""
    for p in paths:
        node = d
        for k in p.split("."):
            if isinstance(node, dict) and k in node:
                node = node[k]
            else:
                node = None
                break
        if node is not None:
            return node
    return None


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "–"
    if kind == "pct" and isinstance(v, (int, float)):
        return f"{v:.1%}"
    if kind == "x" and isinstance(v, (int, float)):
        return f"{v:.2f}×"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and len(d) > 6:
        out[prefix[:-1]] = f"{len(d)} items"
    elif isinstance(d, list):
        out[prefix[:-1]] = ", ".join(_fmt(x) for x in d) if d else "–"
    else:
        out[prefix[:-1]] = d
    return out


def _words(key: str) -> str:
    """`readiness.training_positives` -> `readiness › training positives`."""
    return " › ".join(part.replace("_", " ") for part in key.split("."))


def as_table(data: dict[str, Any], skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """A nested dict as a two-column table (`figure`, `value`) for display in a notebook."""
    import pandas as pd

    flat = {k: v for k, v in _flatten(data).items() if not k.startswith(skip)}
    return pd.DataFrame(
        {"figure": list(flat), "value": [_fmt(v, _kind(k, v)) for k, v in flat.items()]}
    ).set_index("figure")


def _kind(key: str, value: Any) -> str:
    """Shares (`base_rate`, `share`) read as percentages."""
    last = key.rsplit(".", 1)[-1]
    is_share = "rate" in last or "share" in last
    return "pct" if is_share and isinstance(value, float) and 0 <= value <= 1 else ""


def key_figures(run: Run, name: str = "headline") -> pd.DataFrame:
    """The key figures a notebook closes with: `headline` (from metrics.json and the scores)
    or the scalar values of one of the run's JSON files (`quality`, `goal_summary`, ...)."""
    import pandas as pd

    if name == "headline":
        kinds = {"validation ROC AUC": "", "lift in top decile": "x", "base rate": "pct"}
        figures = headline(run)
        return pd.DataFrame(
            {
                "figure": list(figures),
                "value": [_fmt(v, kinds.get(k, "")) for k, v in figures.items()],
            }
        ).set_index("figure")
    skip = ("columns", "files", "event_types", "profiles_file.columns", "cutoffs", "features")
    return as_table(run.optional_json(name), skip=skip)


def notes(messages: list[str] | None, empty: str = "Nothing to flag."):
    """Messages (quality notes, readiness, warnings) as a Markdown bullet list for a notebook."""
    from IPython.display import Markdown

    items = [f"- {m}" for m in messages or []]
    return Markdown("\n".join(items) if items else empty)


def data_warnings(quality: dict[str, Any]) -> list[str]:
    """What an analyst should check before going on: ingest notices (e.g. an ambiguous date
    format) and a profiles file whose ids match few of the profiles with events."""
    messages = [str(m) for key in ("notices", "warnings") for m in quality.get(key) or []]
    match = _dig(quality, "profiles_file.match")
    if isinstance(match, dict) and match.get("warning"):
        messages.append(str(match["warning"]))
    return messages


def reconciliation(quality: dict[str, Any]) -> pd.DataFrame:
    """Rows read = kept + quarantined + duplicates dropped, as a small table (from data_quality)."""
    import pandas as pd

    optional = {
        "rows left in the database (on or after the as-of date)": _dig(
            quality, "warehouse.rows_after_horizon"
        ),
        "profiles before the identity table stitched them": _dig(
            quality, "identities.profiles_before"
        ),
        "profiles found in the profiles file": _match_text(quality),
    }
    steps = [
        ("rows left in the database (on or after the as-of date)", None),
        ("rows read", quality.get("rows_read")),
        ("quarantined (see reasons)", quality.get("rows_quarantined")),
        ("duplicates dropped", quality.get("duplicates_dropped")),
        ("rows kept", quality.get("rows_kept")),
        ("profiles before the identity table stitched them", None),
        ("profiles", quality.get("profiles")),
        ("profiles found in the profiles file", None),
        ("first event", _when(quality.get("first_event"))),
        ("last event", _when(quality.get("last_event"))),
        ("reconciles", quality.get("reconciles")),
    ]
    steps = [(s, optional.get(s, v)) for s, v in steps]
    steps = [(s, v) for s, v in steps if v is not None or s not in optional]
    return pd.DataFrame(
        {"step": [s for s, _ in steps], "value": [_fmt(v) for _, v in steps]}
    ).set_index("step")


def _when(value: Any) -> str | None:
    """`1997-01-01T00:00:00+00:00` -> `1997-01-01 00:00 UTC`."""
    import pandas as pd

    if value is None:
        return None
    try:
        return f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"
    except (TypeError, ValueError):
        return str(value)


def _match_text(quality: dict[str, Any]) -> str | None:
    match = _dig(quality, "profiles_file.match")
    if not isinstance(match, dict):
        return None
    return (
        f"{match.get('matched', 0):,} of {match.get('profiles_with_events', 0):,} "
        f"({float(match.get('share', 0)):.0%})"
    )


def quarantine_reasons(quality: dict[str, Any]) -> pd.DataFrame:
    """Quarantined rows per reason, largest first (from data_quality)."""
    import pandas as pd

    reasons = quality.get("quarantine_reasons") or {}
    frame = pd.DataFrame({"reason": list(reasons), "rows": [int(v) for v in reasons.values()]})
    return frame.sort_values("rows", ascending=False).set_index("reason")


def _scores_summary(run: Run) -> tuple[int | None, dict[str, int] | None]:
    path = run.file("scores")
    if not path.exists():
        return None, None
    try:
        import pyarrow.parquet as pq

        table = (
            pq.read_table(path, columns=["bucket"])
            if "bucket" in pq.read_schema(path).names
            else None
        )
        rows = pq.read_metadata(path).num_rows
    except Exception:
        return None, None
    if table is None:
        return rows, None
    counts = table.column("bucket").to_pandas().astype(str).value_counts()
    order = [b for b in ("high", "medium", "low") if b in counts.index]
    order += [b for b in counts.index if b not in order]
    return rows, {b: int(counts[b]) for b in order}


def headline(run: Run) -> dict[str, Any]:
    """The headline figures of a run, from `metrics.json` and `score_summary.json` (missing
    ones are None)."""
    run = run if isinstance(run, Run) else Run(run)
    m = {**run.optional_json("metrics"), "scoring": run.optional_json("score_summary")}
    champion = _dig(m, "champion.name", "champion")
    if isinstance(champion, dict):
        champion = champion.get("name") or champion.get("model")
    auc = _dig(m, "validation.roc_auc", "champion_metrics.roc_auc", "validation_roc_auc")
    lift = _dig(m, "validation.lift_top_decile", "champion_metrics.lift_top_decile")
    if isinstance(champion, str):
        auc = auc if auc is not None else _dig(m, f"models.{champion}.roc_auc")
        lift = lift if lift is not None else _dig(m, f"models.{champion}.lift_top_decile")
    interval = None
    if isinstance(champion, str):
        low = _dig(m, f"models.{champion}.roc_auc_ci_low")
        high = _dig(m, f"models.{champion}.roc_auc_ci_high")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low == low:
            interval = f"{low:.3f} to {high:.3f}"  # (low == low: not NaN)
    base_rate = _dig(m, "base_rate", "validation.base_rate")
    profiles, positives = _dig(m, "validation.profiles"), _dig(m, "validation.positives")
    if (
        base_rate is None
        and isinstance(profiles, (int, float))
        and profiles
        and positives is not None
    ):
        base_rate = positives / profiles
    scored = _dig(m, "scoring.profiles_scored", "scoring.profiles", "profiles_scored")
    buckets = _dig(m, "scoring.bucket_sizes", "scoring.buckets", "bucket_sizes")
    if scored is None or buckets is None:
        rows, sizes = _scores_summary(run)
        scored = scored if scored is not None else rows
        buckets = buckets if buckets is not None else sizes
    if isinstance(buckets, dict):
        order = [b for b in ("high", "medium", "low") if b in buckets]
        buckets = {b: buckets[b] for b in order + [b for b in buckets if b not in order]}
    return {
        "champion": champion,
        "validation ROC AUC": auc,
        "95% interval of the AUC": interval,
        "lift in top decile": lift,
        "base rate": base_rate,
        "profiles scored": scored,
        "bucket sizes": buckets,
    }


def figures_table(run: Run, name: str = "headline"):
    """`key_figures` as a readable table (figure names in words, no index column)."""
    from workbench.reporting.tables import readable

    table = key_figures(run, name).reset_index()
    table["figure"] = table["figure"].map(_words)
    return readable(table, labels={"figure": "figure", "value": "value"})


def coefficient_table(coefficients: pd.DataFrame, top: int = 20):
    """The logistic model's largest effects in words: factor, what it compares, the odds ratio
    with its 95% interval and the p-value (the code columns stay in coefficients.csv)."""
    from workbench.reporting.tables import number, readable

    t = coefficients.reindex(coefficients["coefficient"].abs().sort_values(ascending=False).index)
    t = t.head(top).copy()
    t["odds ratio (95% interval)"] = [
        f"×{number(o, 3)} ({number(lo, 2)}–{number(hi, 2)})"
        for o, lo, hi in zip(
            t["odds_ratio"], t["odds_ratio_ci_low"], t["odds_ratio_ci_high"], strict=True
        )
    ]
    t["direction"] = ["raises" if c > 0 else "lowers" for c in t["coefficient"]]
    return readable(
        t,
        columns=["label", "direction", "per", "odds ratio (95% interval)", "p_value"],
        labels={"per": "for each", "p_value": "p-value"},
    )
