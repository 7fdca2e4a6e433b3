"""Saving and loading a fitted candidate as plain files: JSON and LightGBM's own model text.

No pickle: a manifest (`model.json`) lists every file with its sha256, and loading accepts only
plain JSON data (LightGBM's text is checked in Python before LightGBM parses it), so a damaged
or foreign file fails with one line and can never run code or abort the process.

Provenance: the manifest records what the model was trained for (`trained_for`: the goal, its
outcome window, eligibility, the feature specification's and the config's sha256), so `workbench
score` can refuse a config that asks another question (`check_trained_for`).

The sha256 sums detect accidents (a truncated copy, an edited file), not tampering: anyone who
can edit a file can recompute its sum. With `WORKBENCH_MODEL_KEY` set in the environment,
`save_model` signs the manifest with HMAC-SHA256 and `load_model` accepts only models signed
with that key, so a model edited without the key is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from workbench.errors import ModelMismatchError
from workbench.features import spec_from_dict
from workbench.modeling.base import ID_COLUMNS, _validate_plain
from workbench.modeling.calibration import checked_calibrator
from workbench.modeling.candidates import CANDIDATES
from workbench.modeling.logistic import LogisticPropensity
from workbench.modeling.recency import RecencyRule

FORMAT = "propensity-workbench-model"

FORMAT_VERSION = 1
KEY_VARIABLE = "WORKBENCH_MODEL_KEY"
MAX_MANIFEST_BYTES = 50_000_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _signature(manifest: dict, key: str) -> str:
    """HMAC-SHA256 of the manifest (without its signature) in a canonical JSON form."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def trained_for(config, files: dict[str, str]) -> dict:
    """What a model answers: the goal and window, who was eligible, and hashes of its feature
    specification and of the whole config it was trained with."""
    from workbench.goals import describe_goal

    canonical = json.dumps(config.to_yaml_dict(), sort_keys=True, default=str)
    return {
        "goal": config.goal.model_dump(mode="json"),
        "goal_text": describe_goal(config),
        "propensity_type": config.goal.propensity_type,
        "window_days": config.goal.window_days,
        "eligibility": config.eligibility.model_dump(mode="json"),
        "lookback_days": config.features.lookback_days,
        "feature_spec_sha256": _sha256(files["feature_spec.json"]),
        "config_sha256": _sha256(canonical),
    }


def check_trained_for(model, config, where) -> list[str]:
    """How `config`'s question differs from the one `model` was trained for (empty when it is
    the same, or the model predates provenance): a different goal or outcome window."""
    saved = getattr(model, "trained_for_", None) or {}
    if not saved:
        return []
    differences = []
    goal = config.goal.model_dump(mode="json")
    same_goal = {k: v for k, v in saved.get("goal", {}).items() if k != "window_days"} == {
        k: v for k, v in goal.items() if k != "window_days"
    }
    if not same_goal:
        from workbench.goals import describe_goal

        differences.append(
            f"the model was trained for '{saved.get('goal_text')}' ({saved.get('propensity_type')}),"
            f" the config asks for '{describe_goal(config)}' ({config.goal.propensity_type})"
        )
    if saved.get("window_days") != config.goal.window_days:
        differences.append(
            f"the model's outcome window is {saved.get('window_days')} days, the config's "
            f"window_days is {config.goal.window_days}"
        )
    return differences


def _feature_entries(model) -> list[dict]:
    levels = {}
    st = getattr(model, "state_", {})
    if isinstance(st, dict) and "parts" in st:  # a blend: the boosted part's encoding
        st = st["parts"]["boosted"].state_
    if isinstance(st, dict) and "levels" in st:
        levels = st["levels"]
    elif isinstance(st, dict) and "columns" in st:
        for c in st["columns"]:
            if c["type"] == "dummy":
                levels[c["feature"]] = list(c["kept"])
    return [
        {"code": s.code, "kind": s.kind, "levels": levels.get(s.code)} for s in model.feature_specs_
    ]


def save_model(model, specs, config, directory: str | Path) -> Path:
    """Write a fitted candidate to `directory` as plain files (no pickle) and a manifest.

    Files: `parameters.json` (+ `lightgbm.txt` for boosted), `calibrator.json`,
    `feature_spec.json`, `config.yaml` and `model.json` (kind, version, features with their
    kinds and category levels, sha256 of every file).
    """
    import yaml

    from workbench import __version__

    if not hasattr(model, "state_"):
        raise ValueError("save_model: the model is not fitted")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(model._state_files())
    files["calibrator.json"] = json.dumps(
        {
            "calibrator": model.calibrator_,
            "calibration": model.calibration_,
            "notes": list(model.notes_),
            # the training range (min, max, median) per feature: what factors call typical
            "ranges": getattr(model, "ranges_", {}),
        },
        indent=1,
    )
    files["feature_spec.json"] = json.dumps([asdict(s) for s in model.feature_specs_], indent=2)
    files["all_feature_spec.json"] = json.dumps(
        [asdict(s) for s in (specs or model.feature_specs_)], indent=2
    )
    cfg = config.to_yaml_dict() if config is not None else {}
    files["config.yaml"] = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.name,
        "workbench_version": __version__,
        "saved_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "features": _feature_entries(model),
        "files": {name: _sha256(text) for name, text in sorted(files.items())},
    }
    if config is not None:
        manifest["trained_for"] = trained_for(config, files)
    key = os.environ.get(KEY_VARIABLE)
    if key:
        manifest["signature"] = {"method": "hmac-sha256", "value": _signature(manifest, key)}
    path = directory / "model.json"
    path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


_REQUIRED_FILES = {
    "blend": ["parameters.json", "lightgbm.txt"],
    "logistic": ["parameters.json"],
    "boosted": ["parameters.json", "lightgbm.txt"],
    "recency_rule": ["parameters.json"],
}

_KNOWN_FILES = {
    "parameters.json",
    "lightgbm.txt",
    "calibrator.json",
    "feature_spec.json",
    "all_feature_spec.json",
    "config.yaml",
}


def check_file_names(names) -> None:
    """Only the files `save_model` writes, by plain name: '../x' or 'a/b' never gets read or
    written (checked before anything touches the disk)."""
    for name in names:
        if name not in _KNOWN_FILES and name != "model.json":
            raise ModelMismatchError(f"unexpected file {name!r} in the manifest")


def read_manifest(directory: Path) -> dict:
    """`model.json` as plain data, with one line for a folder, a huge or a malformed file."""
    mpath = directory / "model.json"
    if not mpath.exists():
        raise ModelMismatchError(f"{mpath}: no saved model here (model.json is missing)")
    if not mpath.is_file():
        raise ModelMismatchError(f"{mpath}: is a folder, expected the model's manifest file")
    try:
        if mpath.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError("model.json is too large to be a manifest")
        manifest = _validate_plain(json.loads(mpath.read_text(encoding="utf-8")))
    except RecursionError:
        raise ModelMismatchError(f"{mpath}: not a valid manifest (nested too deeply)") from None
    except (OSError, ValueError) as exc:
        raise ModelMismatchError(f"{directory}: cannot load the saved model: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelMismatchError(f"{mpath}: not a propensity-workbench model manifest")
    return manifest


def _check_signature(manifest: dict, directory: Path) -> None:
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        return  # unsigned checking: the sha256 sums catch accidents, not tampering
    signature = manifest.get("signature")
    value = signature.get("value") if isinstance(signature, dict) else None
    if not isinstance(value, str):
        raise ModelMismatchError(
            f"{directory}: the model is not signed, and {KEY_VARIABLE} is set: only models "
            "signed with that key are loaded (save it again with the key set)"
        )
    if not hmac.compare_digest(value, _signature(manifest, key)):
        raise ModelMismatchError(
            f"{directory}: the model's signature does not match {KEY_VARIABLE}: it was "
            "changed after it was signed (tampered), or signed with another key"
        )


def load_model(directory: str | Path):
    """Load a model saved by `save_model`: plain data only (no pickle, no eval).

    Every file's sha256 must match the manifest (and, with `WORKBENCH_MODEL_KEY` set, the
    manifest's signature the key); anything else raises `ModelMismatchError`.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    _check_signature(manifest, directory)
    try:
        if manifest.get("format") != FORMAT:
            raise ValueError("not a propensity-workbench model manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {manifest.get('format_version')!r}")
        kind = manifest.get("kind")
        if kind not in CANDIDATES:
            raise ValueError(f"unknown model kind {kind!r}")
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise ValueError("'files' must map file names to sha256 digests")
        need = _REQUIRED_FILES[kind] + ["calibrator.json", "feature_spec.json"]
        for name in need:
            if name not in listed:
                raise ValueError(f"{name} is not listed in the manifest")
        texts: dict[str, str] = {}
        for name, digest in listed.items():
            if name not in _KNOWN_FILES:
                raise ValueError(f"unexpected file {name!r} in the manifest")
            fpath = directory / name
            if not fpath.is_file():
                raise ValueError(f"{name} is missing")
            text = fpath.read_text(encoding="utf-8")
            if _sha256(text) != digest:
                raise ValueError(f"{name} was changed after the model was saved (sha256 mismatch)")
            texts[name] = text
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ModelMismatchError(f"{directory}: cannot load the saved model: {exc}") from None
    try:
        specs_raw = _validate_plain(json.loads(texts["feature_spec.json"]))
        specs = [spec_from_dict(d) for d in specs_raw]
        if any(s.kind not in ("numeric", "categorical") for s in specs):
            raise ValueError("feature kinds must be numeric or categorical")
        feats = manifest.get("features") or []
        if [(f.get("code"), f.get("kind")) for f in feats] != [(s.code, s.kind) for s in specs]:
            raise ValueError("feature_spec.json does not match the manifest's features")
        model = CANDIDATES[kind](specs)
        model.feature_specs_ = specs
        cal = _validate_plain(json.loads(texts["calibrator.json"]))
        model.calibrator_ = checked_calibrator(cal["calibrator"])
        model.calibration_ = cal.get("calibration", {})
        model.notes_ = list(cal.get("notes", []))
        model.ranges_ = {
            str(k): [float(v[0]), float(v[1]), None if v[2] is None else float(v[2])]
            for k, v in (cal.get("ranges") or {}).items()
        }
        model._load_state(texts)
        _check_state(model)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ModelMismatchError(f"{directory}: the saved model is not valid: {exc}") from None
    model.trained_for_ = manifest.get("trained_for") or {}
    return model


def _finite(value, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is {number} (a fitted model's values are finite numbers)")
    return number


def _check_state(model) -> None:
    st = model.state_
    if isinstance(model, LogisticPropensity):
        _finite(st["intercept"], "intercept")
        codes = {s.code for s in model.feature_specs_}
        for c in st["columns"]:
            if c["feature"] not in codes or c["type"] not in ("numeric", "missing", "dummy"):
                raise ValueError(f"bad design column {c.get('name')!r}")
            for k in ("coef", "mean"):
                _finite(c[k], f"{c.get('name')} {k}")
            if c["type"] == "numeric":
                if c["transform"] not in ("identity", "log1p"):
                    raise ValueError("bad transform")
                for k in ("median", "center", "scale") + (("lo", "hi") if "lo" in c else ()):
                    _finite(c[k], f"{c.get('name')} {k}")
    elif isinstance(model, RecencyRule):
        for k in ("fill", "center", "scale", "a", "b", "mean") + (
            ("lo", "hi") if "lo" in st else ()
        ):
            _finite(st[k], k)


def check_feature_match(model, frame: pd.DataFrame) -> None:
    """Raise `ModelMismatchError` naming missing, extra or wrong-kind feature columns."""
    specs = model.feature_specs_
    want = {s.code: s.kind for s in specs}
    have = [c for c in frame.columns if c not in ID_COLUMNS]
    missing = [c for c in want if c not in frame.columns]
    extra = [c for c in have if c not in want]
    if isinstance(model, RecencyRule):
        extra = []  # the rule reads one column and ignores the rest
    wrong = []
    for code, kind in want.items():
        if code not in frame.columns:
            continue
        col = frame[code]
        is_cat = isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            col
        )
        if (kind == "numeric") == is_cat:
            wrong.append(f"{code} (expected {kind}, got {col.dtype})")
    parts = []
    if missing:
        parts.append(f"missing column(s) {missing}")
    if extra:
        parts.append(f"extra column(s) {extra}")
    if wrong:
        parts.append(f"wrong kind: {', '.join(wrong)}")
    if parts:
        raise ModelMismatchError(
            f"the {model.name} model does not match this frame: " + "; ".join(parts)
        )
