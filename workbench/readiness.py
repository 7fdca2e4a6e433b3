"""Is there enough data for this goal? Adobe's rule plus the checks an out-of-time validation needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from workbench.config import Config


NOT_SELECTIVE = 0.5  # training base rate above which a goal is "not selective"


def required_history_days(config: Config) -> int:
    return max(config.eligibility.active_within_days or 0, 30) + config.goal.window_days


def check_readiness(
    counts: pd.DataFrame, config: Config, first_event, last_event
) -> dict[str, Any]:
    """`counts` has cutoff, role (training/validation: the origins), positives, negatives.

    Ready means: at least `min_positives` and `min_negatives` training examples, a validation
    snapshot with both outcomes, and at least max(active_within_days, 30) + window_days of history.
    Training examples are counted at cutoffs whose outcome windows do not overlap
    (`distinct_outcome_windows`), so each conversion counts once however dense the cutoffs are.
    """
    rd = config.readiness
    messages: list[str] = []
    validation = counts[counts["role"] == "validation"]
    training = counts.loc[
        counts["cutoff"].isin(distinct_outcome_windows(counts, config.goal.window_days))
    ]
    pos, neg = int(training["positives"].sum()), int(training["negatives"].sum())
    what = "churned" if config.goal.outcome == "does_not_occur" else "positive"
    if pos < rd.min_positives:
        messages.append(
            f"only {pos} {what} training examples (need {rd.min_positives}): widen the goal, "
            "lengthen window_days, add training snapshots or include more profiles"
        )
    if neg < rd.min_negatives:
        messages.append(
            f"only {neg} negative training examples (need {rd.min_negatives}): the goal is met by almost "
            "everyone; narrow the goal or shorten window_days"
        )
    if len(validation):  # the newest origin: the one every run validates on
        newest = validation.loc[validation["cutoff"].idxmax()]
        vpos, vneg = int(newest["positives"]), int(newest["negatives"])
        if vpos == 0 or vneg == 0:
            messages.append(
                f"the validation snapshot has {vpos} positives and {vneg} negatives: a model cannot be "
                "judged out of time; move as_of or change the goal"
            )
    busiest = int(counts["eligible"].max()) if len(counts) else 0
    if messages and busiest <= 2:
        # "only 2 negatives" reads as a goal problem; the real one is that there is no population
        messages.insert(
            0,
            f"only {busiest} eligible profile{'' if busiest == 1 else 's'} at the busiest cutoff: "
            "a model learns from many profiles; include more profiles or widen eligibility",
        )
    span = (pd.Timestamp(last_event) - pd.Timestamp(first_event)).days
    need = required_history_days(config)
    if span < need:
        messages.append(
            f"only {span} days of history (need {need} = max(active_within_days, 30) + window_days)"
        )
    rate = pos / (pos + neg) if pos + neg else 0.0
    return {
        "ok": not messages,
        "messages": messages,
        # Above NOT_SELECTIVE most eligible profiles reach the goal: a score singles out nobody.
        "base_rate": rate,
        "selective": rate <= NOT_SELECTIVE,
        "training_positives": pos,
        "training_negatives": neg,
        "history_days": span,
        "required_history_days": need,
    }


def distinct_outcome_windows(counts: pd.DataFrame, window_days: int) -> list:
    """The cutoffs the newest fold trains on, newest first, each at least one outcome window
    before the previous one: their labels count distinct outcomes (cutoffs every two weeks
    with a 90-day window would count each purchase six times)."""
    window = pd.Timedelta(days=window_days)
    origins = counts.loc[counts["role"] == "validation", "cutoff"]
    newest = origins.max() if len(origins) else counts["cutoff"].max() + window
    picked: list = []
    for cutoff in sorted(counts.loc[counts["role"] != "scoring", "cutoff"], reverse=True):
        if cutoff + window <= newest and (not picked or cutoff + window <= picked[-1]):
            picked.append(cutoff)
    return picked
