"""Influential factors by family, in a marketer's words, never against the goal's direction.

A profile's factors are one entry per factor family (`FeatureSpec.group`: "Purchase frequency",
"Recency of purchase", "Dollar value"...), whose contribution is the sum of its features' (so
the entries and the bias still add up to the raw score). Each entry reads the value of one of
the family's features beside what is typical, the training rows' mean (what the
contributions are centred on, `base.training_ranges`): "Purchase frequency: 3 purchases in the last 90 days; typical:
1 purchase (raises, high)".

The direction rule: in a family the goal gives a direction (frequency and recency of the goal
event and of overall activity), an entry says "raises" only when the profile shows more
activity than typical and "lowers" only when it shows less, both compared within the training
range (the models see a value past it as the range's edge). The feature shown is the family's
largest contribution of the family's sign that agrees; when none does (a tree's interactions
can give "3 purchases... lowers"), the entry is withheld: it ranks as 0, and the counts are
returned with the factors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.factor_text import _json_value, format_value, in_words
from workbench.factors import (
    SUFFIX_JSON,
    SUFFIX_TEXT,
    _importance_index,
    _to_pandas_text,
    factor_slots,
    importance_thresholds,
    listed_json,
)
from workbench.features import FeatureSpec

__all__ = ["Families", "family_contributions", "family_tables", "grouped_factors"]


@dataclass(frozen=True)
class Families:
    """The factor families of a model's features, in feature order."""

    names: list[str]
    members: list[np.ndarray]  # column positions (in `codes`) per family
    codes: list[str]
    specs: list[FeatureSpec]

    @classmethod
    def of(cls, contributions: pd.DataFrame, specs: Sequence[FeatureSpec]) -> Families:
        known = [s for s in specs if s.code in contributions.columns]
        index: dict[str, list[int]] = {}
        for j, s in enumerate(known):
            index.setdefault(s.factor_family, []).append(j)
        members = [np.array(v, dtype=np.int64) for v in index.values()]
        return cls(list(index), members, [s.code for s in known], known)

    def directional(self, g: int) -> bool:
        return all(self.specs[j].direction != 0 for j in self.members[g])


def family_contributions(contributions: pd.DataFrame, specs: Sequence[FeatureSpec]):
    """(families, the contribution of each family per row: the sum of its features')."""
    fam = Families.of(contributions, specs)
    C = np.nan_to_num(contributions[fam.codes].to_numpy(dtype=np.float64, na_value=np.nan))
    G = np.column_stack([C[:, m].sum(axis=1) for m in fam.members]) if fam.members else C[:, :0]
    return fam, G, C


def _typical(spec: FeatureSpec, values: np.ndarray, ranges: dict) -> float:
    """The training rows' mean (`ranges`, what the contributions are centred on), else the
    scored rows'."""
    known = ranges.get(spec.code)
    if known is not None and known[2] is not None:
        return float(known[2])
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else np.nan


def _as_activity(values: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Missing as 'nothing happened': 0 events, or infinitely long ago for a recency."""
    return np.where(np.isfinite(values), values, np.inf if spec.direction < 0 else 0.0)


def _agreement(fam: Families, X: pd.DataFrame, direction: int, ranges: dict):
    """Per feature (n x p): +1 where the profile shows more goal activity than typical, -1
    less, 0 equal or no direction, compared within the training range; and the typicals."""
    n = len(X)
    A = np.zeros((n, len(fam.codes)), dtype=np.int8)
    typical = np.full(len(fam.codes), np.nan)
    for j, s in enumerate(fam.specs):
        if s.kind != "numeric" or s.code not in X.columns:
            continue
        v = pd.to_numeric(X[s.code], errors="coerce").to_numpy(dtype=float)
        typical[j] = _typical(s, v, ranges)
        if s.direction:
            lo, hi = (ranges.get(s.code) or (-np.inf, np.inf))[:2]
            diff = np.clip(_as_activity(v, s), lo, hi) - np.clip(typical[j], lo, hi)
            A[:, j] = np.sign(np.nan_to_num(diff * s.direction * direction)).astype(np.int8)
    return A, typical


def grouped_factors(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    specs: Sequence[FeatureSpec],
    *,
    direction: int = 1,
    ranges: dict | None = None,
    top_up: int = 3,
    top_down: int = 1,
    thresholds: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Per profile, the top families that raise and the one that lowers its score (columns
    `factor_1..`, `factor_down`, `factors_json` as `factors.factors_from_contributions`), and
    the direction guard's counts: entries `withheld`, `profiles` concerned, per family.

    `direction`: +1 for an `occurs` goal, -1 for `does_not_occur`; `ranges`: the model's
    training ranges ([min, max, median] per feature, `ranges_`)."""
    fam, G, C = family_contributions(contributions, specs)
    A, typical = _agreement(fam, X, direction, ranges or {})
    n = len(X)
    rep = np.zeros((n, len(fam.names)), dtype=np.int64)
    withheld = np.zeros((n, len(fam.names)), dtype=bool)
    for g, members in enumerate(fam.members):
        sign = np.sign(G[:, g])[:, None]
        ok = np.sign(C[:, members]) == sign
        if fam.directional(g):
            ok &= A[:, members] == sign
        score = np.where(ok, np.abs(C[:, members]), -1.0)
        rep[:, g] = members[np.argmax(score, axis=1)]
        has = score.max(axis=1) >= 0
        if fam.directional(g):
            withheld[:, g] = ~has & (G[:, g] != 0)
        else:  # no agreement needed; a family contributing 0 shows its largest member
            fallback = members[np.argmax(np.abs(C[:, members]), axis=1)]
            rep[:, g] = np.where(has, rep[:, g], fallback)
    G = np.where(withheld, 0.0, G)
    frame = _factor_frame(G, rep, fam, X, typical, top_up, top_down, thresholds)
    guard = {
        "withheld": int(withheld.sum()),
        "profiles": int(withheld.any(axis=1).sum()),
        "by_family": {fam.names[g]: int(k) for g, k in enumerate(withheld.sum(axis=0)) if k},
    }
    return frame, guard


def _entry_text(fam: Families, X: pd.DataFrame, typical: np.ndarray, j: int, rows: np.ndarray):
    """(text, JSON middle) of feature j's value for `rows`, each distinct value formatted once."""
    spec = fam.specs[j]
    col = X[spec.code] if spec.code in X.columns else pd.Series([np.nan] * len(X), index=X.index)
    codes, uniques = pd.factorize(col.iloc[rows], use_na_sentinel=True)
    values = [*uniques, None]
    t = typical[j]
    if spec.kind == "numeric" and not np.isnan(t):
        beside = f"; typical: {format_value(t, spec)}"
        t_json = json.dumps(float(t))
    else:
        beside, t_json = "", "null"
    head = f', "code": {json.dumps(spec.code)}, "label": {json.dumps(spec.label)}, "value": '
    family = spec.factor_family
    text = np.array([in_words(v, spec, family) + beside for v in values], dtype=object)
    middle = np.array(
        [f'{head}{_json_value(v, spec)}, "typical": {t_json}' for v in values], dtype=object
    )
    codes = np.where(codes < 0, len(uniques), codes)
    return text[codes], middle[codes]


# Rows whose factor text is built at once: the text of every slot and the JSON of a chunk live
# together (about 1 KB a row), so at 1M profiles building all rows at once held ~1 GB more.
FACTOR_TEXT_CHUNK_ROWS = 131_072


def _factor_frame(G, rep, fam, X, typical, top_up, top_down, thresholds) -> pd.DataFrame:
    """The factor columns from family contributions `G` and the feature each entry shows,
    built in row chunks (`FACTOR_TEXT_CHUNK_ROWS`) and kept as Arrow text until the end."""
    n = len(X)
    if thresholds is None:
        thresholds = importance_thresholds(G)  # over every row, as if built at once
    names = pa.array([f"{name}: " for name in fam.names], type=pa.string())
    json_names = pa.array(['{"factor": ' + json.dumps(name) for name in fam.names])
    chunks: dict[str, list[pa.Array]] = {}
    for start in range(0, max(n, 1), FACTOR_TEXT_CHUNK_ROWS):
        rows = slice(start, start + FACTOR_TEXT_CHUNK_ROWS)
        part = _factor_chunk(
            G[rows],
            rep[rows],
            fam,
            X.iloc[rows],
            typical,
            (top_up, top_down),
            thresholds,
            (names, json_names),
        )
        for name, array in part.items():
            chunks.setdefault(name, []).append(array)
    return pd.DataFrame(
        {k: _to_pandas_text(pa.chunked_array(v, pa.string())) for k, v in chunks.items()},
        index=X.index,
    )


def _factor_chunk(G, rep, fam, X, typical, tops, thresholds, prefixes) -> dict[str, pa.Array]:
    """Text of each factor slot and the JSON list, for the rows of one chunk."""
    n = len(X)
    names, json_names = prefixes
    rows_all = np.arange(n)
    out, json_slots = {}, []
    for name, gidx in factor_slots(G, *tops):
        has = gidx >= 0
        g = np.where(has, gidx, 0)
        val = np.where(has, G[rows_all, g] if G.size else 0.0, 0.0)
        kind = (val > 0).astype(np.int64) * 3 + _importance_index(np.abs(val), thresholds)
        text = np.full(n, None, dtype=object)
        jtext = np.full(n, None, dtype=object)
        feature = np.where(has, rep[rows_all, g] if rep.size else 0, -1)
        for j in np.unique(feature[has]):
            at = np.flatnonzero(feature == j)
            text[at], jtext[at] = _entry_text(fam, X, typical, int(j), at)
        g_pa, kind_pa = pa.array(g), pa.array(kind)
        out[name] = pc.binary_join_element_wise(
            names.take(g_pa), pa.array(text, pa.string()), SUFFIX_TEXT.take(kind_pa), ""
        )
        json_slots.append(
            pc.binary_join_element_wise(
                json_names.take(g_pa),
                pa.array(jtext, pa.string()),
                ', "contribution": ',
                pc.cast(pa.array(np.round(val, 6)), pa.string()),
                SUFFIX_JSON.take(kind_pa),
                "",
            )
        )
    out["factors_json"] = listed_json(json_slots, n)
    return out


def family_tables(
    contributions: pd.DataFrame, X: pd.DataFrame, buckets: pd.Series, specs: Sequence[FeatureSpec]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(global, by bucket) influential factor families: the tables of
    `factor_summary.global_factors` and `bucket_factors` with one row per family (its
    contribution the sum of its features'); `typical_value` and `leading_feature` are those of
    the family's feature with the largest mean |contribution|."""
    from workbench.factor_summary import bucket_factors, global_factors

    fam, G, C = family_contributions(contributions, specs)
    mean_abs = np.abs(C).mean(axis=0) if len(C) else np.zeros(len(fam.codes))
    lead = [int(m[np.argmax(mean_abs[m])]) for m in fam.members]
    # each family reads its values in its leading feature's words: unit and phrase ("the last
    # purchase was 0.3-2 usual gaps ago", "$12-15"), not bare numbers beside the family's name
    fam_specs = [
        FeatureSpec(
            name, name, fam.specs[j].kind, unit=fam.specs[j].unit, phrase=fam.specs[j].phrase
        )
        for name, j in zip(fam.names, lead, strict=True)
    ]
    frame = pd.DataFrame(G, columns=fam.names, index=X.index)
    values = pd.DataFrame({name: X[fam.codes[j]] for name, j in zip(fam.names, lead, strict=True)})
    leading = {name: fam.specs[j].label for name, j in zip(fam.names, lead, strict=True)}
    overall = global_factors(frame, fam_specs)
    by_bucket = bucket_factors(frame, values, buckets, fam_specs)
    overall["leading_feature"] = overall["feature"].map(leading)
    by_bucket["leading_feature"] = by_bucket["feature"].map(leading)
    return overall, by_bucket
