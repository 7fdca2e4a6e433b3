"""Automatic, point-in-time features and the snapshots models learn from.

For a cutoff `c`, features use only events with `timestamp < c` (and profile attributes); the label
uses only the outcome window `[c, c + window_days)`. Everything is one set-based Ibis expression
(events range-joined to the cutoffs, then grouped by profile and cutoff), so any Ibis backend runs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pandas as pd

from workbench.errors import ConfigError
from workbench.goals import (
    DAY,
    conditions_expr,
    cutoff_table,
    eligible_filter,
    goal_hits,
    label_from_hits,
    to_day,
    with_seconds,
)

if TYPE_CHECKING:
    from workbench.config import Config

PERSONAL_DATA = re.compile(
    r"(^|[._\s])(e?_?mail|email\w*|phone\w*|mobile|name|first_?name|last_?name|full_?name|"
    r"surname|address\w*|street|postcode|zip_?code|ssn|birth_?date|date_?of_?birth|ip_?address)$",
    re.IGNORECASE,
)

def is_personal_data(column: str) -> bool:
    """Columns named like personal data (email, phone, name, address) are never features."""
    last = column.split(".")[-1]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", last).lower()
    tokens = set(re.split(r"[_\s\-]+", snake))
    return bool(
        tokens
        & {
            "email",
            "mail",
            "phone",
            "mobile",
            "name",
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "address",
            "street",
            "postcode",
            "zipcode",
            "ssn",
            "birthdate",
            "dob",
            "ip",
        }
    ) or bool(PERSONAL_DATA.search(snake))


RECENCY_FEATURE = "days_since_last_event"
COUNT_WINDOWS = (7, 30, 90)
MAX_EVENT_TYPES = 30
MAX_PROFILE_LEVELS = 50


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: `code` is the snapshot column, `label` the name an analyst reads."""

    code: str
    label: str
    kind: Literal["numeric", "categorical"] = "numeric"
    family: str = "event"
    unit: str = ""


def specs_to_json(specs: list[FeatureSpec], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([asdict(s) for s in specs], indent=2))
    return path


def specs_from_json(path: str | Path) -> list[FeatureSpec]:
    return [FeatureSpec(**d) for d in json.loads(Path(path).read_text())]


IDENTIFIER_WORDS = {
    "id", "ids", "uuid", "guid", "sku", "key", "code", "zip", "zipcode", "postcode", "postal",
    "prefix", "ean", "upc", "isbn", "gtin",
}  # fmt: skip
# "order_number", "invoice_no": an entity followed by a number word names an identifier too
# ("visit_number", "buy_num" are counts, so only these entities qualify).
NUMBER_WORDS = {"number", "no", "nr", "num"}
NUMBERED_ENTITIES = {
    "order", "invoice", "transaction", "account", "customer", "member", "product", "item",
    "ticket", "receipt", "contract", "policy", "serial", "part", "article", "card", "store",
    "shop", "loyalty", "reference", "ref", "tracking", "batch", "lot",
}  # fmt: skip
# Whole-word entity names glued to "id" as real exports write them: `itemid`, `visitorid`.
_GLUED_ID = re.compile(
    r"(item|visitor|user|customer|client|session|transaction|order|product|invoice|account|"
    r"member|device|store|shop|event|category|page|campaign|merchant|seller|vendor|brand|cart|"
    r"basket|visit|hit|household|contact|lead|person|profile|stock|article|offer|coupon|promo)"
    r"(id|ids|no|nr|num|code|key)$"
)
_TIME_WORDS = {
    "timestamp",
    "ts",
    "epoch",
    "date",
    "datetime",
    "at",
}  # not "time": watch_time is a duration


def _words(column: str) -> list[str]:
    """`items.orderNumber` -> ["order", "number"]: the last path part's lowercase words."""
    last = column.split(".")[-1]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", last).lower()
    return [w for w in re.split(r"[^0-9a-z]+", snake) if w]


def looks_like_identifier(column: str) -> bool:
    """`product_id`, `categoryId`, `item.SKU`, `itemid`, `InvoiceNo`, `zip_code_prefix` name
    identifiers even when stored as numbers."""
    words = _words(column)
    if not words:
        return False
    last = words[-1]
    return (
        last in IDENTIFIER_WORDS
        or (last in NUMBER_WORDS and len(words) > 1 and words[-2] in NUMBERED_ENTITIES)
        or bool(_GLUED_ID.search(last))
    )


def looks_like_time(column: str) -> bool:
    """`event_timestamp`, `created_at`, `orderDate`: a point in time stored as a number; its
    sum or mean drifts with the calendar, so it is never a quantity feature."""
    words = _words(column)
    if len(words) >= 2 and words[-2] == "to":  # spend_to_date is an amount
        return False
    return bool(words) and (words[-1] in _TIME_WORDS or words[0] in {"timestamp", "epoch"})


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower() or "x"


# Event names real exports glue together (RetailRocket, GA, Adobe): spelt out for labels.
_GLUED_WORDS = {
    "addtocart": "add to cart",
    "removefromcart": "remove from cart",
    "pageview": "page view",
    "pageviews": "page views",
    "productview": "product view",
    "productviews": "product views",
    "productlistviews": "product list views",
    "screenview": "screen view",
    "linkclicks": "link clicks",
}


def humanize(name: str) -> str:
    """`web.webpagedetails.pageViews` -> `page views`; `dollar_value` -> `dollar value`;
    `addtocart` -> `add to cart`."""
    last = name.split(".")[-1]
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", last)
    text = re.sub(r"[_\-\s]+", " ", words).strip().lower() or name
    return " ".join(_GLUED_WORDS.get(w, w) for w in text.split(" "))


def plural(phrase: str) -> str:
    """`view` -> `views`, `search` -> `searches`, `purchases` stays; a phrase that is not a
    noun (`add to cart`) counts `add to cart events`."""
    head, _, last = phrase.rpartition(" ")
    if set(phrase.split(" ")) & {"to", "from", "of", "on", "in"}:
        return f"{phrase} events"
    if last.endswith("s") or not last.isalpha():
        return phrase
    if last.endswith(("ch", "sh", "x", "z")):
        last += "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()


def singular(phrase: str) -> str:
    """`purchases` -> `purchase`, `page views` -> `page view` (for "days since last ...")."""
    head, _, last = phrase.rpartition(" ")
    if last in {"news", "series", "species", "status", "analytics", "sales"}:
        pass
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "sses", "xes", "zes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return f"{head} {last}".strip()


@dataclass
class FeaturePlan:
    """Which feature families apply to these events and profiles (decided once, before any cutoff)."""

    event_types: list[str]
    custom_events: list[Any]
    numeric_fields: list[str]
    id_fields: list[str]
    profile_numeric: list[str] = field(default_factory=list)
    profile_categorical: dict[str, list[str]] = field(default_factory=dict)
    profile_dates: list[str] = field(default_factory=list)
    lookback_days: int = 365
    notices: list[str] = field(default_factory=list)
    specs: list[FeatureSpec] = field(default_factory=list)

    @property
    def windows(self) -> list[int]:
        return sorted({w for w in COUNT_WINDOWS if w < self.lookback_days} | {self.lookback_days})


def plan_features(events, config: Config, profiles=None, before=None) -> FeaturePlan:
    """Inspect column types and event types (events before `before` only) and name every feature."""
    excluded = set(config.features.exclude)
    identifiers = set(config.features.identifiers)
    quantities = set(config.features.quantities)
    columns = set(events.columns) | (set(profiles.columns) if profiles is not None else set())
    for key, listed in (("features.identifiers", identifiers), ("features.quantities", quantities)):
        unknown = sorted(listed - columns)
        if unknown:
            available = ", ".join(sorted(c for c in columns if not c.startswith("_")))
            raise ConfigError(
                f"{config.where()}: {key}: unknown column(s) {unknown}; available: {available}"
            )
    notices: list[str] = []
    canonical = {"profile_id", "timestamp", "event_type"}
    dedupe_keys = set(config.events.dedupe) if isinstance(config.events.dedupe, list) else set()
    scope = events
    if before is not None:
        scope = events.filter(events.timestamp < pd.Timestamp(before).to_pydatetime())
    type_counts = (
        scope.group_by("event_type").aggregate(n=scope.count()).order_by(ibis.desc("n")).to_pandas()
    )
    event_types = [str(t) for t in type_counts["event_type"]][:MAX_EVENT_TYPES]
    if len(type_counts) > MAX_EVENT_TYPES:
        notices.append(
            f"only the {MAX_EVENT_TYPES} most frequent of {len(type_counts)} event types get their own features"
        )
    schema = events.schema()
    numeric, strings = [], []
    for name in schema.names:
        if name in canonical or name.startswith("_") or name in excluded:
            continue
        if is_personal_data(name):
            notices.append(f"column '{name}' looks like personal data and is not used as a feature")
            continue
        dtype = schema[name]
        if name in dedupe_keys:
            continue
        if dtype.is_string() or (
            dtype.is_numeric()
            and (name in identifiers or (looks_like_identifier(name) and name not in quantities))
        ):
            # Product or category ids are labels, not quantities: count distinct values, never sum them.
            strings.append(name)
            if dtype.is_numeric() and name not in identifiers:
                notices.append(
                    f"column '{name}' looks like an identifier: treated as a label (distinct counts), not "
                    "summed (features.quantities lists columns to sum instead)"
                )
        elif dtype.is_numeric() and looks_like_time(name) and name not in quantities:
            notices.append(
                f"column '{name}' looks like a point in time stored as a number and is not used "
                "as a feature (map it as events.timestamp, or list it in features.quantities)"
            )
        elif dtype.is_boolean() or dtype.is_numeric():
            numeric.append(name)
    id_fields = []
    if strings:
        stats = (
            scope.aggregate(
                _rows=scope.count(),
                **{f"n{i}": scope[c].approx_nunique() for i, c in enumerate(strings)},
            )
            .to_pandas()
            .iloc[0]
        )
        rows = max(int(stats["_rows"]), 1)
        for i, c in enumerate(strings):
            distinct = int(stats[f"n{i}"] or 0)
            # Row identifiers (nearly one value per event) carry no behaviour; skip them.
            if 2 <= distinct <= 0.5 * rows:
                id_fields.append(c)
    plan = FeaturePlan(
        event_types=event_types,
        custom_events=list(config.custom_events),
        numeric_fields=numeric,
        id_fields=id_fields,
        lookback_days=config.features.lookback_days,
        notices=notices,
    )
    if profiles is not None:
        _plan_profile_features(plan, profiles, excluded, identifiers, quantities)
    plan.specs = _specs(plan)
    return plan


def _plan_profile_features(
    plan: FeaturePlan,
    profiles,
    excluded: set[str],
    identifiers: set[str] = frozenset(),  # type: ignore[assignment]
    quantities: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    schema = profiles.schema()
    for name in schema.names:
        if name == "profile_id" or name in excluded:
            continue
        if is_personal_data(name):
            plan.notices.append(
                f"profile column '{name}' looks like personal data and is not used as a feature"
            )
            continue
        dtype = schema[name]
        # a zip prefix or store number is a label even when stored as a number
        id_like = dtype.is_numeric() and (
            name in identifiers or (looks_like_identifier(name) and name not in quantities)
        )
        if dtype.is_timestamp() or dtype.is_date():
            plan.profile_dates.append(name)
        elif (dtype.is_boolean() or dtype.is_numeric()) and not id_like:
            plan.profile_numeric.append(name)
        elif dtype.is_string() or id_like:
            # the levels are the text the snapshot's cast gives, so an id read back as a float
            # ("1234.0" in pandas) still matches the snapshot's "1234"
            levels = (
                profiles.group_by(profiles[name].cast("string").name(name))
                .aggregate(n=profiles.count())
                .order_by(ibis.desc("n"))
                .limit(MAX_PROFILE_LEVELS + 1)
            ).to_pandas()
            values = [str(v) for v in levels[name] if v is not None and not pd.isna(v)]
            if len(values) > MAX_PROFILE_LEVELS:
                plan.notices.append(
                    f"profile column '{name}' has more than {MAX_PROFILE_LEVELS} values; "
                    "only the most frequent are kept, the rest become 'other'"
                )
                values = values[:MAX_PROFILE_LEVELS]
            plan.profile_categorical[name] = sorted(values)


def _event_codes(plan: FeaturePlan) -> list[tuple[str, str, str]]:
    """(code prefix, friendly name, kind) for each event type and custom event."""
    names = [humanize(t) for t in plan.event_types]
    out = []
    for t, name in zip(plan.event_types, names, strict=True):
        friendly = name if names.count(name) == 1 else t
        out.append((slug(t), friendly, "event_type"))
    for ce in plan.custom_events:
        out.append((f"custom_{slug(ce.name)}", ce.name, "custom_event"))
    return out


def _specs(plan: FeaturePlan) -> list[FeatureSpec]:
    L = plan.lookback_days
    specs: list[FeatureSpec] = []
    for prefix, name, family in _event_codes(plan):
        many = plural(name)
        cap = many[:1].upper() + many[1:]
        for w in plan.windows:
            specs.append(
                FeatureSpec(
                    f"{prefix}_count_{w}d",
                    f"{cap} in the last {w} days",
                    "numeric",
                    family,
                    "events",
                )
            )
        specs.append(
            FeatureSpec(
                f"{prefix}_days_since_last",
                f"Days since last {singular(name)}",
                "numeric",
                family,
                "days",
            )
        )
        specs.append(
            FeatureSpec(
                f"{prefix}_days_since_first",
                f"Days since first {singular(name)}",
                "numeric",
                family,
                "days",
            )
        )
    for f in plan.numeric_fields:
        name = humanize(f)
        for w in sorted({30, L}):
            specs.append(
                FeatureSpec(
                    f"{slug(f)}_sum_{w}d",
                    f"Total {name} in the last {w} days",
                    "numeric",
                    "numeric_field",
                )
            )
            specs.append(
                FeatureSpec(
                    f"{slug(f)}_mean_{w}d",
                    f"Average {name} in the last {w} days",
                    "numeric",
                    "numeric_field",
                )
            )
    for f in plan.id_fields:
        specs.append(
            FeatureSpec(
                f"{slug(f)}_distinct_{L}d",
                f"Distinct {humanize(f)} in the last {L} days",
                "numeric",
                "distinct",
                "values",
            )
        )
    specs += [
        FeatureSpec(
            "events_count_30d", "Events in the last 30 days", "numeric", "overall", "events"
        ),
        FeatureSpec(
            f"events_count_{L}d", f"Events in the last {L} days", "numeric", "overall", "events"
        ),
        FeatureSpec(
            f"active_days_{L}d", f"Active days in the last {L} days", "numeric", "overall", "days"
        ),
        FeatureSpec(
            "trend_30d_vs_prev60d",
            "Activity trend (last 30 days vs the 60 before)",
            "numeric",
            "overall",
            "ratio",
        ),
        FeatureSpec(RECENCY_FEATURE, "Days since last event", "numeric", "overall", "days"),
        FeatureSpec(
            "days_since_first_event", "Days since first event", "numeric", "overall", "days"
        ),
    ]
    for a in plan.profile_numeric:
        specs.append(
            FeatureSpec(
                f"profile_{slug(a)}", f"{humanize(a).capitalize()} (profile)", "numeric", "profile"
            )
        )
    for a in plan.profile_categorical:
        specs.append(
            FeatureSpec(
                f"profile_{slug(a)}",
                f"{humanize(a).capitalize()} (profile)",
                "categorical",
                "profile",
            )
        )
    for a in plan.profile_dates:
        specs.append(
            FeatureSpec(
                f"profile_days_since_{slug(a)}",
                f"Days since {humanize(a)} (profile)",
                "numeric",
                "profile",
                "days",
            )
        )
    seen: set[str] = set()
    unique = []
    for s in specs:
        code = s.code
        i = 2
        while code in seen:
            code = f"{s.code}_{i}"
            i += 1
        seen.add(code)
        unique.append(s if code == s.code else FeatureSpec(code, s.label, s.kind, s.family, s.unit))
    return unique


def _aggregate_features(joined, plan: FeaturePlan, config: Config):
    """Every event feature and eligibility count per (profile_id, cutoff_s), from `joined`
    (events strictly before each cutoff, one row per event and cutoff).

    Two aggregations instead of one wide one, because ~80 conditional aggregates over every
    event row were most of the snapshot time:

    - per (profile, cutoff, event type, custom-event and eligibility flags): a handful of
      window counts, sums and ages; then per (profile, cutoff) each feature is a conditional
      aggregate over those few rows (a profile has a few types, not thousands of events);
    - distinct counts (ids, active days), which do not add up across types, in their own
      aggregation over the lookback's rows.

    The values are those of the direct conditional aggregates (counts and ages exactly; means
    as sum / count).
    """
    L = plan.lookback_days
    elig = config.eligibility
    windows = sorted(set(plan.windows) | {30, 90, L})
    codes = _event_codes(plan)
    age = joined.cutoff_s - joined._t  # seconds before the cutoff, always > 0 here
    keyed = {
        "_et": joined.event_type.isin(plan.event_types).ifelse(
            joined.event_type, ibis.null().cast("string")
        )
    }
    for i, ce in enumerate(plan.custom_events):
        keyed[f"_ce{i}"] = conditions_expr(
            joined, ce.conditions, ce.match, f"custom_events[{i}].conditions"
        )
    if elig.conditions:
        keyed["_elig"] = conditions_expr(joined, elig.conditions, "all", "eligibility.conditions")
    rows = joined.mutate(_age=age, **keyed)

    per_kind: dict[str, Any] = {f"_n{w}": rows.count(where=rows._age <= w * DAY) for w in windows}
    per_kind["_n"] = rows.count()
    per_kind["_prev60"] = rows.count(where=(rows._age > 30 * DAY) & (rows._age <= 90 * DAY))
    per_kind["_last"] = rows._age.min()
    per_kind["_first"] = rows._age.max()
    if elig.active_within_days:
        per_kind["_recent"] = rows.count(where=rows._age <= elig.active_within_days * DAY)
    for j, f in enumerate(plan.numeric_fields):
        value = rows[f].cast("float64")
        for w in sorted({30, L}):
            per_kind[f"_s{j}_{w}"] = value.sum(where=rows._age <= w * DAY)
            per_kind[f"_k{j}_{w}"] = value.count(where=rows._age <= w * DAY)
    kinds = rows.group_by(["profile_id", "cutoff_s", *keyed]).aggregate(**per_kind)

    k = kinds
    is_kind = [k._et == t for t in plan.event_types]
    is_kind += [k[f"_ce{i}"] for i in range(len(plan.custom_events))]
    aggs: dict[str, Any] = {}
    for (prefix, _, _), match in zip(codes, is_kind, strict=True):
        for w in plan.windows:
            aggs[f"{prefix}_count_{w}d"] = k[f"_n{w}"].sum(where=match).fill_null(0)
        aggs[f"{prefix}_days_since_last"] = k._last.min(where=match) / DAY
        aggs[f"{prefix}_days_since_first"] = k._first.max(where=match) / DAY
    for j, f in enumerate(plan.numeric_fields):
        for w in sorted({30, L}):
            total, count = k[f"_s{j}_{w}"].sum(), k[f"_k{j}_{w}"].sum()
            aggs[f"{slug(f)}_sum_{w}d"] = total
            aggs[f"{slug(f)}_mean_{w}d"] = (count > 0).ifelse(
                total / count.cast("float64"), ibis.null().cast("float64")
            )
    aggs["events_count_30d"] = k._n30.sum()
    aggs[f"events_count_{L}d"] = k[f"_n{L}"].sum()
    aggs["_events_prev60d"] = k._prev60.sum()
    aggs[RECENCY_FEATURE] = k._last.min() / DAY
    aggs["days_since_first_event"] = k._first.max() / DAY
    if elig.active_within_days:
        aggs["_recent_events"] = k._recent.sum()
    if elig.conditions:
        counted = k._recent if elig.active_within_days else k._n
        aggs["_eligible_events"] = counted.sum(where=k._elig).fill_null(0)
    features = kinds.group_by(["profile_id", "cutoff_s"]).aggregate(**aggs)

    recent = rows.filter(rows._age <= L * DAY)
    distinct = {f"{slug(f)}_distinct_{L}d": recent[f].nunique() for f in plan.id_fields}
    distinct[f"active_days_{L}d"] = (recent._t // DAY).nunique()
    counts = recent.group_by(["profile_id", "cutoff_s"]).aggregate(**distinct)
    both = features.left_join(counts, ["profile_id", "cutoff_s"])
    return both.select(
        *[both[c] for c in features.columns],
        **{c: both[c].fill_null(0) for c in distinct},
    )


def snapshot_expr(
    events,
    config: Config,
    cutoffs: list,
    plan: FeaturePlan,
    profiles=None,
    with_label: bool = True,
    keep: Callable[[Any], Any] | None = None,
):
    """The snapshot as one Ibis expression: one row per eligible profile per cutoff.

    `keep(table)`: a predicate on `profile_id` and `cutoff_s` only (the training sample). It is
    applied to the event rows before they are aggregated, so a sampled-out (profile, cutoff)
    costs nothing, and it selects exactly the rows that filtering the result would.
    """
    ev = with_seconds(events)
    cuts = cutoff_table(cutoffs)
    joined = ev.join(cuts, ev._t < cuts.cutoff_s)
    if keep is not None:
        joined = joined.filter(keep(joined))
    grouped = _aggregate_features(joined, plan, config)
    table = grouped.filter(eligible_filter(grouped))
    table = table.mutate(
        trend_30d_vs_prev60d=(table.events_count_30d + 1) / (table._events_prev60d / 2.0 + 1)
    )
    if with_label:
        hits = goal_hits(events, config, cutoffs)
        joined = table.left_join(hits, ["profile_id", "cutoff_s"])
        # A left join keeps the right keys as `*_right`; drop them so a later join can't collide.
        table = joined.select(
            *[joined[c] for c in table.columns],
            label=label_from_hits(joined.goal_events, config.goal.outcome),
        )
    if profiles is not None and (
        plan.profile_numeric or plan.profile_categorical or plan.profile_dates
    ):
        attrs = [profiles.profile_id]
        for a in plan.profile_numeric:
            attrs.append(profiles[a].cast("float64").name(f"profile_{slug(a)}"))
        for a in plan.profile_categorical:
            attrs.append(profiles[a].cast("string").name(f"profile_{slug(a)}"))
        for a in plan.profile_dates:
            attrs.append(
                profiles[a].cast("timestamp").epoch_seconds().cast("int64").name(f"_date_{slug(a)}")
            )
        table = table.left_join(profiles.select(attrs), "profile_id")
        for a in plan.profile_dates:
            table = table.mutate(
                **{
                    f"profile_days_since_{slug(a)}": (table.cutoff_s - table[f"_date_{slug(a)}"])
                    / DAY
                }
            )
    columns = ["profile_id", "cutoff_s"] + [s.code for s in plan.specs]
    if with_label:
        columns.append("label")
    return table.select(columns)


def finish_frame(frame: pd.DataFrame, plan: FeaturePlan, with_label: bool = True) -> pd.DataFrame:
    """Engine output -> the snapshot frame contract (UTC cutoff, float64 numerics, categories)."""
    frame = frame.copy()
    frame.insert(
        1,
        "cutoff",
        pd.to_datetime(frame.pop("cutoff_s"), unit="s", utc=True).astype("datetime64[ns, UTC]"),
    )
    frame["profile_id"] = frame["profile_id"].astype(str)
    for spec in plan.specs:
        if spec.kind == "numeric":
            col = frame[spec.code].astype("float64")
            if (
                spec.code.endswith(tuple(f"_count_{w}d" for w in plan.windows))
                or "_sum_" in spec.code
                or "_distinct_" in spec.code
            ):
                col = col.fillna(0.0)
            frame[spec.code] = col
        else:
            levels = plan.profile_categorical.get(_profile_source(plan, spec.code), [])
            values = frame[spec.code].astype("object")
            known = values.isin(levels) | values.isna()
            values = values.where(known, "other")
            cats = levels + (["other"] if (~known).any() or "other" not in levels else [])
            frame[spec.code] = pd.Categorical(values, categories=list(dict.fromkeys(cats)))
    if with_label:
        frame["label"] = frame["label"].astype("int8")
    frame = frame.sort_values(["cutoff", "profile_id"], kind="stable").reset_index(drop=True)
    return frame


def _profile_source(plan: FeaturePlan, code: str) -> str:
    for a in plan.profile_categorical:
        if f"profile_{slug(a)}" == code:
            return a
    return code


def sample_predicate(fraction: float, exempt_s: int, seed: int) -> Callable[[Any], Any]:
    """The training sample as a predicate on a table with `profile_id` and `cutoff_s`.

    A hash of (profile, cutoff, seed) keeps the same fraction of every (cutoff, label) stratum in
    expectation, deterministically, without a pass through pandas; rows at the exempt cutoff
    (validation, in epoch seconds) are always kept."""

    def keep(e):
        bucket = (e.profile_id.hash() + e.cutoff_s * 7919 + seed).abs() % 1_000_000
        return (bucket < int(fraction * 1_000_000)) | (e.cutoff_s == exempt_s)

    return keep


def build_snapshots(
    events,
    config: Config,
    cutoffs: list,
    plan: FeaturePlan | None = None,
    profiles=None,
    with_label: bool = True,
    sample_rows: int | None = None,
    seed: int = 42,
    exempt_cutoff=None,
    rows_to_sample: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, FeaturePlan]:
    """Snapshots at `cutoffs` as one pandas frame (profile_id, cutoff, features..., label).

    `sample_rows`: when the snapshots would be larger, keep a deterministic sample stratified by
    (cutoff, label) with the same fraction in every stratum (done in the engine, before pandas).
    Rows at `exempt_cutoff` (the validation snapshot) are never sampled: metrics use every profile.
    `rows_to_sample`: the number of non-exempt rows when already known (e.g. from `goal_counts`),
    which saves running the whole aggregation once just to count it.
    """
    if plan is None:
        plan = plan_features(events, config, profiles, before=max(cutoffs))
    keep = None  # the sampling predicate on (profile_id, cutoff_s)
    kept = 1.0  # the expected share of (profile, cutoff) groups it keeps
    if sample_rows is not None:
        exempt_s = int(to_day(exempt_cutoff).timestamp()) if exempt_cutoff is not None else -1
        total = rows_to_sample
        if total is None:
            full = snapshot_expr(events, config, cutoffs, plan, profiles, with_label)
            total = int(full.filter(full.cutoff_s != exempt_s).count().to_pyarrow().as_py())
        if total > sample_rows:
            fraction = sample_rows / total
            keep = sample_predicate(fraction, exempt_s, seed)

            exempt_cuts = sum(int(to_day(c).timestamp()) == exempt_s for c in cutoffs)
            kept = (fraction * (len(cutoffs) - exempt_cuts) + exempt_cuts) / len(cutoffs)
            if progress:
                progress(
                    f"sampled {fraction:.1%} of {total:,} snapshot rows (stratified by cutoff and label)"
                )
    # Out of core: DuckDB cannot spill a wide grouped aggregate far enough to honour a small
    # memory_limit, so the same expression runs on disjoint slices of profiles, one at a time.
    parts = memory_partitions(events, config, cutoffs, plan, kept)
    if parts > 1 and progress:
        progress(
            f"building snapshots in {parts} profile partitions to stay within duckdb.memory_limit"
        )
    frames = []
    for i in range(parts):
        # Slice the events (not the result), so each query's state holds only its profiles.
        sliced = (
            events if parts == 1 else events.filter(events.profile_id.hash().abs() % parts == i)
        )
        part = snapshot_expr(sliced, config, cutoffs, plan, profiles, with_label, keep)
        frames.append(part.to_pandas())
    frame = frames[0] if parts == 1 else pd.concat(frames, ignore_index=True)
    return finish_frame(frame, plan, with_label), plan


_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def _limit_bytes(text: str | None) -> float | None:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text or "")
    if not match or match.group(2).upper() not in _UNITS:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


def memory_partitions(
    events, config: Config, cutoffs: list, plan: FeaturePlan, kept: float = 1.0
) -> int:
    """Profile partitions that keep the grouped state within `duckdb.memory_limit` (1 = one query).

    `kept`: the expected share of (profile, cutoff) groups the training sample keeps."""
    limit = _limit_bytes(config.duckdb.memory_limit) if config.engine == "duckdb" else None
    if not limit:
        return 1
    profiles = int(events.profile_id.approx_nunique().to_pyarrow().as_py() or 0)
    # about 16 bytes of aggregate state per feature per (profile, cutoff), twice over (the
    # per-event-type rows and the features built from them), a quarter of the limit each
    state = profiles * len(cutoffs) * kept * (len(plan.specs) + 8) * 16 * 2
    return max(1, min(256, -(-int(state) // int(limit / 4))))
