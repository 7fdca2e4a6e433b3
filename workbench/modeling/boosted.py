"""The boosted candidate: LightGBM gradient-boosted trees with native categoricals.

References
----------
Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision tree. NeurIPS.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd

from workbench.modeling.base import (
    ECE_THRESHOLD,
    PropensityModel,
    _as_strings,
    _level_codes,
    _validate_plain,
)
from workbench.modeling.lightgbm_text import check_model_text

# --------------------------------------------------------------------------- boosted
DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    # 0.15, not 0.1: a third fewer rounds per fit, and every fold fits; realised ROC AUC moved
    # by 0.000-0.001 on CDNOW, Online Retail and groceryElog (benchmarks/quality.py)
    "learning_rate": 0.15,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "max_bin": 255,
    "max_cat_to_onehot": 4,
    # bins from 20,000 rows: as good for 255 bins (80 rows each), a third of the Dataset time
    "bin_construct_sample_cnt": 20_000,
    # col-wise histograms crashed LightGBM 4.7.0 on CDNOW feature subsets ("Check failed:
    # (best_split_info.right_count) > (0)", sometimes a segfault); row-wise never did
    "force_row_wise": True,
    "deterministic": True,
    "verbosity": -1,
}


# LightGBM's OpenMP threads spin while they wait for work; on a shared two-core machine that
# made two threads 4-10x slower than one. Waiting passively (set before LightGBM loads, unless
# the user chose a policy) lets both cores work when they are free and costs nothing when they
# are busy (250k rows x 80 features, 100 rounds at load 6: 1 thread 12.7 s, 2 threads 16 s
# spinning 45-57 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _predict_threads(rows: int) -> int:
    """All cores for large inputs (deterministic either way), one for small ones."""
    return max(1, min(os.cpu_count() or 1, 8)) if rows >= 50_000 else 1


class BoostedPropensity(PropensityModel):
    """LightGBM gradient-boosted trees with native categoricals.

    Boosting stops early on the inner hold-out (the latest training cutoff); the final model
    is refit on every training row with that number of rounds. Categorical levels are
    encoded with the levels seen in training (unseen levels count as missing), so scoring
    does not depend on the pandas category order of new data.

    `num_threads=None` (the default) trains on every core (up to 8) from 50,000 rows and on one
    below. The model is the same either way with `deterministic` (checked: identical model text
    with 1 and 2 threads on 190k CDNOW snapshot rows with the row-wise histograms, which issue
    11 uses because col-wise ones crashed LightGBM 4.7.0 on some CDNOW feature subsets).
    """

    name = "boosted"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="auto",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        direction=1,
        window_days=None,
        num_threads: int | None = None,
        max_rounds: int = 2000,
        early_stopping_rounds: int = 20,
        params: dict[str, Any] | None = None,
        monotone: bool = True,
    ):
        super().__init__(
            specs,
            calibrate=calibrate,
            ece_threshold=ece_threshold,
            seed=seed,
            direction=direction,
            window_days=window_days,
        )
        self.num_threads = num_threads
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.params = params
        # monotone_constraints where the goal fixes a direction (FeatureSpec.direction): more
        # recent or frequent goal events and activity can only raise an `occurs` propensity
        self.monotone = monotone

    def _lgb_params(self, rows: int = 0) -> dict[str, Any]:
        p = dict(DEFAULT_LGB_PARAMS)
        p.update(self.params or {})
        threads = self.num_threads or _predict_threads(rows)
        p.update({"seed": self.seed, "num_threads": threads})
        constraints = list(self._directions().values())
        if self.monotone and any(constraints):
            p["monotone_constraints"] = constraints
            p.setdefault("monotone_constraints_method", "basic")
        return p

    @staticmethod
    def _levels(X: pd.DataFrame, specs) -> dict[str, list[str]]:
        out = {}
        for s in specs:
            if s.kind == "categorical":
                vals = pd.Series(_as_strings(X[s.code])).dropna()
                counts = vals.value_counts()
                order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                out[s.code] = [lvl for lvl, _ in order][:1000]
        return out

    @staticmethod
    def _matrix(X: pd.DataFrame, specs, levels: dict[str, list[str]]) -> np.ndarray:
        M = np.empty((len(X), len(specs)), dtype=float)
        for j, s in enumerate(specs):
            if s.kind == "categorical":
                idx = _level_codes(X[s.code], levels[s.code])
                M[:, j] = np.where(idx < 0, np.nan, idx)
            else:
                M[:, j] = pd.to_numeric(X[s.code], errors="coerce").to_numpy(dtype=float)
        return M

    def _fit_two_stage(self, X, y, hold, inner_rows, holdout_model=None):
        """Bin the training rows once; boost on the earlier cutoffs with early stopping on the
        hold-out (the latest training cutoff), then refit every row with that many rounds. A
        `holdout_model` (the newest fold's model) gives the hold-out scores and the rounds."""
        import lightgbm as lgb

        specs = self.feature_specs_
        levels = self._levels(X, specs)  # an encoding only: no outcome information
        params = self._lgb_params(len(X))
        M = self._matrix(X, specs, levels)
        full = lgb.Dataset(
            M,
            label=y,
            feature_name=[f"f{j}" for j in range(len(specs))],
            categorical_feature=[j for j, s in enumerate(specs) if s.kind == "categorical"],
            free_raw_data=False,
            params=params,
        ).construct()
        hold_rows = np.flatnonzero(hold)
        if holdout_model is not None:
            rounds = int(holdout_model.state_["rounds"])
            s_hold = holdout_model.raw_score(X.iloc[hold_rows])
        else:
            booster = lgb.train(
                params,
                full.subset(np.flatnonzero(inner_rows)),
                num_boost_round=self.max_rounds,
                valid_sets=[full.subset(hold_rows)],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            rounds = int(booster.best_iteration or booster.current_iteration())
            s_hold = booster.predict(M[hold_rows], raw_score=True, num_iteration=rounds)
        final = lgb.train(params, full, num_boost_round=rounds)
        # the in-memory model is the one its own text describes, so a saved copy predicts the same
        final = lgb.Booster(model_str=final.model_to_string())
        self.notes_.append(f"boosted: {rounds} rounds chosen by early stopping on the hold-out")
        if rounds <= 1:
            self.notes_.append(
                "boosted: degenerate: early stopping kept a single tree (the hold-out saw no gain "
                "from boosting: too few rows or too little history); its scores are nearly constant"
            )
        return s_hold, {"booster": final, "levels": levels, "rounds": rounds}

    def _decision(self, state, X):
        M = self._matrix(X, self.feature_specs_, state["levels"])
        return state["booster"].predict(M, raw_score=True, num_threads=_predict_threads(len(M)))

    def _contrib(self, state, X):
        from workbench.modeling.treeshap import lightgbm_contributions

        M = self._matrix(X, self.feature_specs_, state["levels"])
        # TreeSHAP dominates scoring time at scale; it parallelises over rows, unlike small fits,
        # and per tree only the rows' distinct split patterns need evaluating (see treeshap).
        C = lightgbm_contributions(state["booster"], M, num_threads=_predict_threads(len(M)))
        return pd.DataFrame(C, columns=[s.code for s in self.feature_specs_] + ["bias"])

    def importance_table(self) -> pd.DataFrame:
        """LightGBM global importance: feature, label, gain, split (sorted by gain)."""
        b = self.state_["booster"]
        df = pd.DataFrame(
            {
                "feature": [s.code for s in self.feature_specs_],
                "label": [s.label for s in self.feature_specs_],
                "gain": b.feature_importance("gain").astype(float),
                "split": b.feature_importance("split").astype(int),
            }
        )
        return df.sort_values(["gain", "feature"], ascending=[False, True]).reset_index(drop=True)

    def _state_files(self):
        meta = {"levels": self.state_["levels"], "rounds": self.state_["rounds"]}
        return {
            "lightgbm.txt": self.state_["booster"].model_to_string(),
            "parameters.json": json.dumps(meta, indent=1),
        }

    def _load_state(self, files):
        import lightgbm as lgb

        meta = _validate_plain(json.loads(files["parameters.json"]))
        levels = meta["levels"]
        if not isinstance(levels, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in levels.values()
        ):
            raise ValueError("levels must map feature codes to lists of strings")
        try:
            # LightGBM's C++ parser aborts the process on text it cannot parse: check it first
            check_model_text(files["lightgbm.txt"], len(self.feature_specs_))
            booster = lgb.Booster(model_str=files["lightgbm.txt"])
        except Exception as exc:  # LightGBM's C parser reports bad text as LightGBMError
            raise ValueError(f"lightgbm.txt is not a valid LightGBM model: {exc}") from None
        if booster.num_feature() != len(self.feature_specs_):
            raise ValueError("lightgbm.txt has a different number of features")
        self.state_ = {"booster": booster, "levels": levels, "rounds": int(meta["rounds"])}
