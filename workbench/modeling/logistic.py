"""The logistic candidate: statsmodels Logit on a standardised, one-hot design."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit

from workbench.modeling.base import ECE_THRESHOLD, PropensityModel, _as_strings, _corr, _level_codes

MAX_LEVELS_ONEHOT = 20

MIN_LEVEL_ROWS = 10


# --------------------------------------------------------------------------- logistic
def _odds(log_odds: float) -> float:
    """exp of a log-odds figure; an interval a nearly separated column leaves unbounded (its
    standard error is huge) reads as infinite instead of overflowing."""
    return float("inf") if log_odds > 709.0 else float(np.exp(log_odds))


class LogisticPropensity(PropensityModel):
    """Logistic regression (statsmodels) on a standardised, one-hot design.

    Numerics: median imputation (+ a missing indicator when some rows are missing),
    `log1p` for skewed non-negative features, clipping to the training range (`clip`: a
    profile unlike any training row is scored at the range's edge, never extrapolated),
    standardisation. Categoricals: up to 20 most frequent levels (each with at least 10 rows),
    the rest as "(other)"; the most frequent level is the reference. Constant and
    near-duplicate design columns are screened out. With `sign_check`, a feature the goal gives
    a direction (frequency or recency of the goal event, of any activity) whose coefficient
    contradicts it once the others are in (a collinearity artefact: "more purchases lower the
    propensity") is left out and the model refit, one feature at a time. On perfect
    separation, singularity or non-convergence the fit falls back to a ridge-penalised GLM
    binomial (`ridge_alpha`), recorded in `notes_`.
    """

    name = "logistic"

    def __init__(
        self,
        specs=None,
        *,
        calibrate="auto",
        ece_threshold=ECE_THRESHOLD,
        seed=42,
        direction=1,
        window_days=None,
        ridge_alpha: float = 1e-4,
        max_levels: int = MAX_LEVELS_ONEHOT,
        num_threads: int = 1,
        clip: bool = True,
        sign_check: bool = True,
    ):
        super().__init__(
            specs,
            calibrate=calibrate,
            ece_threshold=ece_threshold,
            seed=seed,
            direction=direction,
            window_days=window_days,
        )
        self.ridge_alpha = ridge_alpha
        self.max_levels = max_levels
        self.num_threads = num_threads
        self.clip = clip
        self.sign_check = sign_check

    def fit(self, X, y, cutoffs=None, *, holdout_model=None):
        # BLAS threads are fixed: reproducible sums, and no spin-waiting collapse on a busy box
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.num_threads, user_api="blas"):
            return super().fit(X, y, cutoffs, holdout_model=holdout_model)

    # design ------------------------------------------------------------------
    def _plan(self, X: pd.DataFrame, y=None) -> tuple[list[dict], list[str]]:
        cols: list[dict] = []
        notes: list[str] = []
        for spec in self.feature_specs_:
            x = X[spec.code]
            if spec.kind == "numeric":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                ok = np.isfinite(v)
                if not ok.any():
                    notes.append(f"logistic: '{spec.code}' is always missing; left out")
                    continue
                med = float(np.median(v[ok]))
                vi = np.where(ok, v, med)
                transform = "identity"
                if vi.min() >= 0 and y is not None and vi.std() > 0:
                    # log1p when it relates more strongly to the outcome (counts, amounts, days)
                    lv = np.log1p(vi)
                    if lv.std() > 0 and abs(_corr(lv, y)) > abs(_corr(vi, y)) + 1e-9:
                        transform = "log1p"
                t = np.log1p(vi) if transform == "log1p" else vi
                center, scale = float(t.mean()), float(t.std())
                if scale > 0:
                    col = {
                        "name": spec.code,
                        "feature": spec.code,
                        "type": "numeric",
                        "median": med,
                        "transform": transform,
                        "center": center,
                        "scale": scale,
                    }
                    if self.clip:
                        col["lo"], col["hi"] = float(vi.min()), float(vi.max())
                    cols.append(col)
                miss = 1 - ok.mean()
                if 0.001 < miss < 0.999 and (~ok).sum() >= MIN_LEVEL_ROWS:
                    cols.append(
                        {"name": f"{spec.code}__missing", "feature": spec.code, "type": "missing"}
                    )
            else:
                s = _as_strings(x)
                s = np.where(pd.isna(s), "(missing)", s).astype(object)
                counts = pd.Series(s).value_counts()
                order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                kept = [lvl for lvl, n in order if n >= MIN_LEVEL_ROWS][: self.max_levels]
                if not kept:
                    continue
                has_other = len(kept) < len(order)
                levels = kept + (["(other)"] if has_other else [])
                for lvl in levels[1:]:
                    cols.append(
                        {
                            "name": f"{spec.code}={lvl}",
                            "feature": spec.code,
                            "type": "dummy",
                            "level": lvl,
                            "kept": kept,
                        }
                    )
        return cols, notes

    @staticmethod
    def _design(cols: list[dict], X: pd.DataFrame) -> np.ndarray:
        Z = np.empty((len(X), len(cols)), dtype=float)
        cache: dict[str, np.ndarray] = {}
        for j, c in enumerate(cols):
            x = X[c["feature"]]
            if c["type"] == "numeric":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                v = np.where(np.isfinite(v), v, c["median"])
                if "lo" in c:  # no extrapolation past the training range
                    v = np.clip(v, c["lo"], c["hi"])
                if c["transform"] == "log1p":
                    v = np.log1p(np.maximum(v, 0.0))
                Z[:, j] = (v - c["center"]) / c["scale"]
            elif c["type"] == "missing":
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                Z[:, j] = (~np.isfinite(v)).astype(float)
            else:
                key = c["feature"]
                if key not in cache:
                    cache[key] = _level_codes(x, c["kept"], "(missing)")
                target = -1 if c["level"] == "(other)" else c["kept"].index(c["level"])
                Z[:, j] = (cache[key] == target).astype(float)
        return Z

    # fitting -----------------------------------------------------------------
    def _fit_state(self, X, y, X_eval, y_eval, inner):
        cols, notes = self._plan(X, y)
        # what the first stage's sign check left out starts out left out (one solve, not three)
        dropped = list(inner.get("sign_dropped", [])) if inner is not None else []
        cols = [c for c in cols if c["feature"] not in dropped]
        notes += [
            f"logistic: '{code}' left out: its coefficient contradicted the goal's direction once "
            "the other features were in (they are collinear)"
            for code in dropped
        ]
        cols, Z = self._screen(cols, self._design(cols, X), notes)
        start = None
        if inner is not None and [c["name"] for c in inner["columns"]] == [c["name"] for c in cols]:
            start = np.array([inner["intercept"]] + [c["coef"] for c in inner["columns"]])
        params, bse, pvalues, method = self._solve(Z, y, start, notes)
        while self.sign_check:
            drop = self._contradicting(cols, params, bse)
            if drop is None:
                break
            j = next(i for i, c in enumerate(cols) if c["feature"] == drop)
            notes.append(
                f"logistic: '{drop}' left out: its coefficient ({params[j + 1]:+.3f}) contradicts "
                "the goal's direction once the other features are in (they are collinear)"
            )
            dropped.append(drop)
            keep = [i for i, c in enumerate(cols) if c["feature"] != drop]
            cols, Z = [cols[i] for i in keep], Z[:, keep]
            start = params[[0, *(i + 1 for i in keep)]]
            params, bse, pvalues, method = self._solve(Z, y, start, notes)
        if not cols:
            notes.append(
                "logistic: degenerate: no feature is left, every profile gets the base rate"
            )
        means = Z.mean(axis=0) if len(cols) else np.array([])
        for j, c in enumerate(cols):
            c.update(
                coef=float(params[j + 1]),
                se=float(bse[j + 1]),
                p_value=float(pvalues[j + 1]),
                mean=float(means[j]),
            )
        if inner is not None:  # keep the notes of the final fit only
            self.notes_.extend(notes)
        return {
            "intercept": float(params[0]),
            "intercept_se": float(bse[0]),
            "method": method,
            "nobs": int(len(y)),
            "columns": cols,
            "sign_dropped": dropped,
        }

    def _screen(self, cols: list[dict], Z: np.ndarray, notes: list[str]):
        """Constant design columns and near-duplicates (|r| > 0.999) left out."""
        keep = np.ones(len(cols), dtype=bool)
        sd = Z.std(axis=0) if len(cols) else np.array([])
        keep &= sd > 1e-12
        if keep.sum() > 1:
            idx = np.flatnonzero(keep)
            rows = np.arange(len(Z))
            if len(Z) > 200_000:
                rng = np.random.default_rng(self.seed)
                rows = np.sort(rng.choice(len(Z), 200_000, replace=False))
            r = np.corrcoef(Z[np.ix_(rows, idx)], rowvar=False)
            for a in range(len(idx)):
                if not keep[idx[a]]:
                    continue
                for b in range(a + 1, len(idx)):
                    if keep[idx[b]] and abs(r[a, b]) > 0.999:
                        keep[idx[b]] = False
                        notes.append(
                            f"logistic: '{cols[idx[b]]['name']}' duplicates "
                            f"'{cols[idx[a]]['name']}'; left out"
                        )
        constant = [c["name"] for c, s_ in zip(cols, sd, strict=True) if s_ <= 1e-12]
        if constant:
            notes.append(f"logistic: constant column(s) left out: {constant}")
        return [c for c, k in zip(cols, keep, strict=True) if k], Z[:, keep]

    def _contradicting(self, cols: list[dict], params, bse) -> str | None:
        """The directional feature whose coefficient most clearly contradicts the goal."""
        directions = self._directions()
        wrong = [
            (params[j + 1] / max(bse[j + 1], 1e-12) * directions[c["feature"]], c["feature"])
            for j, c in enumerate(cols)
            if c["type"] == "numeric" and directions.get(c["feature"], 0) * params[j + 1] < 0
        ]
        return min(wrong)[1] if wrong else None

    def _solve(self, Z: np.ndarray, y: np.ndarray, start, notes: list[str]):
        """(params, bse, p-values, method) of the logit on design Z (intercept first); on
        separation, singularity or non-convergence a light ridge penalty instead."""
        # the model's own module: statsmodels.api imports the whole library (0.25 s a process)
        from statsmodels.discrete.discrete_model import Logit

        A = np.column_stack([np.ones(len(Z)), Z])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # rank is screened above; a singular Hessian still falls back to ridge below
                logit = Logit(y.astype(float), A, check_rank=False)
                res = logit.fit(method="newton", maxiter=35, disp=0, start_params=start)
                params = np.asarray(res.params, dtype=float)
                bse = np.asarray(res.bse, dtype=float)
                bad = (
                    not bool(res.mle_retvals.get("converged", False))
                    or not np.all(np.isfinite(params))
                    or not np.all(np.isfinite(bse))
                    or np.max(np.abs(params[1:]), initial=0) > 15
                )
                if bad:
                    raise np.linalg.LinAlgError("separation or non-convergence")
                return params, bse, np.asarray(res.pvalues, dtype=float), "logit"
            except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
                notes.append(
                    f"logistic: the plain fit failed ({type(exc).__name__}: {exc}); "
                    f"refit with a light ridge penalty (alpha={self.ridge_alpha}), "
                    "confidence intervals are approximate"
                )
                return (*self._ridge(A, y), "ridge")

    def _ridge(self, A: np.ndarray, y: np.ndarray):
        from scipy.stats import norm
        from statsmodels.genmod.families import Binomial
        from statsmodels.genmod.generalized_linear_model import GLM

        alpha = np.full(A.shape[1], self.ridge_alpha)
        alpha[0] = 0.0
        glm = GLM(y.astype(float), A, family=Binomial())
        params = np.asarray(
            glm.fit_regularized(method="elastic_net", alpha=alpha, L1_wt=0.0).params, dtype=float
        )
        p = expit(A @ params)
        H = (A * (p * (1 - p))[:, None]).T @ A + len(y) * np.diag(alpha)
        bse = np.sqrt(np.clip(np.diag(np.linalg.pinv(H)), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            pvalues = 2 * norm.sf(np.abs(params / bse))
        return params, bse, pvalues

    def _decision(self, state, X):
        cols = state["columns"]
        if not cols:
            return np.full(len(X), state["intercept"])
        Z = self._design(cols, X)
        coef = np.array([c["coef"] for c in cols])
        return state["intercept"] + Z @ coef

    def _contrib(self, state, X):
        cols = state["columns"]
        codes = [s.code for s in self.feature_specs_]
        sums = np.zeros((len(X), len(codes) + 1))  # one matrix, not a column insert per feature
        sums[:, -1] = state["intercept"]
        if cols:
            Z = self._design(cols, X)
            coef = np.array([c["coef"] for c in cols])
            mean = np.array([c["mean"] for c in cols])
            parts = (Z - mean) * coef
            where = {code: j for j, code in enumerate(codes)}
            for j, c in enumerate(cols):
                sums[:, where[c["feature"]]] += parts[:, j]
            sums[:, -1] += float(coef @ mean)
        return pd.DataFrame(sums, columns=[*codes, "bias"])

    def coefficient_table(self) -> pd.DataFrame:
        """feature, label, coefficient (log-odds per SD / per level), odds ratio, 95% CI, p-value."""
        labels = {s.code: s.label for s in self.feature_specs_}
        rows = []
        for c in self.state_["columns"]:
            base = labels.get(c["feature"], c["feature"])
            if c["type"] == "numeric":
                per = "per SD of log(1 + x)" if c["transform"] == "log1p" else "per SD"
                label = base
            elif c["type"] == "missing":
                per, label = "missing vs present", f"{base} (missing)"
            else:
                per, label = f"vs {c['kept'][0]}", f"{base} = {c['level']}"
            lo, hi = c["coef"] - 1.959964 * c["se"], c["coef"] + 1.959964 * c["se"]
            rows.append(
                {
                    "feature": c["name"],
                    "label": label,
                    "code": c["feature"],
                    "coefficient": c["coef"],
                    "odds_ratio": _odds(c["coef"]),
                    "ci_low": lo,
                    "ci_high": hi,
                    "odds_ratio_ci_low": _odds(lo),
                    "odds_ratio_ci_high": _odds(hi),
                    "p_value": c["p_value"],
                    "per": per,
                }
            )
        cols = [
            "feature",
            "label",
            "code",
            "coefficient",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "odds_ratio_ci_low",
            "odds_ratio_ci_high",
            "p_value",
            "per",
        ]
        df = pd.DataFrame(rows, columns=cols)
        return df.reindex(df["coefficient"].abs().sort_values(ascending=False).index).reset_index(
            drop=True
        )
