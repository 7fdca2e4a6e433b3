"""Saved models: a damaged, foreign or edited model file is one line (never a process abort),
and a model is not used for a question it was not trained for unless --force says so."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from reliability.kit import ONE_LINE, SCORE, Suite, params, run_case

S = Suite()
BOOSTED_SCORE = ["score", "{in}/config.yaml", "--model", "{in}/boosted", "--out", "{out}/s"]


def rehash(model_dir: Path, name: str) -> None:
    """Recompute a file's sha256 in the manifest, as someone editing a model on purpose would."""
    m = json.loads((model_dir / "model.json").read_text())
    text = (model_dir / name).read_text(encoding="utf-8")
    m["files"][name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (model_dir / "model.json").write_text(json.dumps(m, indent=1))


def mismatch(**goal):
    def setup(ws):
        ws.base(goal=goal)
        ws.model_run()

    return setup


def forced(ws, o):
    summary = json.loads(next(ws.out.rglob("score_summary.json")).read_text())
    return None if summary.get("forced") else "the differences --force overrode are not recorded"


S.add(
    "model_goal_mismatch",
    mismatch(outcome="does_not_occur", window_days=60),
    SCORE,
    (2,),
    "a purchase-within-30-days model refuses a churn-within-60-days config unless --force",
    message=r"the model was trained for 'has an event where event_type == purchase within 30 "
    r"days of the cutoff' \(conversion\), the config asks for .*\(churn\).*--force",
)
S.add(
    "model_window_mismatch",
    mismatch(window_days=60),
    SCORE,
    (2,),
    "a 30-day model refuses a 60-day config unless --force",
    message=r"the model's outcome window is 30 days, the config's window_days is 60.*--force",
)
S.add(
    "model_goal_mismatch_force",
    mismatch(outcome="does_not_occur", window_days=60),
    [*SCORE, "--force"],
    (0,),
    "--force scores anyway, and says so in score_summary.json",
    check=forced,
)


def boosted_tamper(edit):
    def setup(ws):
        ws.base()
        d = ws.model_run("boosted")
        p = d / "lightgbm.txt"
        p.write_text(edit(p.read_text()))
        rehash(d, "lightgbm.txt")

    return setup


def fix_tree_sizes(text: str) -> str:
    """Make `tree_sizes` agree with the trees again, so only the deeper check can notice."""
    starts = [m.start() for m in re.finditer(r"^Tree=", text, re.M)]
    bounds = [*starts, text.index("end of trees")]
    sizes = " ".join(str(bounds[i + 1] - bounds[i]) for i in range(len(starts)))
    return re.sub(r"tree_sizes=.*", f"tree_sizes={sizes}", text, count=1)


for name, edit, what in (
    (
        "lightgbm_malformed_rehashed",
        lambda t: t.replace("num_leaves=", "num_leaves=1000", 1),
        "an edited num_leaves (LightGBM's parser aborted the process: SIGABRT)",
    ),
    (
        "lightgbm_malformed_sizes_fixed",
        lambda t: fix_tree_sizes(t.replace("num_leaves=", "num_leaves=1000", 1)),
        "an edited num_leaves with tree_sizes made to agree",
    ),
    ("lightgbm_truncated_rehashed", lambda t: t[: len(t) // 2], "a model cut in half"),
    (
        "lightgbm_garbage_rehashed",
        lambda t: "tree\nversion=v4\nthis is not a model\n",
        "text that is not a model",
    ),
    (
        "lightgbm_split_feature_out_of_range_rehashed",
        lambda t: fix_tree_sizes(re.sub(r"split_feature=(\d+)", "split_feature=99999", t, count=1)),
        "a split on feature 99999",
    ),
    (
        "lightgbm_children_form_a_cycle_rehashed",
        lambda t: fix_tree_sizes(re.sub(r"left_child=(\d+)", "left_child=0", t, count=1)),
        "a tree whose first split points back at itself",
    ),
):
    S.add(
        name,
        boosted_tamper(edit),
        BOOSTED_SCORE,
        (2,),
        f"one line: lightgbm.txt is not a valid model ({what}), checked before LightGBM parses it",
        message=r"in/boosted: the saved model is not valid: lightgbm\.txt is not a valid LightGBM",
        process=True,  # a regression would abort the process: never this test session
    )


def model_edit(fn):
    def setup(ws):
        ws.base()
        fn(ws.model_run() / "model")

    return setup


def make_folder(d: Path) -> None:
    (d / "model.json").unlink()
    (d / "model.json").mkdir()


def calibrator(a, b):
    def fn(d: Path):
        cal = json.loads((d / "calibrator.json").read_text())
        cal["calibrator"] = {"method": "platt", "a": a, "b": b}
        (d / "calibrator.json").write_text(json.dumps(cal))
        rehash(d, "calibrator.json")

    return fn


def coefficient_nan(d: Path) -> None:
    params_ = json.loads((d / "parameters.json").read_text())
    params_["columns"][0]["coef"] = float("nan")
    (d / "parameters.json").write_text(json.dumps(params_))
    rehash(d, "parameters.json")


S.add(
    "model_json_deeply_nested",
    model_edit(lambda d: (d / "model.json").write_text("[" * 200_000 + "]" * 200_000)),
    SCORE,
    (2,),
    "one line: model.json is not a valid manifest",
    message=r"model\.json: not a valid manifest \(nested too deeply\)",
)
S.add(
    "model_json_is_directory",
    model_edit(make_folder),
    SCORE,
    (2,),
    "one line: model.json is a folder",
    message=r"run/model: no saved model here|model\.json: is a folder",
)
S.add(
    "model_json_truncated",
    model_edit(lambda d: (d / "model.json").write_text((d / "model.json").read_text()[:100])),
    SCORE,
    (2,),
    ONE_LINE,
    message=r"cannot load the saved model: Unterminated string",
)
S.add(
    "model_file_changed_not_rehashed",
    model_edit(
        lambda d: (d / "calibrator.json").write_text((d / "calibrator.json").read_text() + " ")
    ),
    SCORE,
    (2,),
    ONE_LINE + " (sha256 mismatch)",
    message=r"calibrator\.json was changed after the model was saved \(sha256 mismatch\)",
)
S.add(
    "model_nan_calibrator_rehashed",
    model_edit(calibrator(float("nan"), 0.0)),
    SCORE,
    (2,),
    "a NaN parameter in a (re-hashed) model file is refused, not scored as NaN",
    message=r"the saved model is not valid: a is nan",
)
S.add(
    "model_nan_coefficient_rehashed",
    model_edit(coefficient_nan),
    SCORE,
    (2,),
    "a NaN coefficient in a (re-hashed) logistic model is refused",
    message=r"the saved model is not valid: .* coef is nan",
)


def unknown_kind(d: Path) -> None:
    text = (d / "model.json").read_text()
    (d / "model.json").write_text(re.sub(r'"kind": "\w+"', '"kind": "pickle"', text, count=1))


S.add(
    "model_unknown_kind",
    model_edit(unknown_kind),
    SCORE,
    (2,),
    ONE_LINE,
    message=r"cannot load the saved model: unknown model kind 'pickle'",
)
S.add(
    "model_features_missing_in_data",
    lambda ws: (ws.base(features={"lookback_days": 90}), ws.model_run()),
    SCORE,
    (2,),
    ONE_LINE,
    message=r"the data no longer provides feature\(s\) \['page_view_count_180d'",
)


def nobody_scored(ws, o):
    summary = json.loads(next(ws.out.rglob("score_summary.json")).read_text())
    if summary["profiles"] != 0 or "no profile is eligible" not in summary.get("note", ""):
        return f"expected 0 profiles with a note, got {summary}"
    return None


for kind in ("boosted", "run"):
    S.add(
        f"score_no_eligible_profiles_{'logistic' if kind == 'run' else kind}",
        lambda ws, kind=kind: (ws.base(), ws.model_run(kind)),
        [
            "score",
            "{in}/config.yaml",
            "--model",
            f"{{in}}/{kind}",
            "--out",
            "{out}/s",
            "--as-of",
            "2027-06-01",
        ],
        (0,),
        "scoring a date with no eligible profile: an empty table and a note (no ZeroDivisionError)",
        check=nobody_scored,
    )

CASES = S.cases


@pytest.mark.parametrize("case", params(CASES))
def test_model_files(case, tmp_path, session_models, monkeypatch):
    run_case(case, tmp_path, session_models, monkeypatch)
