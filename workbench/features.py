"""Which features a goal's snapshots carry, and the names an analyst reads.

`plan_features` inspects the events' columns and event types (before the scoring date) once and
names every feature (`FeatureSpec`: code, friendly label, kind, family, unit); `workbench.snapshots`
computes them at each cutoff. The name rules here decide what a column is: personal data (never a
feature), an identifier (distinct counts, never summed), a point in time (left out) or a quantity.
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
from workbench.technical import technical_notice, without_epochs

if TYPE_CHECKING:
    from workbench.config import Config

PERSONAL_DATA = re.compile(
    r"(^|[._\s])(e?_?mail|email\w*|phone\w*|name|first_?name|last_?name|full_?name|"
    r"surname|address\w*|street|postcode|zip_?code|ssn|birth_?date|date_?of_?birth|ip_?address)$",
    re.IGNORECASE,
)


# A "name" that belongs to one of these is a page, campaign, product, app, event or library
# name, not a person's: `web.webPageDetails.name`, `marketing.campaignName`,
# `traffic_source.name`, `application.name`, `context.library.name`, `event_name`, `item_name`.
NAMED_THINGS = {
    "page", "webpage", "webpagedetails", "screen", "site", "section", "campaign", "marketing",
    "traffic", "source", "medium", "product", "products", "item", "items", "productlistitems",
    "sku", "category", "brand", "variant", "list", "promotion", "creative", "coupon", "app",
    "application", "event", "library", "browser", "os", "device", "model", "platform",
    "tracker", "vendor", "store", "shop", "channel", "plan", "tier", "region", "city",
    "country", "continent", "network", "carrier", "currency", "step", "form", "button",
    "link", "file", "feature", "experiment", "variation", "segment", "content", "tag",
    "br", "ti", "tr",  # Snowplow's browser, transaction item, transaction
}  # fmt: skip
PERSONAL_WORDS = {
    "email", "mail", "phone", "name", "firstname", "lastname", "fullname", "surname", "address",
    "street", "postcode", "zipcode", "ssn", "birthdate", "dob", "ip",
}  # fmt: skip


def is_personal_data(column: str) -> bool:
    """Columns named like personal data (email, phone, a person's name, address, ip) are never
    features. A `name` of a page, campaign, product, app, event or library is not personal."""
    last = column.split(".")[-1]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", last).lower()
    tokens = [t for t in re.split(r"[_\s\-$]+", snake) if t]
    if "name" in tokens and not (set(tokens) & {"first", "last", "full", "user", "customer"}):
        parents = {w for part in column.split(".")[:-1] for w in _path_words(part)}
        if ((set(tokens) - {"name"}) | parents) & NAMED_THINGS:
            return False
    parts = [_path_words(part) for part in column.split(".")[:-1]]
    if ["name"] in parts and set(tokens) & {"first", "last", "given", "family", "middle", "full"}:
        return True  # name.first, name.family
    if tokens == ["mobile"] or tokens[-2:] in (["mobile", "number"], ["mobile", "phone"]):
        return True  # "mobile" alone is a phone number; device.mobile_brand_name is not
    return bool(set(tokens) & PERSONAL_WORDS) or bool(PERSONAL_DATA.search(snake))


def _path_words(part: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).lower()
    return [w for w in re.split(r"[^0-9a-z]+", snake) if w]


RECENCY_FEATURE = "days_since_last_event"
COUNT_WINDOWS = (7, 30, 90)
MAX_EVENT_TYPES = 30
MAX_PROFILE_LEVELS = 50


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: `code` is the snapshot column, `label` the name an analyst reads.

    `group` is the factor family an analyst reads ("Purchase frequency", "Recency of purchase"):
    a profile's influential factors sum its features' contributions into one entry (empty: the
    feature is a family of its own). `direction` is what the goal fixes, for an `occurs` goal:
    +1 when more of it (frequency of the goal event or of any activity) can only raise the
    propensity, -1 when more of it (days since the last one) can only lower it, 0 when the data
    decide; a `does_not_occur` goal flips it. `phrase` reads a value in words, "{} in the last
    90 days" -> "3 purchases in the last 90 days" (empty: "label: value").
    """

    code: str
    label: str
    kind: Literal["numeric", "categorical"] = "numeric"
    family: str = "event"
    unit: str = ""
    group: str = ""
    direction: int = 0
    phrase: str = ""

    @property
    def factor_family(self) -> str:
        return self.group or self.label


def specs_to_json(specs: list[FeatureSpec], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([asdict(s) for s in specs], indent=2))
    return path


def specs_from_json(path: str | Path) -> list[FeatureSpec]:
    return [spec_from_dict(d) for d in json.loads(Path(path).read_text())]


def spec_from_dict(d: dict[str, Any]) -> FeatureSpec:
    """A FeatureSpec from its JSON form (files written before a field existed still load)."""
    return FeatureSpec(
        code=str(d["code"]),
        label=str(d["label"]),
        kind=d.get("kind", "numeric"),
        family=str(d.get("family", "event")),
        unit=str(d.get("unit", "")),
        group=str(d.get("group", "")),
        direction=int(d.get("direction", 0)),
        phrase=str(d.get("phrase", "")),
    )


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


# A last path part that says nothing alone: the label takes its parent too.
_GENERIC_LAST = {"value", "values", "amount", "total", "count", "id", "name", "type", "code"}


def humanize(name: str) -> str:
    """`web.webpagedetails.pageViews` -> `page views`; `dollar_value` -> `dollar value`;
    `addtocart` -> `add to cart`."""
    parts = name.split(".")
    last = parts[-1]
    if last.lower() in _GENERIC_LAST and len(parts) > 1:  # XDM's pageViews.value
        last = f"{parts[-2]} {last}"
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", last.replace("$", ""))
    text = re.sub(r"[_\-\s]+", " ", words).strip().lower() or name
    return " ".join(_GLUED_WORDS.get(w, w) for w in text.split(" "))


def plural(phrase: str) -> str:
    """`view` -> `views`, `search` -> `searches`, `purchases` stays; a phrase that is not a
    noun (`add to cart`) counts `add to cart events`."""
    head, _, last = phrase.rpartition(" ")
    if set(phrase.split(" ")) & {"to", "from", "of", "on", "in"}:
        return f"{phrase} events"
    if last.endswith("ed") and len(last) > 4:  # Segment's "Order Completed": a verb
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
    # The goal event (its conditions) and the code prefix of its features (`purchase`, or
    # `custom_goal_event` when the goal is not a single event type): it gets timing features.
    goal_conditions: list[Any] = field(default_factory=list)
    goal_match: str = "all"
    goal_prefix: str | None = None

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
    numeric, strings, lists = [], [], []
    for name in schema.names:
        if name in canonical or name.startswith("_") or name in excluded:
            continue
        if is_personal_data(name):
            notices.append(f"column '{name}' looks like personal data and is not used as a feature")
            continue
        dtype = schema[name]
        if name in dedupe_keys:
            continue
        if name not in quantities and (note := technical_notice(name, dtype)):
            notices.append(note)
            continue
        if dtype.is_array() and dtype.value_type.is_string():
            lists.append(name)  # ids of the objects in an event (items.item_id)
        elif dtype.is_string() or (
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
    numeric = without_epochs(scope, numeric, quantities, notices)
    plan = FeaturePlan(
        event_types=event_types,
        custom_events=list(config.custom_events),
        numeric_fields=numeric,
        id_fields=_behaviour_ids(scope, strings) + varied_lists(scope, lists),
        lookback_days=config.features.lookback_days,
        notices=notices,
    )
    _plan_goal_event(plan, config)
    if profiles is not None:
        _plan_profile_features(plan, profiles, excluded, identifiers, quantities)
    from workbench.families import plan_specs  # the specs need the name rules above

    plan.specs = plan_specs(plan)
    return plan


def _behaviour_ids(scope, strings: list[str]) -> list[str]:
    """The text/identifier columns worth distinct counts: row identifiers (nearly one value
    per event) carry no behaviour, and a constant says nothing."""
    if not strings:
        return []
    stats = (
        scope.aggregate(
            _rows=scope.count(),
            **{f"n{i}": scope[c].approx_nunique() for i, c in enumerate(strings)},
        )
        .to_pandas()
        .iloc[0]
    )
    rows = max(int(stats["_rows"]), 1)
    return [c for i, c in enumerate(strings) if 2 <= int(stats[f"n{i}"] or 0) <= 0.5 * rows]


GOAL_EVENT_NAME = "goal event"


def _plan_goal_event(plan: FeaturePlan, config: Config) -> None:
    """The goal event's features carry timing (gaps, overdue, trend, rate) and a direction. A
    goal on one event type (`event_type == purchase`) uses that type's features; any other
    goal's conditions become a custom event named "goal event"."""
    from workbench.config import CustomEvent

    goal = config.goal
    plan.goal_conditions, plan.goal_match = list(goal.conditions), goal.match
    conds = goal.conditions
    one_type = (
        len(conds) == 1
        and conds[0].field == "event_type"
        and conds[0].op == "=="
        and str(conds[0].value) in plan.event_types
    )
    codes = event_codes(plan)
    if one_type:
        plan.goal_prefix = codes[plan.event_types.index(str(conds[0].value))][0]
        return
    for i, ce in enumerate(plan.custom_events):
        if list(ce.conditions) == list(conds) and ce.match == goal.match:
            plan.goal_prefix = codes[len(plan.event_types) + i][0]
            return
    plan.custom_events.append(CustomEvent(name=GOAL_EVENT_NAME, conditions=conds, match=goal.match))
    plan.goal_prefix = event_codes(plan)[-1][0]


def varied_lists(scope, lists: list[str]) -> list[str]:
    """List columns (the ids of an event's objects) with at least two distinct values."""
    out = []
    for name in lists:
        values = scope.select(_v=scope[name].unnest())
        if int(values._v.approx_nunique().to_pyarrow().as_py() or 0) >= 2:
            out.append(name)
    return out


def check_excluded(config: Config, columns, also=()) -> None:
    """`features.exclude` must name a column (or a nested column's parent, `context` for
    `context.*`, or a source column left in the database: `also`)."""
    known = set(columns) | set(also)
    unknown = [
        n
        for n in config.features.exclude
        if n not in known and not any(str(c).startswith(f"{n}.") for c in known)
    ]
    if unknown:
        available = ", ".join(sorted(str(c) for c in columns if not str(c).startswith("_")))
        raise ConfigError(
            f"{config.where()}: features.exclude: unknown column(s) {unknown}; available: {available}"
        )


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


# The goal event's timing features (`families._goal_timing_specs`), after its code prefix.
GOAL_TIMING_CODES = ("days_ever", "rate_30d", "gap_mean", "gap_last", "gap_cv", "overdue", "trend")


def overall_codes(lookback_days: int) -> list[str]:
    """The features over all events (no event type), in spec order."""
    L = lookback_days
    codes = ["events_count_30d", f"events_count_{L}d", "events_count_ever", f"active_days_{L}d"]
    codes += ["trend_30d_vs_prev60d", RECENCY_FEATURE, "days_since_first_event"]
    return list(dict.fromkeys(codes))  # lookback 30: one events_count_30d


def feature_prefixes(plan: FeaturePlan) -> dict[tuple[str, Any], str]:
    """One code prefix per feature source, chosen so that no two features share a code.

    Keys: `("event_type", t)`, `("custom_event", i)`, `("numeric", column)`, `("distinct",
    column)`, `("profile", attribute)`, `("profile_date", attribute)`. Sources whose names
    normalise alike (`search` / `Search`, `a.b` / `a_b`, `Big order` / `big-order`, an event
    type `events` next to the overall `events_count_30d`) get `_2`, `_3`... in plan order, and
    every code in a snapshot, its aggregation and the feature names comes from this one map.
    """
    L = plan.lookback_days
    taken = set(overall_codes(L))
    out: dict[tuple[str, Any], str] = {}

    def claim(key, base: str, codes_of: Callable[[str], list[str]]) -> None:
        prefix, n = base, 2
        while any(c in taken for c in codes_of(prefix)):
            prefix, n = f"{base}_{n}", n + 1
        taken.update(codes_of(prefix))
        out[key] = prefix

    def per_event(p: str) -> list[str]:
        # the goal event's timing codes are claimed for every event: which one is the goal's
        # is decided from these prefixes (`_plan_goal_event`)
        return [f"{p}_count_{w}d" for w in plan.windows] + [
            f"{p}_count_ever",
            f"{p}_days_since_last",
            f"{p}_days_since_first",
            *(f"{p}_{c}" for c in GOAL_TIMING_CODES),
        ]

    # In name order (names already in code form first), not by frequency: the same event
    # types always get the same codes, whichever is more common this time.
    for t in sorted(plan.event_types, key=lambda t: (slug(t) != t, t)):
        claim(("event_type", t), slug(t), per_event)
    for i, ce in enumerate(plan.custom_events):
        claim(("custom_event", i), f"custom_{slug(ce.name)}", per_event)
    sums = [f"{w}d" for w in sorted({30, L})] + ["ever"]
    for f in plan.numeric_fields:
        claim(
            ("numeric", f),
            slug(f),
            lambda p: [f"{p}_{k}_{w}" for k in ("sum", "mean") for w in sums],
        )
    for f in plan.id_fields:
        claim(("distinct", f), slug(f), lambda p: [f"{p}_distinct_{L}d"])
    for a in [*plan.profile_numeric, *plan.profile_categorical]:
        claim(("profile", a), f"profile_{slug(a)}", lambda p: [p])
    for a in plan.profile_dates:
        claim(("profile_date", a), slug(a), lambda p: [f"profile_days_since_{p}"])
    return out


def event_codes(plan: FeaturePlan) -> list[tuple[str, str, str]]:
    """(code prefix, friendly name, kind) for each event type and custom event."""
    prefixes = feature_prefixes(plan)
    names = [humanize(t) for t in plan.event_types]
    out = []
    for t, name in zip(plan.event_types, names, strict=True):
        # types that read alike ('search' / 'Search') are told apart by their exact names
        friendly = name if names.count(name) == 1 else f"'{t}' events"
        out.append((prefixes[("event_type", t)], friendly, "event_type"))
    for i, ce in enumerate(plan.custom_events):
        out.append((prefixes[("custom_event", i)], ce.name, "custom_event"))
    return out


def fills_zero(code: str, plan: FeaturePlan) -> bool:
    """Counts and sums: a missing value means nothing happened (0), unlike a recency or a mean."""
    counts = tuple(f"_count_{w}d" for w in plan.windows) + (
        "_count_ever",
        "_days_ever",
        "_rate_30d",
    )
    return code.endswith(counts) or "_sum_" in code or "_distinct_" in code
