"""What a column's name says it is, and names an analyst reads: personal data (never a
feature), an identifier (distinct counts, never summed), a point in time (left out); friendly
labels, slugs, plurals. The rules read words, the same on any export (`user_email`, `InvoiceNo`,
`web.webPageDetails.name`).
"""

from __future__ import annotations

import re

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
