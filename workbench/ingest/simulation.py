"""The behaviour behind the bundled sample: each profile's traits, a latent engagement that
drifts week by week (AR(1), a year-end lift) and the events it drives: page and product views,
cart adds, checkouts, purchases after a lull and a replenishment cycle, email sends, opens and
clicks, app launches and searches. Vectorised numpy over a chunk of profiles; `workbench.ingest.
sample` draws chunks from seeded generators and writes the files.
"""

from __future__ import annotations

import numpy as np

EVENT_TYPES = (
    "web.webpagedetails.pageViews",
    "commerce.productViews",
    "commerce.productListAdds",
    "commerce.checkouts",
    "commerce.purchases",
    "directMarketing.emailSent",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
    "application.launch",
    "search",
)

(PAGE, PRODUCT, CART, CHECKOUT, PURCHASE, SENT, OPENED, CLICKED, LAUNCH, SEARCH) = range(10)

COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "JP")

COUNTRY_P = (0.36, 0.14, 0.12, 0.10, 0.08, 0.07, 0.07, 0.06)

LOYALTY_TIERS = ("none", "silver", "gold", "platinum")

TIER_P = (0.55, 0.25, 0.14, 0.06)

N_SKUS = 400

# Engagement dynamics (weekly grid).
_PHI = 0.9  # AR(1) persistence: engagement drifts, so recent behaviour matters more than old

_SHOCK_SD = 0.32

_TIER_SHIFT = np.array([0.0, 0.15, 0.3, 0.45])

# Base weekly rates at engagement 0 for an active profile.
_RATE = {PAGE: 0.10, PRODUCT: 0.075, SEARCH: 0.035, LAUNCH: 0.10}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _follow(
    ts: np.ndarray,
    key: np.ndarray,
    etype: np.ndarray,
    lead: int,
    follow: int,
    hi: np.ndarray,
    delay: np.ndarray,
) -> np.ndarray:
    """Move the i-th `follow` event of each (profile, week) `key` to just after its i-th `lead`.

    Events of one type are in `key` order and every key has at least as many leads as follows.
    """
    f_idx = np.flatnonzero(etype == follow)
    l_idx = np.flatnonzero(etype == lead)
    rank = np.arange(len(f_idx)) - np.searchsorted(key[f_idx], key[f_idx])
    paired = l_idx[np.searchsorted(key[l_idx], key[f_idx]) + rank]
    ts[f_idx] = np.minimum(ts[paired] + delay[f_idx], hi[f_idx] - 1)
    return ts


def draw_traits(rng, n: int, days: int) -> dict[str, np.ndarray]:
    """Each profile's country, tier, age, signup, app use, opt-in and latent engagement."""
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P)
    tier = rng.choice(len(LOYALTY_TIERS), size=n, p=TIER_P)
    age = np.clip(np.round(rng.normal(41, 14, n)), 18, 88).astype(np.int32)
    age_missing = rng.random(n) < 0.07
    new = rng.random(n) < 0.18  # signs up during the period
    signup_day = np.where(
        new, rng.integers(0, days, n), -rng.integers(1, 3 * 365, n)
    )  # days from period start
    app_user = rng.random(n) < 0.30 + 0.08 * tier
    opt_in = rng.random(n) < 0.72
    mobile_share = np.where(app_user, 0.55, 0.08)

    mu = -0.75 + _TIER_SHIFT[tier] + rng.normal(0, 1.0, n) + 0.25 * new
    e = mu + rng.normal(0, _SHOCK_SD / np.sqrt(1 - _PHI**2), n)
    alive = ~((~new) & (rng.random(n) < 0.12))  # some old profiles are already dormant
    dormant_weeks = np.where(alive, 0, 99)
    affinity = rng.normal(0, 0.8, n)  # a persistent taste for buying, seen only in history
    prime_age = (age >= 28) & (age <= 52) & ~age_missing
    high_tier = tier >= 2

    return {
        "n": n,
        "country": country,
        "tier": tier,
        "age": age,
        "age_missing": age_missing,
        "new": new,
        "signup_day": signup_day,
        "app_user": app_user,
        "opt_in": opt_in,
        "mobile_share": mobile_share,
        "mu": mu,
        "e": e,
        "alive": alive,
        "dormant_weeks": dormant_weeks,
        "affinity": affinity,
        "prime_age": prime_age,
        "high_tier": high_tier,
    }


def simulate_weeks(rng, traits: dict, weeks: int, season: np.ndarray) -> np.ndarray:
    """Weekly event counts per type (types x weeks x profiles): engagement drifts, purchases
    follow carts, clicks and a replenishment cycle, and engagement falling below a threshold
    makes churn likely."""
    n, tier, signup_day = traits["n"], traits["tier"], traits["signup_day"]
    mu, e, alive = traits["mu"], traits["e"], traits["alive"]
    dormant_weeks, affinity = traits["dormant_weeks"], traits["affinity"]
    app_user, opt_in = traits["app_user"], traits["opt_in"]
    prime_age, high_tier = traits["prime_age"], traits["high_tier"]
    counts = np.zeros((len(EVENT_TYPES), weeks, n), dtype=np.uint8)
    cart_lag1 = np.zeros(n, dtype=np.int64)
    cart_lag2 = np.zeros(n, dtype=np.int64)
    click_lag1 = np.zeros(n, dtype=np.int64)
    since_purchase = np.full(n, 99)
    for w in range(weeks):
        started = signup_day < (w + 1) * 7
        e = mu + _PHI * (e - mu) + rng.normal(0, _SHOCK_SD, n)
        ee = e + season[w]
        act = alive & started
        m = np.exp(ee) * act
        page = rng.poisson(_RATE[PAGE] * m)
        product = rng.poisson(_RATE[PRODUCT] * m)
        search = rng.poisson(_RATE[SEARCH] * m)
        launch = rng.poisson(_RATE[LAUNCH] * m * app_user)
        cart = rng.binomial(product, _sigmoid(-1.2 + 0.45 * ee))
        # Marketing keeps mailing dormant profiles for a couple of months, then suppresses them.
        mailable = opt_in & started & (alive | (dormant_weeks < 9))
        sent = (rng.random(n) < 0.16) & mailable
        opened = sent & (rng.random(n) < np.where(alive, _sigmoid(-1.0 + 0.7 * ee), 0.04))
        clicked = opened & (rng.random(n) < _sigmoid(-1.1 + 0.5 * ee))
        page += clicked  # a click lands on the website

        recent_cart = (cart_lag1 + cart_lag2) > 0
        recent_click = (click_lag1 + clicked) > 0
        log_rate = (
            -4.75
            + 1.1 * ee
            + affinity
            + 0.85 * (cart > 0)
            # Loyal members finish what they put in the cart; others mostly need a nudge.
            + np.where(high_tier, 1.1, 0.2) * recent_cart
            + np.where(tier == 0, 0.9, 0.0) * recent_click  # discount-driven email buyers
            + 0.8 * (recent_cart & (clicked > 0))  # a reminder email converts an open cart
            + 0.9 * (high_tier & (ee > 0.5))  # loyal and engaged: a threshold interaction
            + 0.7 * prime_age
            - 1.0 * (since_purchase < 3)  # a short lull right after buying,
            + 0.8 * ((since_purchase >= 4) & (since_purchase <= 7))  # then a replenishment cycle
        )
        purchase = np.minimum(rng.poisson(np.exp(log_rate) * act), 3)
        checkout = purchase + rng.binomial(cart, 0.12)

        for t, c in (
            (PAGE, page),
            (PRODUCT, product),
            (CART, cart),
            (CHECKOUT, checkout),
            (PURCHASE, purchase),
            (SENT, sent),
            (OPENED, opened),
            (CLICKED, clicked),
            (LAUNCH, launch),
            (SEARCH, search),
        ):
            counts[t, w] = np.minimum(c, 255)

        # Churn: the hazard rises as engagement falls, steeply below a threshold.
        hazard = _sigmoid(-5.3 - 1.0 * ee + 1.6 * (ee < -1.3)) * np.where(purchase > 0, 0.4, 1.0)
        churn = act & (rng.random(n) < hazard)
        revive = started & ~alive & (rng.random(n) < 0.003)
        alive = (alive & ~churn) | revive
        e = np.where(revive, mu + 0.3, e)
        dormant_weeks = np.where(alive, 0, dormant_weeks + 1)
        since_purchase = np.where(purchase > 0, 0, since_purchase + 1)
        cart_lag2, cart_lag1, click_lag1 = cart_lag1, cart, clicked.astype(np.int64)

    return counts


def expand_events(rng, counts: np.ndarray, traits: dict, t0: int, days: int, catalogue) -> dict:
    """Weekly counts -> one row per event with a time, a product, a price and a channel."""
    n, tier, signup_day = traits["n"], traits["tier"], traits["signup_day"]
    mobile_share = traits["mobile_share"]
    skus, popularity, list_price = catalogue
    period_end = t0 + days * 86_400
    prof_parts, week_parts, type_parts = [], [], []
    for t in range(len(EVENT_TYPES)):
        flat = np.flatnonzero(counts[t])
        rep = counts[t].ravel()[flat]
        prof_parts.append(np.repeat(flat % n, rep))
        week_parts.append(np.repeat(flat // n, rep))
        type_parts.append(np.full(int(rep.sum()), t, dtype=np.int8))
    del counts
    prof = np.concatenate(prof_parts)
    week = np.concatenate(week_parts)
    etype = np.concatenate(type_parts)
    m_events = len(prof)

    lo = np.maximum(t0 + week * 7 * 86_400, t0 + signup_day[prof] * 86_400)
    hi = np.minimum(t0 + (week + 1) * 7 * 86_400, period_end)
    ts = lo + (rng.random(m_events) * (hi - lo)).astype(np.int64)
    # Funnels in time order: a purchase follows its checkout by a few minutes; an email is
    # opened after it was sent and clicked right after it was opened.
    key = week.astype(np.int64) * n + prof
    for lead, follow, low, high in (
        (CHECKOUT, PURCHASE, 60, 1_800),
        (SENT, OPENED, 300, 2 * 86_400),
        (OPENED, CLICKED, 10, 600),
    ):
        ts = _follow(ts, key, etype, lead, follow, hi, rng.integers(low, high, m_events))

    sku_kind = np.isin(etype, (PRODUCT, CART, PURCHASE))
    sku = rng.choice(N_SKUS, size=m_events, p=popularity)
    qty = np.minimum(rng.geometric(0.65, m_events), 4)
    spend = np.array([1.0, 1.05, 1.15, 1.3])[tier[prof]]
    price = list_price[sku] * qty * spend * rng.lognormal(0, 0.25, m_events)
    price = np.round(price + np.where(price < 50, 4.99, 0.0), 2)
    channel = np.where(rng.random(m_events) < mobile_share[prof], 1, 0)
    channel = np.where(np.isin(etype, (SENT, OPENED, CLICKED)), 2, channel)
    channel = np.where(etype == LAUNCH, 1, channel)

    # Sort by profile, time, event type with one packed int64 key (faster than lexsort).
    order = np.argsort((prof.astype(np.int64) << 36) | ((ts - t0) << 4) | etype, kind="stable")
    prof, ts, etype = prof[order], ts[order], etype[order]
    sku, price, channel, sku_kind = sku[order], price[order], channel[order], sku_kind[order]

    return {
        "prof": prof,
        "ts": ts,
        "etype": etype,
        "sku": sku,
        "price": price,
        "channel": channel,
        "sku_kind": sku_kind,
        "skus": skus,
    }
