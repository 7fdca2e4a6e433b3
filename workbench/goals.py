"""The goal language: conditions over events compiled to Ibis expressions, cutoffs, labels, eligibility.

Conditions never become `eval`, `exec`, `DataFrame.query` or SQL text: each operator maps to an
Ibis method and each value is a typed literal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from workbench.conditions import TextAsNumberError, condition_expr, conditions_expr, describe
from workbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from workbench.config import Config

DAY = 86_400


# ----------------------------------------------------------------------------- conditions


def check_fields(config: Config, columns: list[str], table=None) -> None:
    """Fail early, naming the file and key, when the goal, eligibility or custom events use an
    unknown field or (given the events `table`) a value that does not fit the field's type."""
    known = set(columns)
    groups = [
        ("goal.conditions", config.goal.conditions),
        ("eligibility.conditions", config.eligibility.conditions),
    ]
    groups += [
        (f"custom_events[{i}].conditions", c.conditions) for i, c in enumerate(config.custom_events)
    ]
    for key, conds in groups:
        for i, cond in enumerate(conds):
            if cond.field not in known:
                available = ", ".join(sorted(c for c in columns if not c.startswith("_")))
                raise ConfigError(
                    f"{config.where()}: {key}[{i}].field: unknown field '{cond.field}'; available fields: {available}"
                )
            if table is not None:
                try:
                    condition_expr(table, cond, f"{key}[{i}]")
                except TextAsNumberError as exc:
                    text = str(exc) if _reads_csv(config) else exc.message
                    raise ConfigError(f"{config.where()}: {text}") from None
                except ConfigError as exc:
                    raise ConfigError(f"{config.where()}: {exc}") from None


def _reads_csv(config: Config) -> bool:
    """Whether the events come from csv/text files (the decimal-comma option applies)."""
    from workbench.ingest.sources import list_files

    events = config.events
    if events.path is None:
        return False
    try:
        return list_files(events.path, events.format).fmt == "csv"
    except (ConfigError, DataError):
        return False


def describe_goal(config: Config) -> str:
    """The goal in plain words, e.g. 'will purchase within 30 days'."""
    goal = config.goal
    joiner = " and " if goal.match == "all" else " or "
    conds = joiner.join(describe(c) for c in goal.conditions)
    verb = "has an" if goal.outcome == "occurs" else "has no"
    return f"{verb} event where {conds} within {goal.window_days} days of the cutoff"


# ----------------------------------------------------------------------------- cutoffs
@dataclass
class CutoffPlan:
    """When each snapshot is taken. Times are midnight UTC (naive pandas Timestamps).

    `origins` are the rolling validation origins, newest first: each is a fold's out-of-time
    validation snapshot, and fold k trains on every labelled cutoff whose outcome window closes
    before its origin (`fold_training`). Every labelled cutoff has its whole outcome window
    before `as_of`, so the final model trains on them all.
    """

    as_of: pd.Timestamp
    origins: list[pd.Timestamp]
    training: list[pd.Timestamp]  # the other labelled cutoffs, oldest first
    window_days: int

    @property
    def validation(self) -> pd.Timestamp:
        """The newest origin: the snapshot a single out-of-time split would validate on."""
        return self.origins[0]

    @property
    def labelled(self) -> list[pd.Timestamp]:
        """Every labelled cutoff (training cutoffs and origins), oldest first."""
        return sorted(set(self.training) | set(self.origins))

    def fold_training(self, origin) -> list[pd.Timestamp]:
        """The cutoffs fold `origin` trains on: their outcome windows close by the origin."""
        window = pd.Timedelta(days=self.window_days)
        return [c for c in self.labelled if c + window <= to_day(origin)]

    def role(self, cutoff) -> str:
        """validation (an origin; also a training cutoff of newer folds), training or scoring."""
        day = to_day(cutoff)
        if any(day == to_day(o) for o in self.origins):
            return "validation"
        if day == to_day(self.as_of):
            return "scoring"
        return "training" if any(day == to_day(c) for c in self.training) else "unused"


def to_day(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def parse_day(value, what: str = "date") -> pd.Timestamp:
    """A day given by the user (`--as-of`, `--at`, an `as_of` argument): YYYY-MM-DD, or an ISO
    time (read in UTC), as midnight UTC; anything else is one line naming `what` and the value
    (pandas would read 'today' or '1/2/3' as some date, or fail with a traceback)."""
    if isinstance(value, dt.date | pd.Timestamp):
        return to_day(value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ConfigError(f"{what} is empty: write a date as YYYY-MM-DD")
    try:
        return to_day(dt.datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise ConfigError(f"{what} {text}: not a date; write it as YYYY-MM-DD") from None


def default_as_of(last_event) -> pd.Timestamp:
    """The day after the last event."""
    return to_day(last_event) + pd.Timedelta(days=1)


def plan_cutoffs(config: Config, as_of, first_event=None) -> CutoffPlan:
    """Rolling origins o_k = as_of - window - k * step_days (k < validation_folds), and a
    training cutoff every `cutoff_every_days` back from o_0 to (snapshots - 1) * step_days
    before the oldest origin, or two outcome windows and two cutoffs if that is more (cutoffs
    before the first event are dropped). An older origin without a training cutoff before it is
    dropped; o_0 must have one."""
    as_of, t = to_day(as_of), config.training
    window, step = pd.Timedelta(days=config.goal.window_days), pd.Timedelta(days=t.step_days)
    o0 = as_of - window
    first = to_day(first_event) if first_event is not None else None
    if first is not None and o0 <= first:
        raise ConfigError(
            f"{config.where()}: scoring.as_of {as_of.date()} leaves no history before the validation "
            f"cutoff {o0.date()} (first event {first.date()})"
        )
    origins = [o0 - k * step for k in range(t.validation_folds)]
    every = pd.Timedelta(days=t.cutoff_every_days)
    # the oldest fold's own hold-out needs two windows of cutoffs before it (its first model
    # trains on cutoffs whose outcome window closes before the hold-out's)
    oldest = origins[-1] - max((t.snapshots - 1) * step, 2 * window + 2 * every)
    grid = {o0 - j * every for j in range(1, (o0 - oldest) // every + 1)} | set(origins[1:])
    grid = {c for c in grid if first is None or c > first}
    origins = [o for o in origins if o == o0 or (o in grid and any(c + window <= o for c in grid))]
    if not any(c + window <= o0 for c in grid):
        need = -(-config.goal.window_days // t.step_days) - t.validation_folds + 2
        raise ConfigError(
            f"{config.where()}: training: no training cutoff fits before the validation cutoff {o0.date()} "
            f"(window_days={config.goal.window_days}, step_days={t.step_days}, "
            f"snapshots={t.snapshots}); use snapshots >= {max(need, 2)}, a larger step_days, or a later as_of"
        )
    training = sorted(grid - set(origins))
    return CutoffPlan(as_of, origins, training, config.goal.window_days)


def resolve_as_of(
    config: Config, override: str | dt.date | None, first_event, last_event
) -> pd.Timestamp:
    """The scoring date: CLI override, else the config, else the day after the last event."""
    if override:
        as_of = parse_day(override, "as_of")
    elif config.scoring.as_of:
        as_of = to_day(config.scoring.as_of)
    else:
        as_of = default_as_of(last_event)
    if as_of <= to_day(first_event):
        raise DataError(
            f"{config.where()}: scoring.as_of {as_of.date()} is before any data (first event {to_day(first_event).date()})"
        )
    return as_of


def cutoff_table(cutoffs: list[pd.Timestamp]):
    """Cutoffs as a small Ibis memtable of epoch seconds (integer arithmetic works on every backend)."""
    secs = [int(to_day(c).timestamp()) for c in cutoffs]
    return ibis.memtable(pd.DataFrame({"cutoff_s": pd.Series(secs, dtype="int64")}))


def with_seconds(events):
    """Events with `_t` = epoch seconds of the timestamp (used by every window test)."""
    return events.mutate(_t=events.timestamp.epoch_seconds().cast("int64"))


# ----------------------------------------------------------------------------- labels
def goal_hits(events, config: Config, cutoffs: list[pd.Timestamp]):
    """(profile_id, cutoff_s, goal_events): goal events in [c, c + window) per profile and cutoff."""
    ev = with_seconds(events)
    goal = config.goal
    hits = ev.filter(conditions_expr(ev, goal.conditions, goal.match, "goal.conditions"))
    hits = hits.select("profile_id", "_t")
    cuts = cutoff_table(cutoffs)
    window = goal.window_days * DAY
    joined = hits.join(cuts, [hits._t >= cuts.cutoff_s, hits._t < cuts.cutoff_s + window])
    return joined.group_by(["profile_id", "cutoff_s"]).aggregate(goal_events=joined.count())


def label_from_hits(goal_events, outcome: str):
    """Goal events in the window -> 0/1 label (1 = churned for does_not_occur)."""
    occurred = goal_events.fill_null(0) > 0
    return (occurred if outcome == "occurs" else ~occurred).cast("int8")


# ----------------------------------------------------------------------------- eligibility
def eligibility_aggregates(joined, config: Config) -> dict[str, Any]:
    """Aggregates over events before the cutoff (joined to cutoffs) that decide eligibility."""
    elig = config.eligibility
    span = (
        joined._t >= joined.cutoff_s - elig.active_within_days * DAY
        if elig.active_within_days
        else None
    )
    aggs = {}
    if span is not None:
        aggs["_recent_events"] = joined.count(where=span)
    if elig.conditions:
        cond = conditions_expr(joined, elig.conditions, "all", "eligibility.conditions")
        aggs["_eligible_events"] = joined.count(where=(cond & span) if span is not None else cond)
    return aggs


def eligible_filter(table):
    pred = ibis.literal(True)
    if "_recent_events" in table.columns:
        pred = pred & (table._recent_events > 0)
    if "_eligible_events" in table.columns:
        pred = pred & (table._eligible_events > 0)
    return pred


def eligible_profiles(events, config: Config, cutoffs: list[pd.Timestamp]):
    """(profile_id, cutoff_s) of profiles eligible at each cutoff, using events strictly before it.

    The same rule as the snapshots' (`eligibility_aggregates`), joining only the events that
    decide it: those in the activity span before each cutoff (a two-sided range join), or with
    no span each profile's first (eligible) event, so a dense cutoff grid costs little."""
    ev = with_seconds(events)
    elig = config.eligibility
    if elig.conditions:
        ev = ev.filter(conditions_expr(ev, elig.conditions, "all", "eligibility.conditions"))
    cuts = cutoff_table(cutoffs)
    if elig.active_within_days:
        span = elig.active_within_days * DAY
        joined = ev.join(cuts, [ev._t < cuts.cutoff_s, ev._t >= cuts.cutoff_s - span])
        return joined.select("profile_id", "cutoff_s").distinct()
    first = ev.group_by("profile_id").aggregate(_first=ev._t.min())
    joined = first.join(cuts, first._first < cuts.cutoff_s)
    return joined.select("profile_id", "cutoff_s")


def eligible_labels(events, config: Config, cutoffs: list[pd.Timestamp]):
    """(profile_id, cutoff_s, label) for every profile eligible at each cutoff (no features)."""
    elig = eligible_profiles(events, config, cutoffs)
    hits = goal_hits(events, config, cutoffs)
    joined = elig.left_join(hits, ["profile_id", "cutoff_s"])
    return joined.select(
        elig.profile_id,
        elig.cutoff_s,
        label=label_from_hits(joined.goal_events, config.goal.outcome),
    )


def goal_counts(events, config: Config, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """Eligible profiles, positives, negatives and base rate per cutoff (fast: no features)."""
    labelled = eligible_labels(events, config, cutoffs)
    counts = (
        labelled.group_by("cutoff_s")
        .aggregate(eligible=labelled.count(), positives=labelled.label.sum().cast("int64"))
        .to_pandas()
    )
    frame = pd.DataFrame({"cutoff_s": [int(to_day(c).timestamp()) for c in cutoffs]})
    frame = frame.merge(counts, on="cutoff_s", how="left").fillna(0)
    frame["cutoff"] = pd.to_datetime(frame["cutoff_s"], unit="s")
    frame["eligible"] = frame["eligible"].astype("int64")
    frame["positives"] = frame["positives"].astype("int64")
    frame["negatives"] = frame["eligible"] - frame["positives"]
    frame["base_rate"] = (
        frame["positives"] / frame["eligible"].where(frame["eligible"] > 0)
    ).astype(float)
    return frame[["cutoff", "eligible", "positives", "negatives", "base_rate"]]


def counts_by_role(
    events, config: Config, plan: CutoffPlan, *, with_scoring: bool = False
) -> pd.DataFrame:
    """`goal_counts` for the labelled cutoffs with a `role` column (training / validation), and
    with `with_scoring` the scoring date's row (eligible profiles; no labels yet: NA)."""
    cutoffs = plan.labelled + ([plan.as_of] if with_scoring else [])
    counts = goal_counts(events, config, cutoffs)
    counts.insert(1, "role", counts["cutoff"].map(lambda c: plan.role(c)))
    if with_scoring:
        scoring = (counts["role"] == "scoring").to_numpy()
        # At the scoring date the outcome window is in the future: no labels yet.
        counts["positives"] = counts["positives"].astype("Int64").mask(scoring)
        counts["negatives"] = counts["negatives"].astype("Int64").mask(scoring)
        counts.loc[scoring, "base_rate"] = float("nan")
    return counts


def goal_hints(events, config: Config) -> list[str]:
    """When no event at all meets the goal: which `==`/`in` text values never occur, with the
    values that come closest ('Purchase' for 'purchase'). Empty when some event meets it."""
    import difflib

    goal = config.goal
    hits = events.filter(conditions_expr(events, goal.conditions, goal.match, "goal.conditions"))
    if int(hits.count().to_pyarrow().as_py()):
        return []
    hints = []
    for cond in goal.conditions:
        if cond.op not in ("==", "in") or not events[cond.field].type().is_string():
            continue
        wanted = [str(v) for v in (cond.value if cond.op == "in" else [cond.value])]
        col = events[cond.field]
        present = events.filter(col.isin(wanted)).select(col.name("v")).distinct().to_pandas()
        absent = [v for v in wanted if v not in set(present["v"])]
        if not absent:
            continue
        top = (
            events.group_by(col.name("v")).aggregate(n=events.count()).order_by(ibis.desc("n"))
        ).limit(500)
        values = [str(v) for v in top.to_pandas()["v"] if v is not None]
        for value in absent:
            lower = {v.lower(): v for v in values}
            close = [lower[value.lower()]] if value.lower() in lower else []
            close += difflib.get_close_matches(value, values, n=3, cutoff=0.6)
            close = list(dict.fromkeys(close))
            shown = (
                f"did you mean {', '.join(repr(c) for c in close)}?"
                if close
                else f"its most frequent values are {', '.join(values[:6])}"
            )
            hints.append(f"{cond.field} == {value!r} never occurs in the events; {shown}")
    if not hints and goal.conditions:
        hints.append("no event meets all the goal's conditions at once")
    return hints
