"""Segments: audiences built from scores, influential factors and profile attributes.

A `SegmentRule` combines (all must hold) any of:

- ``bucket``: one bucket or a list of buckets;
- ``percentile_min`` / ``percentile_max``: an inclusive percentile range;
- ``factor``: a feature code among the profile's own influential factors (``factors_json``,
  raising or lowering);
- ``conditions``: tests on profile attributes (or score columns) in the goal's condition form,
  ``{field, op, value}``, all of which must hold;
- ``top_by_profit: true``: the profiles the `economics` cut-off contacts (the highest
  probabilities, as many as the profit-optimal target size, or the one under the budget; see
  `workbench.economics`).

Conditions are `workbench.conditions` evaluated as pandas boolean masks (never
``eval``/``query``), with the same missing-value rule as goals: a missing value satisfies
``not_exists``, ``!=`` and ``not_in`` only.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from workbench.conditions import condition_mask
from workbench.config import SegmentRule
from workbench.errors import ConfigError, DataError

__all__ = ["build_segments", "check_segments", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = ["segment", "size", "mean_probability", "expected_conversions"]
_DEFAULT_BUCKETS = ["high", "medium", "low"]
_RESERVED_NAMES = {"summary"}


def _factor_mask(factors_json: pd.Series, code: str) -> pd.Series:
    """Does the profile's factors_json list the feature code (raising or lowering)?"""
    import json

    pattern = r'"code":\s*' + re.escape(json.dumps(code)) + r"\s*[,}]"
    return (
        factors_json.astype("string").str.contains(pattern, regex=True).fillna(False).astype(bool)
    )


def _rule_mask(
    frame: pd.DataFrame,
    rule: SegmentRule,
    known_factors: set[str] | None,
    top_by_profit: int | None = None,
) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    if rule.top_by_profit:
        if top_by_profit is None:
            raise ConfigError(
                f"segment {rule.name!r}: top_by_profit needs the economics cut-off "
                "(an economics section and the validation predictions of the training run)"
            )
        from workbench.economics import top_profiles

        mask &= top_profiles(frame["probability"].to_numpy(), top_by_profit)
    if rule.bucket is not None:
        wanted = [rule.bucket] if isinstance(rule.bucket, str) else list(rule.bucket)
        mask &= frame["bucket"].isin(wanted)
    if rule.percentile_min is not None:
        mask &= frame["percentile"] >= rule.percentile_min
    if rule.percentile_max is not None:
        mask &= frame["percentile"] <= rule.percentile_max
    if rule.factor is not None:
        if "factors_json" not in frame.columns:
            raise DataError(
                f"segment {rule.name!r}: filters on a factor but scores lack 'factors_json'"
            )
        if known_factors is not None and rule.factor not in known_factors:
            raise ConfigError(
                f"segment {rule.name!r}: unknown factor {rule.factor!r}; "
                f"available factors: {sorted(known_factors)}"
            )
        fm = _factor_mask(frame["factors_json"], rule.factor)
        if known_factors is None and not fm.any():
            warnings.warn(
                f"segment {rule.name!r}: factor {rule.factor!r} is not among any profile's factors",
                stacklevel=3,
            )
        mask &= fm
    for j, cond in enumerate(rule.conditions):
        mask &= condition_mask(frame, cond, f"segment {rule.name!r}: conditions[{j}]")
    return mask


def build_segments(
    scores: pd.DataFrame,
    rules: Sequence[SegmentRule] | None,
    profiles: pd.DataFrame | None = None,
    *,
    feature_codes: Iterable[str] | None = None,
    top_by_profit: int | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Build each segment's profiles and a summary table.

    Parameters
    ----------
    scores : the scores frame (`workbench.scoring.SCORE_COLUMNS`).
    rules : segment rules; empty or None gives one segment per bucket (high, medium, low).
    profiles : optional profile attributes (``profile_id`` + columns) for conditions; joined on
        ``profile_id``. Score columns win over profile columns of the same name.
    feature_codes : optional known feature codes; a rule's ``factor`` outside them is a
        ConfigError (without it an unseen factor only warns).
    top_by_profit : how many of the highest probabilities a ``top_by_profit`` rule takes (the
        economics decision's audience); a ConfigError when such a rule has none.

    Returns
    -------
    (segments, summary): ``{name: rows of scores}`` (score columns, profile order kept) and a
    summary with ``segment, size, mean_probability, expected_conversions`` (sum of
    probabilities), one row per segment in rule order.

    Raises
    ------
    ConfigError : a condition names a field that is neither a score column nor a profile
        attribute (the message lists the available fields), an unknown factor, or a duplicate
        or reserved segment name.
    """
    if not rules:
        rules = [SegmentRule(name=b, bucket=b) for b in _DEFAULT_BUCKETS]
    names = [r.name for r in rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"segments: names must be unique, repeated: {dup}")
    reserved = sorted(set(names) & _RESERVED_NAMES)
    if reserved:
        raise ConfigError(f"segments: name(s) {reserved} are reserved for the summary file")

    frame = scores.reset_index(drop=True)
    if profiles is not None and any(r.conditions for r in rules):
        if "profile_id" not in profiles.columns:
            raise DataError("segments: profiles have no 'profile_id' column")
        extra = [c for c in profiles.columns if c != "profile_id" and c not in frame.columns]
        attrs = profiles[["profile_id", *extra]].drop_duplicates("profile_id", keep="last").copy()
        attrs["profile_id"] = attrs["profile_id"].astype(str)
        left = frame[["profile_id"]].astype({"profile_id": str})
        joined = left.merge(attrs, on="profile_id", how="left", validate="many_to_one")
        frame = pd.concat([frame, joined[extra].set_axis(frame.index)], axis=1)
    known = set(feature_codes) if feature_codes is not None else None

    segments: dict[str, pd.DataFrame] = {}
    rows = []
    for rule in rules:
        mask = _rule_mask(frame, rule, known, top_by_profit).to_numpy()
        seg = scores.iloc[np.flatnonzero(mask)].reset_index(drop=True)
        segments[rule.name] = seg
        prob = (
            seg["probability"].to_numpy(dtype=np.float64) if "probability" in seg else np.array([])
        )
        rows.append(
            {
                "segment": rule.name,
                "size": len(seg),
                "mean_probability": float(prob.mean()) if len(prob) else float("nan"),
                "expected_conversions": float(prob.sum()),
            }
        )
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary["size"] = summary["size"].astype(np.int64)
    return segments, summary


def check_segments(
    rules: Sequence[SegmentRule],
    feature_codes: Iterable[str],
    profiles: pd.DataFrame | None = None,
    where: str = "<config>",
) -> None:
    """Build every segment on an empty scores frame (and the profiles' columns, no rows): an
    unknown field or factor, or a value that does not fit its column, fails here, before any
    model is trained, exactly as it would when the scores exist."""
    from workbench.scoring import SCORE_COLUMNS

    if not rules:
        return
    kinds = {"probability": "float64", "percentile": "int16"}
    scores = pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "object")) for c in SCORE_COLUMNS})
    try:
        # top_by_profit: the economics cut-off exists only once there are scores (config.py
        # already requires the economics section); 0 stands for it here
        build_segments(scores, rules, profiles, feature_codes=feature_codes, top_by_profit=0)
    except ConfigError as exc:
        raise ConfigError(f"{where}: segments: {exc}") from None
