"""A saved LightGBM model's text, checked in Python before LightGBM's own parser sees it.

LightGBM's C++ parser trusts its input: an edited `num_leaves`, a cut-off file or a split on a
feature the model does not have ends in a failed CHECK that aborts the whole process (SIGABRT,
no Python exception), or loads and fails later. `check_model_text` reads the header and every
tree the way LightGBM lays them out (`Booster.model_to_string`) and raises `ValueError` naming
the tree and field for anything LightGBM could not load as a proper binary model: array lengths
against `num_leaves`, child indices forming one tree, split features in range, categorical
boundaries, finite leaf values (thresholds may be infinite, never NaN), and `tree_sizes`
matching the text.
"""

from __future__ import annotations

import math
import re

MAX_LEAVES = 131_072  # LightGBM's own upper bound on num_leaves
_TREE = re.compile(r"^Tree=(\d+)\n", re.M)
_END = "\nend of trees"
_INTERNAL_REQUIRED = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
_INTERNAL_OPTIONAL = ("split_gain", "internal_value", "internal_weight", "internal_count")
_LEAF_OPTIONAL = ("leaf_weight", "leaf_count")


def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _numbers(text: str, kind, where: str, infinite: bool = False) -> list:
    """The numbers of one field; floats finite, or with `infinite` not NaN (a split threshold:
    LightGBM writes `inf` for a split of every value against the missing ones)."""
    try:
        values = [kind(v) for v in text.split()]
    except ValueError:
        raise ValueError(f"{where} holds a value that is not a number") from None
    if kind is float and infinite and any(math.isnan(v) for v in values):
        raise ValueError(f"{where} holds a NaN value")
    if kind is float and not infinite and not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where} holds an infinite or NaN value")
    return values


def _int(fields: dict[str, str], key: str, where: str) -> int:
    if key not in fields:
        raise ValueError(f"{where} has no {key}")
    try:
        return int(fields[key])
    except ValueError:
        raise ValueError(f"{where}: {key}={fields[key]!r} is not a whole number") from None


def _check_tree(fields: dict[str, str], n_features: int, where: str) -> None:
    leaves = _int(fields, "num_leaves", where)
    if not 1 <= leaves <= MAX_LEAVES:
        raise ValueError(f"{where}: num_leaves={leaves} is out of range")
    cats = _int(fields, "num_cat", where)
    if cats < 0:
        raise ValueError(f"{where}: num_cat={cats} is negative")
    values = _numbers(fields.get("leaf_value", ""), float, f"{where} leaf_value")
    if len(values) != leaves:
        raise ValueError(f"{where}: leaf_value has {len(values)} values for {leaves} leaves")
    for key in _LEAF_OPTIONAL:
        found = _numbers(fields.get(key, ""), float, f"{where} {key}")
        if found and len(found) != leaves:
            raise ValueError(f"{where}: {key} has {len(found)} values for {leaves} leaves")
    nodes = leaves - 1
    arrays = {}
    for key in _INTERNAL_REQUIRED + _INTERNAL_OPTIONAL:
        kind = float if key in ("threshold", "split_gain") or key.startswith("internal_") else int
        arrays[key] = _numbers(fields.get(key, ""), kind, f"{where} {key}", key == "threshold")
        if (arrays[key] or key in _INTERNAL_REQUIRED) and len(arrays[key]) != nodes:
            raise ValueError(f"{where}: {key} has {len(arrays[key])} values for {nodes} splits")
    if any(not 0 <= f < n_features for f in arrays["split_feature"]):
        raise ValueError(f"{where}: split_feature refers to a feature the model does not have")
    if any(not 0 <= d < 16 for d in arrays["decision_type"]):
        raise ValueError(f"{where}: decision_type is out of range")
    _check_children(arrays["left_child"] + arrays["right_child"], nodes, leaves, where)
    if cats:
        bounds = _numbers(fields.get("cat_boundaries", ""), int, f"{where} cat_boundaries")
        codes = _numbers(fields.get("cat_threshold", ""), int, f"{where} cat_threshold")
        if len(bounds) != cats + 1 or bounds[0] != 0 or bounds[-1] != len(codes):
            raise ValueError(f"{where}: cat_boundaries do not match cat_threshold")
        if any(b > a for a, b in zip(bounds[1:], bounds[:-1], strict=True)):
            raise ValueError(f"{where}: cat_boundaries are not in order")
    for d, t in zip(arrays["decision_type"], arrays["threshold"], strict=True):
        if d & 1 and not (t == int(t) and 0 <= t < cats):  # a categorical split's set index
            raise ValueError(f"{where}: a categorical split refers to a missing category set")


def _check_children(children: list[int], nodes: int, leaves: int, where: str) -> None:
    """Every split but the root and every leaf is the child of exactly one split: one tree, no
    cycles, no index past the arrays."""
    if nodes == 0:
        return
    splits = sorted(c for c in children if c >= 0)
    ends = sorted(-c - 1 for c in children if c < 0)
    if splits != list(range(1, nodes)) or ends != list(range(leaves)):
        raise ValueError(f"{where}: left_child/right_child do not form one tree")


def check_model_text(text: str, n_features: int) -> None:
    """Raise ValueError unless `text` is a whole single-output LightGBM model over
    `n_features` features (see the module docstring)."""
    if not text.startswith("tree\n"):
        raise ValueError("it does not start like a LightGBM model ('tree')")
    end = text.find(_END)
    if end < 0 or "\nend of parameters" not in text[end:]:
        raise ValueError("it is cut off ('end of trees' or 'end of parameters' is missing)")
    head_end = text.find("\nTree=")
    head = _fields(text[: head_end if 0 <= head_end < end else end])
    for key, want in (("num_class", 1), ("num_tree_per_iteration", 1)):
        if _int(head, key, "the header") != want:
            raise ValueError(f"{key} is not {want}: not a binary model")
    if _int(head, "max_feature_idx", "the header") != n_features - 1:
        raise ValueError(f"it has {head['max_feature_idx']} + 1 features, the model {n_features}")
    if len(head.get("feature_names", "").split()) != n_features:
        raise ValueError("feature_names does not list one name per feature")
    starts = [m for m in _TREE.finditer(text) if m.start() < end]
    sizes = _numbers(head.get("tree_sizes", ""), int, "tree_sizes")
    if [int(m.group(1)) for m in starts] != list(range(len(starts))) or len(sizes) != len(starts):
        raise ValueError("the trees are not numbered 0, 1, 2 ... as tree_sizes lists them")
    bounds = [m.start() for m in starts] + [end + 1]
    for i in range(len(starts)):
        block = text[bounds[i] : bounds[i + 1]]
        if len(block) != sizes[i]:
            raise ValueError(f"tree {i} is {len(block)} characters, tree_sizes says {sizes[i]}")
        _check_tree(_fields(block), n_features, f"tree {i}")
