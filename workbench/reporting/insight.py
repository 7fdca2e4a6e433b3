"""What the landing page says, as data: the goal in words (`goal_text`, re-exported here), the
verdict, buckets, factors per bucket, segments and the historical performance of the scores
(`landing` draws them).

Every figure is read from the run's files (`metrics.json`, `score_summary.json`,
`scores.parquet`, `factors_by_bucket.csv`, `expected_vs_actual.json`, `segments/summary.csv`);
a file that is missing (a failed run) leaves its section out instead of failing the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.conditions import describe
from workbench.readiness import NOT_SELECTIVE
from workbench.reporting.goal_text import GoalWords, goal_words, population
from workbench.reporting.tables import number, percent
from workbench.run import Run

__all__ = [
    "GoalWords",
    "Verdict",
    "goal_words",
    "population",
    "verdict",
    "bucket_table",
    "factor_table",
    "segment_table",
    "history",
]

BUCKETS = ("high", "medium", "low")


# ----------------------------------------------------------------------------- the verdict
@dataclass
class Verdict:
    """good / usable / poor / uncertain, with the reason and what to try, in plain words."""

    level: str
    headline: str
    reason: str
    next_steps: list[str] = field(default_factory=list)


@dataclass
class _Figures:
    """The champion's validation figures the verdict reads, and their sentences."""

    auc: float
    lift: float | None
    recency: float | None
    low: float | None
    high: float | None
    positives: int | None
    base_rate: float | None
    quality: dict[str, Any]
    verb: str  # "reach the goal" / "churn"
    reported_as: str | None = None  # with rolling-origin folds: "fold mean", "newest origin ..."

    @property
    def ranking(self) -> str:
        where = (
            "out of time at past validation dates ("
            + (
                "the newest one's: they move steadily"
                if self.reported_as.startswith("newest")
                else "their mean"
            )
            + ")"
            if self.reported_as
            else "on the validation date"
        )
        return f"ROC AUC {self.auc:.2f} {where}; 0.5 is chance, 1 is perfect"

    @property
    def lifted(self) -> str:
        if isinstance(self.lift, (int, float)) and math.isfinite(self.lift):
            return (
                f"the top 10% of profiles {self.verb} {self.lift:.1f} times as often as the average"
            )
        return "the top scores are no more likely than the average"


def _figures(metrics: dict[str, Any], churn: bool) -> _Figures | None:
    champion = metrics.get("champion")
    models = metrics.get("models") or {}
    if not isinstance(champion, str) or champion not in models:
        return None
    m = models[champion]
    validation = metrics.get("validation") or {}
    profiles, positives = validation.get("profiles"), validation.get("positives")
    return _Figures(
        auc=float(m.get("roc_auc", float("nan"))),
        lift=m.get("lift_top_decile"),
        recency=(models.get("recency_rule") or {}).get("roc_auc"),
        low=m.get("roc_auc_ci_low"),
        high=m.get("roc_auc_ci_high"),
        positives=positives,
        base_rate=positives / profiles if profiles and positives is not None else None,
        quality=metrics.get("quality") or {},
        verb="churn" if churn else "reach the goal",
        reported_as=m.get("reported_as") if len(metrics.get("folds") or []) > 1 else None,
    )


def _leakage(f: _Figures) -> Verdict | None:
    if f.auc <= 0.95:
        return None
    return Verdict(
        "uncertain",
        "Too good to be true: check before you use it",
        f"the scores separate almost perfectly ({f.ranking}); this usually means an event "
        "that is part of the goal, or follows from it, is among the inputs",
        [
            "look at the top factors below for an event that happens because of the goal",
            "leave that event out of the goal's custom events or the data, and run again",
        ],
    )


def _poor(f: _Figures) -> Verdict | None:
    if f.quality.get("poor") or f.auc < 0.65:
        return Verdict(
            "poor",
            "Poor: the scores barely tell likely from unlikely",
            f"{f.ranking}; {f.lifted}",
            [
                "narrow the population (eligibility.active_within_days or eligibility.conditions)",
                "shorten or lengthen the outcome window (goal.window_days)",
                "add custom events that describe intent (viewed the product, added to cart)",
            ],
        )
    if isinstance(f.recency, (int, float)) and f.auc <= f.recency:
        return Verdict(
            "poor",
            "Poor: no better than targeting the most recently active",
            f"{f.ranking}, while ranking by recency alone reaches {f.recency:.2f}",
            [
                "target by recency until the model beats it",
                "add events that describe intent, or profile attributes, as inputs",
            ],
        )
    return None


def _uncertain(f: _Figures) -> Verdict | None:
    if not f.quality.get("uncertain"):
        return None
    span = (
        f"the true figure could be anywhere from {f.low:.2f} to {f.high:.2f}"
        if isinstance(f.low, float) and math.isfinite(f.low)
        else "no usable range"
    )
    return Verdict(
        "uncertain",
        "Uncertain: too few past conversions to judge firmly",
        f"{f.ranking}, but with {number(f.positives)} conversions on the newest validation "
        f"date {span}",
        [
            "add history or training snapshots (training.snapshots)",
            "a longer goal window gives more conversions per date",
        ],
    )


def _cautions(f: _Figures, calibration_gap: float | None, shifts) -> list[str]:
    out = []
    if f.base_rate is not None and f.base_rate > NOT_SELECTIVE:
        out.append(
            f"not selective: {percent(f.base_rate)} of eligible profiles {f.verb} within the "
            f"window, so even a perfect ranking lifts the top at most {1 / f.base_rate:.1f}×; "
            "the scores are best read from the bottom up (who will not), or narrow the goal"
        )
    if calibration_gap is not None and abs(calibration_gap) > 0.25:
        out.append(
            f"expected counts were {abs(calibration_gap):.0%} "
            f"{'above' if calibration_gap > 0 else 'below'} what happened on the validation "
            "date: plan volumes with that margin"
        )
    return out + list(shifts)


def verdict(
    metrics: dict[str, Any],
    calibration_gap: float | None = None,
    shifts: list[str] = (),
    churn: bool = False,
) -> Verdict:
    """How far the scores can be trusted, judged on the validation date (out of time).

    good: ranks well (ROC AUC >= 0.75) and clearly beats ranking by recency; usable: better
    than chance and recency (0.65-0.75), or recency within the champion's 95% interval, or a
    goal most profiles reach; poor: below 0.65 or no better than recency; uncertain: too few
    validation positives for a firm figure, or a near-perfect figure that suggests leakage.
    `calibration_gap`: (expected - actual) / actual conversions on the validation date;
    `shifts`: buckets whose scores today differ from validation (`scoring_shifts`).
    """
    f = _figures(metrics, churn)
    if f is None:
        return Verdict(
            "uncertain",
            "No verdict yet",
            "the run stopped before the models were compared",
            ["open the failed notebook below for the reason"],
        )
    found = _leakage(f) or _poor(f) or _uncertain(f)
    if found is not None:
        return found
    reason = f"{f.lifted}; {f.ranking}"
    if isinstance(f.recency, (int, float)):
        reason += f"; ranking by recency alone reaches {f.recency:.2f}"
    cautions = _cautions(f, calibration_gap, shifts)
    if (
        isinstance(f.recency, (int, float))
        and isinstance(f.low, (int, float))
        and f.recency >= f.low
    ):
        # Within the champion's own 95% interval: not clearly better than recency.
        steps = [
            "ranking by the latest activity picks nearly the same people; the model adds "
            "calibrated probabilities (volumes) and the factors below",
            "to do better: add events that describe intent, or profile attributes",
        ]
        head = "Usable, but about as good as targeting the most recently active"
        return Verdict("usable", head, reason, steps + cautions)
    steps = ["target the high bucket first; the medium bucket is where campaigns can move people"]
    if f.auc >= 0.75 and not (f.base_rate is not None and f.base_rate > NOT_SELECTIVE):
        return Verdict("good", "Good: the scores rank customers well", reason, steps + cautions)
    if f.auc >= 0.75:
        head = "Usable: ranks well, but most profiles reach this goal"
    else:
        head = "Usable: better than guessing"
        steps.append("to improve: add custom events describing intent, or try another window")
    return Verdict("usable", head, reason, steps + cautions)


SHIFT_FACTOR = 3.0  # a bucket's mean probability today this many times off validation's rate


def scoring_shifts(buckets: pd.DataFrame | None, hist: pd.DataFrame | None) -> list[str]:
    """Cautions for buckets whose mean probability at the scoring date is more than
    `SHIFT_FACTOR` times above or below the rate the same bucket had at the newest validation
    date: the scored profiles then look unlike those the model was checked on (for example
    customers lapsed longer than any training profile), and its expected counts are doubtful."""
    if buckets is None or hist is None or hist.empty:
        return []
    newest = hist[hist["origin"] == hist["origin"].max()]
    newest = newest.set_index(newest["bucket"].astype(str))
    out = []
    for _, row in buckets.iterrows():
        bucket = str(row["bucket"])
        if bucket not in newest.index:
            continue
        then = float(newest.loc[bucket, "actual_rate"])
        now = float(row["mean"])
        if then > 0 and now > 0 and max(now / then, then / now) > SHIFT_FACTOR:
            out.append(
                f"caution: the {bucket} bucket's scores average {percent(now)} today, while "
                f"{percent(then)} of that bucket converted at the validation date; today's "
                "profiles there look unlike those the model was checked on, so treat its "
                "expected count as rough"
            )
    return out


# ----------------------------------------------------------------------------- buckets
def bucket_table(run: Run) -> pd.DataFrame | None:
    """Per bucket (high first): percentiles, profiles, share, probability range, mean and
    expected conversions (sum of probabilities), from `scores.parquet`."""
    if not run.has("scores"):
        return None
    scores = run.read_frame("scores", columns=["probability", "bucket"])
    if scores.empty:
        return None
    cfg = run.config.scoring.buckets
    bands = {
        "high": f"{cfg.high}–100",
        "medium": f"{cfg.medium}–{cfg.high - 1}",
        "low": f"1–{cfg.medium - 1}",
    }
    g = scores.groupby(scores["bucket"].astype(str))["probability"]
    table = pd.DataFrame(
        {
            "profiles": g.size(),
            "min": g.min(),
            "max": g.max(),
            "mean": g.mean(),
            "expected": g.sum(),
        }
    )
    table = table.reindex([b for b in BUCKETS if b in table.index])  # high first
    table["share"] = table["profiles"] / len(scores)
    table["expected_share"] = table["expected"] / max(float(scores["probability"].sum()), 1e-12)
    table["percentiles"] = [bands.get(b, "") for b in table.index]
    table["range"] = [
        f"{percent(lo)} – {percent(hi)}" for lo, hi in zip(table["min"], table["max"], strict=True)
    ]
    return table.rename_axis("bucket").reset_index()


# ----------------------------------------------------------------------------- factors
def _effect(row: pd.Series) -> str:
    """`raises for 80%`, `lowers for 65%`, `mixed`, `little effect` (see factor_summary)."""
    up, down = row.get("raises_share"), row.get("lowers_share")
    if up is None or pd.isna(up):
        mean = row.get("mean_contribution")
        if mean is None or pd.isna(mean):
            return ""
        return "raises" if mean > 0 else "lowers"
    if up < 0.1 and down < 0.1:
        return "little effect"
    if up >= 2 * down:
        return f"raises for {percent(up, 2)}"
    if down >= 2 * up:
        return f"lowers for {percent(down, 2)}"
    return f"mixed: raises {percent(up, 2)}, lowers {percent(down, 2)}"


def factor_table(run: Run, top: int = 6) -> pd.DataFrame | None:
    """Top factors (by influence in the high bucket, then overall) with, per bucket, the
    values its profiles have and the direction the factor pushes their scores."""
    if not run.has("factors_by_bucket"):
        return None
    by_bucket = run.read_frame("factors_by_bucket")
    if by_bucket.empty:
        return None
    order = (
        by_bucket.assign(rank=by_bucket["bucket"].map({"high": 0, "low": 1, "medium": 2}))
        .sort_values(["rank", "mean_abs_contribution"], ascending=[True, False])
        .drop_duplicates("feature")
    )
    features = list(order["feature"].head(top))
    rows = []
    for feature in features:
        sub = by_bucket[by_bucket["feature"] == feature].set_index("bucket")
        row = {"feature": feature, "factor": str(sub["label"].iloc[0])}
        for bucket in BUCKETS:
            if bucket not in sub.index:
                row[bucket], row[f"{bucket}_effect"] = "", ""
                continue
            r = sub.loc[bucket]
            values = r.get("value_range")
            if values is None or pd.isna(values):
                values = str(r.get("typical_value", ""))
            row[bucket], row[f"{bucket}_effect"] = str(values), _effect(r)
            row[f"{bucket}_push"] = float(r.get("mean_contribution", float("nan")))
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- segments
def _rule_words(rule) -> str:
    parts = []
    if rule.bucket is not None:
        buckets = [rule.bucket] if isinstance(rule.bucket, str) else list(rule.bucket)
        parts.append(" or ".join(buckets) + " bucket")
    if rule.percentile_min is not None and rule.percentile_max is not None:
        parts.append(f"percentiles {rule.percentile_min}–{rule.percentile_max}")
    elif rule.percentile_min is not None:
        parts.append(f"top {101 - rule.percentile_min}% (percentile {rule.percentile_min}+)")
    elif rule.percentile_max is not None:
        parts.append(f"percentile up to {rule.percentile_max}")
    if rule.factor:
        parts.append(f"factor {rule.factor} among their top factors")
    if rule.top_by_profit:
        parts.append("the most profitable target size (economics)")
    parts += [describe(c) for c in rule.conditions]
    return "; ".join(parts) or "everyone scored"


def segment_table(run: Run, scored: int | None) -> pd.DataFrame | None:
    """Segments: name, rule in words, profiles, share of the scored, expected conversions, file."""
    if not run.has("segments_summary"):
        return None
    summary = run.read_frame("segments_summary")
    rules = {r.name: r for r in run.config.segments}
    summary["rule"] = [
        _rule_words(rules[n]) if n in rules else f"the {n} bucket" if n in BUCKETS else ""
        for n in summary["segment"].astype(str)
    ]
    summary["share"] = summary["size"] / scored if scored else float("nan")
    summary["file"] = [
        f"segments/{n}.csv" if run.segment_file(n).exists() else ""
        for n in summary["segment"].astype(str)
    ]
    return summary


# ----------------------------------------------------------------------------- history
_ORIGIN_KEYS = ("origin", "validation_cutoff", "cutoff", "date")
_TABLE_KEYS = ("expected_vs_actual", "by_bucket", "buckets")


def _origin_table(fold: dict[str, Any]) -> tuple[str, list[dict]] | None:
    origin = next((fold[k] for k in _ORIGIN_KEYS if fold.get(k)), None)
    table = next((fold[k] for k in _TABLE_KEYS if fold.get(k) is not None), None)
    if isinstance(table, dict):
        table = table.get("bucket") or table.get("by_bucket")
    if origin is None or not isinstance(table, list):
        return None
    return str(origin)[:10], table


def history(run: Run) -> pd.DataFrame | None:
    """Expected against actual conversions per bucket at each past validation origin.

    Reads `metrics.json` key `folds` (a list, one entry per validation origin, each with its
    date under `origin` (or `validation_cutoff`/`cutoff`) and its per-bucket table under
    `expected_vs_actual.bucket` (or `by_bucket`) with `bucket`, `profiles`, `expected`,
    `actual`); without folds, the single validation cutoff: `metrics.json` `validation.cutoff`
    with `expected_vs_actual.json` `bucket`. Columns: origin, bucket, profiles, expected,
    actual, expected_rate, actual_rate; oldest origin first."""
    metrics = run.optional_json("metrics")
    found = [
        t
        for f in metrics.get("folds") or []
        if isinstance(f, dict)
        for t in [_origin_table(f)]
        if t
    ]
    if not found:
        eva = run.optional_json("expected_vs_actual")
        cutoff = (metrics.get("validation") or {}).get("cutoff")
        if eva.get("bucket") and cutoff:
            found = [(str(cutoff)[:10], eva["bucket"])]
    rows = [
        {"origin": origin, **{k: r.get(k) for k in ("bucket", "profiles", "expected", "actual")}}
        for origin, table in found
        for r in table
    ]
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    frame["expected_rate"] = frame["expected"] / frame["profiles"].where(frame["profiles"] > 0)
    frame["actual_rate"] = frame["actual"] / frame["profiles"].where(frame["profiles"] > 0)
    frame["bucket"] = pd.Categorical(frame["bucket"], categories=list(BUCKETS), ordered=True)
    return frame.sort_values(["origin", "bucket"]).reset_index(drop=True)


def calibration_gap(hist: pd.DataFrame | None) -> float | None:
    """(expected - actual) / actual over all buckets at the newest origin, or None."""
    if hist is None or hist.empty:
        return None
    newest = hist[hist["origin"] == hist["origin"].max()]
    actual = float(newest["actual"].sum())
    return (float(newest["expected"].sum()) - actual) / actual if actual else None
