"""The simulated shoppers every vendor export renders: people, devices, sessions and hits.

One population (sessions, page views, product views, cart adds, purchases, logins, several
devices, repeat buyers over six months, 2025-01-01 .. 2025-06-30 UTC) drawn from numpy's seeded
generator only: no network, no wall clock, no Python hash(), so the same seed gives the same
bytes in every export.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

UTC = dt.UTC
START = dt.datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 181  # 2025-01-01 .. 2025-06-30
END = START + dt.timedelta(days=DAYS)
AS_OF = "2025-07-01"
DEFAULT_PROFILES = 400
DEFAULT_SEED = 14
GA4_PROPERTY_TZ = ZoneInfo("America/Los_Angeles")  # event_date / shard follow the property's zone
HOST = "shop.example.com"

# --------------------------------------------------------------------------------------------
# The simulated world
# --------------------------------------------------------------------------------------------
CATEGORIES = {
    "Apparel": ("Tee", "Hoodie", "Cap", "Socks", "Jacket"),
    "Drinkware": ("Mug", "Bottle", "Tumbler"),
    "Bags": ("Backpack", "Tote", "Duffel"),
    "Office": ("Notebook", "Pen set", "Sticker pack"),
    "Electronics": ("Earbuds", "Charger", "Speaker"),
}
COLOURS = ("Blue", "Black", "Green", "Red", "White")
CITIES = (  # city, region, country code, country, continent, sub_continent, lat, lon, tz
    (
        "London",
        "England",
        "GB",
        "United Kingdom",
        "Europe",
        "Northern Europe",
        51.5072,
        -0.1276,
        "Europe/London",
    ),
    (
        "Manchester",
        "England",
        "GB",
        "United Kingdom",
        "Europe",
        "Northern Europe",
        53.4808,
        -2.2426,
        "Europe/London",
    ),
    (
        "Paris",
        "Ile-de-France",
        "FR",
        "France",
        "Europe",
        "Western Europe",
        48.8566,
        2.3522,
        "Europe/Paris",
    ),
    (
        "Berlin",
        "Berlin",
        "DE",
        "Germany",
        "Europe",
        "Western Europe",
        52.52,
        13.405,
        "Europe/Berlin",
    ),
    (
        "New York",
        "New York",
        "US",
        "United States",
        "Americas",
        "Northern America",
        40.7128,
        -74.006,
        "America/New_York",
    ),
    (
        "Austin",
        "Texas",
        "US",
        "United States",
        "Americas",
        "Northern America",
        30.2672,
        -97.7431,
        "America/Chicago",
    ),
    (
        "San Jose",
        "California",
        "US",
        "United States",
        "Americas",
        "Northern America",
        37.3382,
        -121.8863,
        "America/Los_Angeles",
    ),
    (
        "Toronto",
        "Ontario",
        "CA",
        "Canada",
        "Americas",
        "Northern America",
        43.6532,
        -79.3832,
        "America/Toronto",
    ),
)
# (utm source, medium, campaign) for a session; None = direct
CHANNELS = (
    (None, None, None),
    ("google", "organic", None),
    ("google", "cpc", "spring_sale"),
    ("newsletter", "email", "weekly_digest"),
    ("facebook", "paid_social", "summer_launch"),
    ("bing", "organic", None),
)
CHANNEL_P = (0.38, 0.25, 0.12, 0.12, 0.08, 0.05)
REFERRERS = {
    "google": "https://www.google.com/",
    "bing": "https://www.bing.com/",
    "facebook": "https://l.facebook.com/",
    "newsletter": "",
}
WEB_DEVICES = (  # category, os, os version, browser, browser version, brand, model, w, h
    ("desktop", "Windows", "Windows 10", "Chrome", "124.0.6367.91", None, None, 1920, 1080),
    ("desktop", "Macintosh", "Macintosh Intel 10.15", "Safari", "17.4", "Apple", None, 1440, 900),
    ("mobile", "iOS", "iOS 17.4", "Safari", "17.4", "Apple", "iPhone", 390, 844),
    ("mobile", "Android", "Android 14", "Chrome", "124.0.6367.82", "Google", "Pixel 8", 412, 915),
    ("tablet", "iOS", "iPadOS 17.4", "Safari", "17.4", "Apple", "iPad", 820, 1180),
)
WEB_DEVICE_P = (0.4, 0.15, 0.25, 0.15, 0.05)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    variant: str
    price: float
    pid: str  # database id (Segment product_id)


@dataclass
class Order:
    order_id: str
    lines: list[tuple[Product, int]]
    revenue: float
    tax: float
    shipping: float
    coupon: str | None

    @property
    def total(self) -> float:
        return round(self.revenue + self.tax + self.shipping, 2)

    @property
    def quantity(self) -> int:
        return sum(q for _, q in self.lines)


@dataclass
class Hit:
    ts: float  # epoch seconds (ms resolution)
    kind: str  # page_view | view_item | add_to_cart | purchase | login
    path: str = "/"
    title: str = "Home"
    product: Product | None = None
    qty: int = 0
    order: Order | None = None


@dataclass
class Device:
    app: bool
    spec: tuple
    first_seen: float
    ga_client_id: str
    ecid: str
    ajs_anonymous_id: str
    sp_domain_userid: str
    sp_network_userid: str
    mp_device_id: str
    sessions: int = 0
    logged_in: bool = False  # has this device seen a login yet


@dataclass
class Session:
    person: Person
    device: Device
    start: float
    number: int  # 1-based session number on the device
    logged_in: bool
    channel: tuple
    hits: list[Hit] = field(default_factory=list)
    sid: str = ""


@dataclass
class Person:
    idx: int
    user_id: str
    crm_id: str
    email: str
    city: tuple
    registers: bool
    tier: str
    devices: list[Device] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)


def new_uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def hex_id(rng: np.random.Generator, n: int) -> str:
    return rng.bytes(n // 2).hex()


def _catalogue(rng: np.random.Generator) -> list[Product]:
    base = {"Apparel": 28, "Drinkware": 16, "Bags": 55, "Office": 9, "Electronics": 65}
    out = []
    for cat, kinds in CATEGORIES.items():
        for kind in kinds:
            for colour in rng.choice(COLOURS, size=2, replace=False):
                # whole-dollar prices for two categories, so GA4's `value` lands in int_value
                # for some orders and in double_value for others (as with real tags)
                cents = 0.0 if cat in ("Bags", "Electronics") else 0.01
                price = round(float(np.round(base[cat] * rng.uniform(0.6, 1.8), 0) - cents), 2)
                sku = f"SKU-{1001 + len(out)}"
                pid = f"{rng.integers(10**9, 10**10)}"
                out.append(Product(sku, f"{colour} {kind}", cat, str(colour), price, pid))
    return out


@dataclass
class _Habits:
    """How one person behaves: when they start and stop, how often they come, cart and buy odds."""

    first_day: float
    life: float
    rate: float  # sessions a day
    p_cart: float
    p_buy: float
    login_after: int  # sessions before the first login


def _person(rng: np.random.Generator, i: int) -> tuple[Person, _Habits]:
    p = Person(
        idx=i,
        user_id=f"u{rng.integers(10**6, 10**7)}",
        crm_id=f"CRM{i + 1:07d}",
        email=f"shopper{i + 1}@example.com",
        city=CITIES[int(rng.integers(len(CITIES)))],
        registers=bool(rng.random() < 0.7),
        tier=str(rng.choice(["bronze", "silver", "gold"], p=[0.6, 0.3, 0.1])),
    )
    habits = _Habits(
        first_day=float(rng.uniform(0, 150)),
        life=float(rng.exponential(120)),
        rate=float(rng.gamma(1.4, 0.08)),
        p_cart=float(rng.beta(2.5, 4.5)),
        p_buy=float(rng.beta(4, 2.5)),
        login_after=int(rng.geometric(0.45)),
    )
    n_dev = 1 + int(rng.random() < 0.3)
    app_user = rng.random() < 0.15
    for d in range(n_dev):
        spec = WEB_DEVICES[int(rng.choice(len(WEB_DEVICES), p=WEB_DEVICE_P))]
        is_app = bool(app_user and d == n_dev - 1)
        if is_app:
            spec = ("mobile", "iOS", "iOS 17.4", None, None, "Apple", "iPhone", 390, 844)
        ecid = f"{rng.integers(10**18, 9 * 10**18)}{rng.integers(10**18, 9 * 10**18)}"
        p.devices.append(Device(
            app=is_app, spec=spec, first_seen=0.0, ga_client_id=f"{rng.integers(10**8, 2**31 - 1)}",
            ecid=ecid, ajs_anonymous_id=new_uuid(rng), sp_domain_userid=new_uuid(rng),
            sp_network_userid=new_uuid(rng), mp_device_id=new_uuid(rng),
        ))  # fmt: skip
    return p, habits


def _session_days(rng: np.random.Generator, habits: _Habits) -> list[float]:
    """Session start days: a Poisson process while the person is still a customer."""
    end_day = min(DAYS - 0.01, habits.first_day + habits.life)
    days = [habits.first_day]
    while True:
        t = days[-1] + float(rng.exponential(1 / max(habits.rate, 0.01)))
        if t >= end_day:
            return days
        days.append(t)


def _browse(rng, s: Session, ts: float, products: list[Product]) -> tuple[float, list[Product]]:
    """Page views and product views; the products viewed."""
    landing = rng.random()
    viewed: list[Product] = []
    for v in range(1 + int(rng.poisson(1.6))):
        if v == 0 and landing < 0.35:
            s.hits.append(Hit(round(ts, 3), "page_view", "/", "Home"))
        elif rng.random() < 0.35:
            cat = str(rng.choice(list(CATEGORIES)))
            s.hits.append(Hit(round(ts, 3), "page_view", f"/c/{cat.lower()}", cat))
        else:
            prod = products[int(rng.integers(len(products)))]
            path = f"/p/{prod.sku.lower()}"
            s.hits.append(Hit(round(ts, 3), "page_view", path, prod.name, prod))
            ts += float(rng.uniform(0.2, 1.5))
            s.hits.append(Hit(round(ts, 3), "view_item", path, prod.name, prod))
            viewed.append(prod)
        ts += float(rng.exponential(45)) + 5
    return ts, viewed


def _checkout(rng, s: Session, ts: float, cart: list, order_no: int) -> int:
    """The checkout page, the purchase of everything in the cart, the confirmation page."""
    s.hits.append(Hit(round(ts, 3), "page_view", "/checkout", "Checkout"))
    ts += float(rng.exponential(60)) + 20
    lines: dict[str, tuple[Product, int]] = {}
    for prod, q in cart:
        lines[prod.sku] = (prod, lines.get(prod.sku, (prod, 0))[1] + q)
    revenue = round(sum(pr.price * q for pr, q in lines.values()), 2)
    coupon = "SPRING10" if rng.random() < 0.1 else None
    order_no += int(rng.integers(1, 9))
    shipping = 0.0 if revenue >= 75 else 5.95
    order = Order(f"ORD-{order_no}", list(lines.values()), revenue, round(revenue * 0.08, 2),
                  shipping, coupon)  # fmt: skip
    confirmation = ("/checkout/confirmation", "Order confirmation")
    s.hits.append(Hit(round(ts, 3), "purchase", *confirmation, order=order))
    ts += float(rng.uniform(0.5, 2))
    s.hits.append(Hit(round(ts, 3), "page_view", *confirmation))
    return order_no


def _session(rng, p: Person, k: int, start: float, habits: _Habits, products, state) -> Session:
    dev = (
        p.devices[0]
        if k == 0 or len(p.devices) == 1
        else p.devices[int(rng.integers(len(p.devices)))]
    )
    if dev.first_seen == 0.0:
        dev.first_seen = start
    dev.sessions += 1
    login_now = p.registers and k + 1 >= habits.login_after
    logged = login_now and (dev.logged_in or rng.random() < 0.8) and rng.random() < 0.93
    channel = CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_P))]
    s = Session(p, dev, round(start, 3), dev.sessions, logged, channel, sid=new_uuid(rng))
    ts = start
    if logged and not dev.logged_in:
        s.hits.append(Hit(round(ts, 3), "login", "/account/login", "Sign in"))
        ts += float(rng.exponential(20)) + 3
        dev.logged_in = True
    ts, viewed = _browse(rng, s, ts, products)
    if viewed and rng.random() < habits.p_cart:
        for prod in viewed[: 1 + int(rng.random() < 0.3)]:
            q = 1 + int(rng.random() < 0.25)
            state["cart"].append((prod, q))
            s.hits.append(
                Hit(round(ts, 3), "add_to_cart", f"/p/{prod.sku.lower()}", prod.name, prod, q)
            )
            ts += float(rng.exponential(30)) + 3
    if state["cart"] and rng.random() < habits.p_buy:
        state["order_no"] = _checkout(rng, s, ts, state["cart"], state["order_no"])
        state["cart"] = []
    return s


def simulate(n_profiles: int = DEFAULT_PROFILES, seed: int = DEFAULT_SEED) -> list[Person]:
    """The shared world: people, devices, sessions and hits, sorted by time within a session."""
    rng = np.random.default_rng(seed)
    products = _catalogue(rng)
    t0 = START.timestamp()
    people: list[Person] = []
    state = {"order_no": 100000}
    for i in range(n_profiles):
        p, habits = _person(rng, i)
        state["cart"] = []
        for k, day in enumerate(_session_days(rng, habits)):
            s = _session(rng, p, k, t0 + day * 86400.0, habits, products, state)
            if s.start < END.timestamp():
                p.sessions.append(s)
        people.append(p)
    return people


def iso(ts: float, sep: str = "T", z: str = "Z") -> str:
    d = dt.datetime.fromtimestamp(ts, UTC)
    return d.strftime(f"%Y-%m-%d{sep}%H:%M:%S.") + f"{d.microsecond // 1000:03d}" + z


def month_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def all_hits(people: list[Person]):
    for p in people:
        for s in p.sessions:
            for h in s.hits:
                yield p, s, h


def drop_nulls(v, keep: tuple[str, ...] = ()):
    """Exports leave NULL fields out (BigQuery, XDM, Segment); `keep` names ones written as null."""
    if isinstance(v, dict):
        return {k: drop_nulls(x, keep) for k, x in v.items() if x is not None or k in keep}
    if isinstance(v, list):
        return [drop_nulls(x, keep) for x in v]
    return v
