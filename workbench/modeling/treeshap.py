"""Exact LightGBM TreeSHAP contributions, computed once per distinct split pattern of each tree.

LightGBM's ``pred_contrib`` (path-dependent TreeSHAP) costs about leaves x depth^2 per row and
tree, which made it most of the time of scoring a million profiles. But what one tree
contributes to one row depends on nothing except which side of each of that tree's splits the
row falls: its thresholds, leaf values and training covers are fixed. Rows that agree on every
split of a tree get the same contributions from it, to the last bit. Customer snapshots repeat
themselves a lot at the resolution of one tree (a tree with 15 leaves looks at a dozen features
through a handful of thresholds each), so each tree sees a fraction of the rows as distinct.

`lightgbm_contributions` therefore, per tree:

1. maps every used feature to the interval of the tree's own thresholds the value lies in
   (with LightGBM's zero and missing values as classes of their own, and each categorical
   level its own class), and combines those into one pattern key per row;
2. asks LightGBM for that single tree's ``pred_contrib`` on one representative row per
   distinct key (``start_iteration=t, num_iteration=1``);
3. adds the result back to every row with that key.

Nothing is approximated: the sum over trees is LightGBM's own TreeSHAP (tested equal to a
direct ``pred_contrib`` call to floating-point round-off, thresholds hit exactly included).
Models this does not cover (multiclass, linear trees, an unknown split type) and small inputs
use the direct call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.progress import progress

__all__ = ["lightgbm_contributions", "DIRECT_BELOW_ROWS"]

DIRECT_BELOW_ROWS = 20_000
"""Inputs with fewer rows use LightGBM's direct call: it is already fast there."""

# LightGBM's kZeroThreshold: |x| <= this counts as zero for splits whose missing type is Zero.
_ZERO = float(np.float32(1e-35))
# A tree whose rows are mostly distinct patterns is cheaper to evaluate on every row directly.
_DEDUPE_MAX_FRACTION = 0.5
# Mixed-radix pattern keys are renumbered densely before they could overflow int64.
_RADIX_LIMIT = 2**62


def _tree_splits(root: dict[str, Any]) -> dict[int, list[Any]] | None:
    """feature index -> thresholds used by one tree; None for anything but plain splits."""
    splits: dict[int, list[Any]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_coeff" in node:  # linear tree: the leaf output depends on x itself
                return None
            continue
        if node.get("decision_type") not in ("<=", "=="):
            return None
        splits.setdefault(int(node["split_feature"]), []).append(node["threshold"])
        stack.append(node["left_child"])
        stack.append(node["right_child"])
    return splits


class _Intervals:
    """Every feature's values as the index of the interval of all the model's thresholds."""

    def __init__(self, M: np.ndarray, trees: list[dict[int, list[Any]]]):
        self.codes: dict[int, np.ndarray] = {}
        self.bounds: dict[int, np.ndarray] = {}
        self.classes: dict[int, int] = {}
        used = sorted({f for t in trees for f in t})
        for f in used:
            x = M[:, f]
            thresholds = [t for tree in trees for t in tree.get(f, [])]
            if any(isinstance(t, str) for t in thresholds):  # categorical: "1||4||7"
                # each value its own class (unseen levels are NaN, one class)
                codes, uniq = pd.factorize(x, use_na_sentinel=False)
                self.codes[f] = codes.astype(np.int32)
                self.classes[f] = max(len(uniq), 1)
                continue
            bounds = np.unique(np.asarray(thresholds, dtype=float))
            idx = np.searchsorted(bounds, x, side="left")  # (bounds[i-1], bounds[i]] -> i
            idx[np.abs(x) <= _ZERO] = len(bounds) + 1
            idx[np.isnan(x)] = len(bounds) + 2
            # small codes: one array per used feature is kept for the whole computation
            self.codes[f] = idx.astype(np.uint16 if len(bounds) + 3 <= 65535 else np.int32)
            self.bounds[f] = bounds
            self.classes[f] = len(bounds) + 3

    def local(self, f: int, thresholds: list[Any]) -> tuple[np.ndarray, int]:
        """Per-row class of feature f at the resolution of one tree's thresholds."""
        if f not in self.bounds:
            return self.codes[f], self.classes[f]
        bounds = self.bounds[f]
        mine = np.unique(np.asarray(thresholds, dtype=float))
        lut = np.empty(len(bounds) + 3, dtype=np.int64)
        lut[: len(bounds)] = np.searchsorted(mine, bounds, side="left")
        lut[len(bounds)] = len(mine)
        lut[len(bounds) + 1] = len(mine) + 1
        lut[len(bounds) + 2] = len(mine) + 2
        return lut[self.codes[f]], len(mine) + 3


def _pattern_codes(
    intervals: _Intervals, splits: dict[int, list[Any]], n: int
) -> tuple[np.ndarray, int]:
    """One code 0..k-1 per row: equal codes <=> same side of every split of the tree."""
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for f, thresholds in splits.items():
        cls, m = intervals.local(f, thresholds)
        if radix * m >= _RADIX_LIMIT:  # renumber before the mixed-radix key could overflow
            key, radix = _dense_codes(key, radix)
        key *= m
        key += cls
        radix *= m
    return _dense_codes(key, radix)


def _dense_codes(key: np.ndarray, radix: int) -> tuple[np.ndarray, int]:
    if radix <= max(4 * len(key), 1 << 22):
        seen = np.zeros(radix, dtype=bool)
        seen[key] = True
        number = np.cumsum(seen) - 1
        return number[key], int(number[-1]) + 1
    codes, uniq = pd.factorize(key)
    return codes.astype(np.int64), len(uniq)


def lightgbm_contributions(booster: Any, M: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """``booster.predict(M, pred_contrib=True)`` for a binary model, computed per tree pattern.

    Returns an (n, features + 1) float64 array whose last column is the bias (expected value);
    each row sums to the raw score.
    """
    n, n_features = M.shape
    if n == 0:  # LightGBM's own pred_contrib divides by the row count
        return np.zeros((0, n_features + 1), dtype=np.float64)
    model = booster.dump_model()
    trees = [_tree_splits(t["tree_structure"]) for t in model["tree_info"]]
    if (
        n < DIRECT_BELOW_ROWS
        or model.get("num_tree_per_iteration", 1) != 1
        or any(t is None for t in trees)
        or len(trees) != booster.num_trees()
    ):
        return booster.predict(M, pred_contrib=True, num_threads=num_threads)
    intervals = _Intervals(M, trees)
    # feature-major, so adding one feature's contributions touches contiguous memory
    out = np.zeros((n_features + 1, n), dtype=np.float64)
    taken = np.empty(n, dtype=np.float64)
    for t, splits in progress(enumerate(trees), "factors (TreeSHAP)", len(trees), "tree"):
        codes, k = _pattern_codes(intervals, splits, n)  # a single-leaf tree: one pattern
        if k > _DEDUPE_MAX_FRACTION * n:
            c = booster.predict(
                M, pred_contrib=True, start_iteration=t, num_iteration=1, num_threads=num_threads
            )
            for f in splits:
                out[f] += c[:, f]
            out[n_features] += c[0, n_features]
            continue
        representative = np.empty(k, dtype=np.int64)
        representative[codes] = np.arange(n)  # any row of a pattern stands for all of them
        c = booster.predict(
            M[representative],
            pred_contrib=True,
            start_iteration=t,
            num_iteration=1,
            num_threads=num_threads if k >= DIRECT_BELOW_ROWS else 1,
        )
        used = list(splits)
        per_feature = np.ascontiguousarray(c[:, used].T)
        for f, values in zip(used, per_feature, strict=True):
            np.take(values, codes, out=taken)
            out[f] += taken
        out[n_features] += c[0, n_features]  # the tree's expected value, the same for all rows
    return out.T
