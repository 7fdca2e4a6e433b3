"""The training sample: at most `max_rows` training rows, a deterministic hash sample of
(profile, cutoff) stratified by cutoff and label, taken in the engine before anything reaches
pandas; the validation origins kept whole (or at their own fraction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.goals import to_day


def sample_predicate(
    fraction: float, exempt_s: int | list[int], seed: int, exempt_fraction: float = 1.0
) -> Callable[[Any], Any]:
    """The sample as a predicate on a table with `profile_id` and `cutoff_s`.

    A hash of (profile, cutoff, seed) keeps the same fraction of every (cutoff, label) stratum in
    expectation, deterministically, without a pass through pandas. Rows at the exempt cutoffs
    (the validation origins, in epoch seconds) are kept whole, or at `exempt_fraction`."""
    exempt = [exempt_s] if isinstance(exempt_s, int) else list(exempt_s)

    def keep(e):
        bucket = (e.profile_id.hash() + e.cutoff_s * 7919 + seed).abs() % 1_000_000
        at_exempt = e.cutoff_s.isin(exempt)
        training = bucket < int(fraction * 1_000_000)
        if exempt_fraction >= 1:
            return training | at_exempt
        return at_exempt.ifelse(bucket < int(exempt_fraction * 1_000_000), training)

    return keep


@dataclass(frozen=True)
class TrainingSample:
    """Keep at most `max_rows` training rows: a deterministic hash sample stratified by
    (cutoff, label), the same fraction in every stratum, taken in the engine before pandas.

    `exempt_cutoff` (the validation origins: one cutoff or a list) is not sampled, unless
    `exempt_max_rows` caps it too (then at its own fraction): metrics use every profile there
    when they fit. `rows` / `exempt_rows`: the row counts when already known (from
    `goal_counts`), which saves running the whole aggregation once just to count them.
    """

    max_rows: int
    rows: int | None = None
    exempt_cutoff: Any = None
    seed: int = 42
    exempt_max_rows: int | None = None
    exempt_rows: int | None = None

    def exempt_seconds(self) -> list[int]:
        cuts = self.exempt_cutoff
        cuts = [] if cuts is None else cuts if isinstance(cuts, (list, tuple)) else [cuts]
        return [int(to_day(c).timestamp()) for c in cuts]


def sample_keep(sample: TrainingSample, count_rows: Callable[[list[int]], int], cutoffs, say):
    """(the predicate, the expected share of (profile, cutoff) groups it keeps), or (None, 1)."""
    exempt_s = sample.exempt_seconds()
    total = sample.rows if sample.rows is not None else count_rows(exempt_s)
    fraction = min(1.0, sample.max_rows / total) if total else 1.0
    exempt_fraction = 1.0
    if sample.exempt_max_rows is not None and sample.exempt_rows:
        exempt_fraction = min(1.0, sample.exempt_max_rows / sample.exempt_rows)
    if fraction >= 1 and exempt_fraction >= 1:
        return None, 1.0
    exempt_cuts = sum(int(to_day(c).timestamp()) in exempt_s for c in cutoffs)
    kept = (fraction * (len(cutoffs) - exempt_cuts) + exempt_fraction * exempt_cuts) / len(cutoffs)
    if say:
        say(f"sampled {fraction:.1%} of {total:,} snapshot rows (stratified by cutoff and label)")
        if exempt_fraction < 1:
            say(f"sampled {exempt_fraction:.1%} of the {sample.exempt_rows:,} validation rows")
    return sample_predicate(fraction, exempt_s, sample.seed, exempt_fraction), kept


def never_sampled(keep: Callable[[Any], Any], seconds: list[int]) -> Callable[[Any], Any]:
    return lambda e: keep(e) | e.cutoff_s.isin(seconds)
