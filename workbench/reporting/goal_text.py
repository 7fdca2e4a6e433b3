"""The goal as a marketer reads it: the title, the outcome, what a high score means and who
is scored, in words, from the config (the landing page, the run comparison and the index of
every run say it the same way)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.conditions import describe
from workbench.config import Config

__all__ = ["GoalWords", "goal_words", "population"]


@dataclass
class GoalWords:
    """The goal as a marketer reads it."""

    title: str  # "Likely to purchase within 30 days"
    outcome: str  # "a commerce.purchases event within 30 days of the scoring date"
    high_means: str  # "High scores: most likely to ..."
    converts: str  # "conversions" / "churners": what expected counts count
    population: str  # who is scored
    churn: bool


def _event_words(config: Config) -> str:
    goal = config.goal
    types = [c for c in goal.conditions if c.field == "event_type" and c.op == "=="]
    others = [c for c in goal.conditions if c not in types]
    joiner = " and " if goal.match == "all" else " or "
    if len(types) == 1 and not others:
        return f"a {types[0].value} event"
    return "an event where " + joiner.join(describe(c) for c in goal.conditions)


def goal_words(config: Config) -> GoalWords:
    """Title, outcome and population in words; churn goals framed as "likely to churn"."""
    goal = config.goal
    event = _event_words(config)
    window = f"within {goal.window_days} day{'s' if goal.window_days != 1 else ''}"
    churn = goal.outcome == "does_not_occur"
    bare = event.split(" ", 1)[1]  # without its article: "commerce.purchases event"
    if churn:
        title = f"Likely to churn: no {bare} {window}"
        outcome = f"churn: no {bare} {window} of the scoring date"
        high = f"High scores: most likely to churn (no {bare} {window})"
    else:
        title = f"Likely to have {event} {window}"
        outcome = f"{event} {window} of the scoring date"
        high = f"High scores: most likely to have {event} {window}"
    return GoalWords(
        title, outcome, high, "churners" if churn else "conversions", population(config), churn
    )


def population(config: Config) -> str:
    """Who is scored, in words: eligibility is at least one event (in the activity span, when
    there is one) before the scoring date, matching every eligibility condition when given."""
    elig = config.eligibility
    where = " and ".join(describe(c) for c in elig.conditions)
    days = elig.active_within_days
    if days and where:
        return f"profiles with an event where {where} in the {days} days before the scoring date"
    if days:
        return f"profiles active in the {days} days before the scoring date"
    if where:
        return f"every profile with an event where {where} before the scoring date"
    return "every profile with events before the scoring date"
