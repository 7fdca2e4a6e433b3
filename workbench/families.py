"""The features a plan yields, as an analyst reads them: label, unit, factor family, direction.

`features.plan_features` decides which families apply (event types, custom events, numeric and
identifier fields, profile attributes); this module names each feature and says how it reads:
its factor family ("Purchase frequency", "Recency of purchase", "Timing of purchases"), the
direction the goal fixes for it (more purchases can only raise a "will purchase" propensity) and
the phrase its value reads in ("3 purchases in the last 90 days").
"""

from __future__ import annotations

from workbench.column_names import humanize, plural, singular
from workbench.features import (
    RECENCY_FEATURE,
    FeaturePlan,
    FeatureSpec,
    event_codes,
    feature_prefixes,
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def plan_specs(plan: FeaturePlan) -> list[FeatureSpec]:
    """Every feature of the plan with its friendly label, unit, factor family and direction."""
    specs: list[FeatureSpec] = []
    for prefix, name, family in event_codes(plan):
        specs += _event_specs(plan, prefix, name, family)
    prefixes = feature_prefixes(plan)
    specs += _field_specs(plan, prefixes)
    specs += _overall_specs(plan)
    specs += _profile_specs(plan, prefixes)
    codes = [s.code for s in specs]
    assert len(set(codes)) == len(codes), "feature_prefixes left a repeated code"
    return specs


def _event_specs(plan: FeaturePlan, prefix: str, name: str, family: str) -> list[FeatureSpec]:
    """Counts per window and ever, recency and tenure of one event type or custom event; the
    goal event's also carry a direction and the timing features."""
    many, one = plural(name), singular(name)
    freq, recency = f"{_cap(one)} frequency", f"Recency of {one}"
    goal = prefix == plan.goal_prefix
    up, down = (1, -1) if goal else (0, 0)
    specs = [
        FeatureSpec(
            f"{prefix}_count_{w}d",
            f"{_cap(many)} in the last {w} days",
            "numeric",
            family,
            many,
            freq,
            up,
            f"{{}} in the last {w} days",
        )
        for w in plan.windows
    ]
    specs += [
        FeatureSpec(
            f"{prefix}_count_ever",
            f"{_cap(many)} ever",
            "numeric",
            family,
            many,
            freq,
            up,
            "{} ever",
        ),
        FeatureSpec(
            f"{prefix}_days_since_last",
            f"Days since last {one}",
            "numeric",
            family,
            "days",
            recency,
            down,
            f"{{}} since the last {one}",
        ),
        FeatureSpec(
            f"{prefix}_days_since_first",
            f"Days since first {one}",
            "numeric",
            family,
            "days",
            "Tenure",
            0,
            f"{{}} since the first {one}",
        ),
    ]
    return specs + (_goal_timing_specs(plan, prefix, one, many, family) if goal else [])


def _goal_timing_specs(
    plan: FeaturePlan, prefix: str, one: str, many: str, family: str
) -> list[FeatureSpec]:
    """How often and how regularly the goal event happens (from the distinct days it happened
    on), how overdue the next one is, and its trend: the same on any purchase log or
    clickstream, whatever the calendar."""
    freq, timing = f"{_cap(one)} frequency", f"Timing of {many}"
    short = max((w for w in plan.windows if w < plan.lookback_days), default=plan.lookback_days)

    def spec(code, label, unit, group, direction=0, phrase=""):
        return FeatureSpec(
            f"{prefix}_{code}", label, "numeric", family, unit, group, direction, phrase
        )

    return [
        spec("days_ever", f"Days with a {one} ever", "days", freq, 1, f"{{}} with a {one}"),
        spec(
            "rate_30d",
            f"Days with a {one} per 30 days of history",
            "",
            freq,
            1,
            f"{{}} days with a {one} per 30 days of history",
        ),
        spec("gap_mean", f"Typical days between {many}", "days", timing, 0, f"{{}} between {many}"),
        spec(
            "gap_last",
            f"Days between the last two {many}",
            "days",
            timing,
            0,
            f"{{}} between the last two {many}",
        ),
        spec("gap_cv", f"Irregularity of the days between {many}", "", timing),
        spec(
            "overdue",
            f"Days since the last {one} over the usual gap",
            "",
            timing,
            0,
            f"the last {one} was {{}} usual gaps ago",
        ),
        spec(
            "trend",
            f"{_cap(many)}: last {short} days against the rest of the lookback (rate)",
            "",
            f"{_cap(one)} trend",
            0,
            f"the last {short} days at {{}}x the pace of the rest of the lookback",
        ),
    ]


def _field_specs(plan: FeaturePlan, prefixes: dict) -> list[FeatureSpec]:
    """Sums and means of numeric fields (30 days, the lookback, ever); distinct identifiers."""
    L = plan.lookback_days
    specs = []
    for f in plan.numeric_fields:
        name = humanize(f)
        for w in [*sorted({30, L}), None]:
            when, suffix = (f"in the last {w} days", f"{w}d") if w else ("ever", "ever")
            for kind, word in (("sum", "Total"), ("mean", "Average")):
                specs.append(
                    FeatureSpec(
                        f"{prefixes[('numeric', f)]}_{kind}_{suffix}",
                        f"{word} {name} {when}",
                        "numeric",
                        "numeric_field",
                        group=_cap(name),
                    )
                )
    for f in plan.id_fields:
        specs.append(
            FeatureSpec(
                f"{prefixes[('distinct', f)]}_distinct_{L}d",
                f"Distinct {humanize(f)} in the last {L} days",
                "numeric",
                "distinct",
                "values",
                f"Variety of {humanize(f)}",
                phrase=f"{{}} in the last {L} days",
            )
        )
    return specs


def _overall_specs(plan: FeaturePlan) -> list[FeatureSpec]:
    """Overall activity. With one event type that is the goal's, these describe the goal event
    itself and join its families."""
    L = plan.lookback_days
    # custom events are subsets of the events, so one event type that is the goal's means every
    # event is a goal event: the overall features read in its words and join its families
    noun, many = "event", "events"
    if len(plan.event_types) == 1 and plan.goal_prefix == event_codes(plan)[0][0]:
        many = plural(event_codes(plan)[0][1])
        noun = singular(many)
        activity, recency = f"{_cap(noun)} frequency", f"Recency of {noun}"
    else:
        activity, recency = "Overall activity", "Recency of activity"

    def spec(code, label, unit, group, direction=0, phrase=""):
        return FeatureSpec(code, label, "numeric", "overall", unit, group, direction, phrase)

    return [
        spec("events_count_30d", "Events in the last 30 days", many, activity, 1,
             "{} in the last 30 days"),
        spec(f"events_count_{L}d", f"Events in the last {L} days", many, activity, 1,
             f"{{}} in the last {L} days"),
        spec("events_count_ever", "Events ever", many, activity, 1, "{} ever"),
        spec(f"active_days_{L}d", f"Active days in the last {L} days", "days", activity, 1,
             f"{{}} active in the last {L} days"),
        spec("trend_30d_vs_prev60d", "Activity trend (last 30 days vs the 60 before)", "",
             "Activity trend", 0, "the last 30 days at {}x the pace of the 60 before"),
        spec(RECENCY_FEATURE, "Days since last event", "days", recency, -1,
             f"{{}} since the last {noun}"),
        spec("days_since_first_event", "Days since first event", "days", "Tenure", 0,
             f"{{}} since the first {noun}"),
    ]  # fmt: skip


def _profile_specs(plan: FeaturePlan, prefixes: dict) -> list[FeatureSpec]:
    specs = []
    for a in plan.profile_numeric:
        label = f"{humanize(a).capitalize()} (profile)"
        specs.append(FeatureSpec(prefixes[("profile", a)], label, "numeric", "profile"))
    for a in plan.profile_categorical:
        label = f"{humanize(a).capitalize()} (profile)"
        specs.append(FeatureSpec(prefixes[("profile", a)], label, "categorical", "profile"))
    for a in plan.profile_dates:
        specs.append(
            FeatureSpec(
                f"profile_days_since_{prefixes[('profile_date', a)]}",
                f"Days since {humanize(a)} (profile)",
                "numeric",
                "profile",
                "days",
            )
        )
    return specs
