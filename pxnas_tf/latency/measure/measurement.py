"""Robust statistics of latency measurements (pure functions, no runtime).

A model is timed in *rounds*: each round is a burst of back-to-back invokes
and yields one round median. On a shared machine other processes only ever
add time (preemption, cache and memory-bandwidth contention), so the rounds
whose median lies close to the lowest one are the *quiet* rounds, and the
latency is summarised from their invokes only:

    quiet = {rounds r : median_r <= (1 + quiet_tol) * min_r median_r}
    median, mean, std, count over the invokes of the quiet rounds

A measurement is *stable* once at least `min_quiet` rounds are quiet, and
the relative spread of their medians, (max - min) / min, is at most
`max_spread`. Runners keep adding rounds until it is stable or their budget
is spent; an unstable result is flagged, not dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

UNSTABLE = "unstable"
CONTENDED = "contended"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Latency of one model, in milliseconds.

    Attributes:
        mean_ms, median_ms, std_ms: over the invokes of the quiet rounds
            (`median_ms` is None where the runner reports only averages).
        count: invokes summarised.
        spread: relative spread of the quiet rounds' medians.
        rounds: rounds run in all; quiet_rounds: rounds kept.
        flags: ``"unstable"`` when the spread stayed above the limit,
            ``"contended"`` when rounds had to be kept although other
            processes were busy.
    """

    mean_ms: float
    median_ms: float | None
    std_ms: float | None
    count: int
    spread: float = 0.0
    rounds: int = 1
    quiet_rounds: int = 1
    flags: tuple[str, ...] = ()

    @property
    def value_ms(self) -> float:
        """The robust figure: the median where known, else the mean."""
        return self.mean_ms if self.median_ms is None else self.median_ms

    @property
    def unstable(self) -> bool:
        return UNSTABLE in self.flags

    @property
    def suspect(self) -> bool:
        """Unstable or contended: worth measuring again."""
        return bool(self.flags)

    def scaled(self, factor: float) -> "Measurement":
        """The same measurement with every time multiplied by `factor`."""
        return dataclasses.replace(
            self, mean_ms=self.mean_ms * factor,
            median_ms=None if self.median_ms is None else self.median_ms * factor,
            std_ms=None if self.std_ms is None else self.std_ms * factor)

    def minus(self, overhead_ms: float) -> "Measurement":
        """The same measurement with a fixed cost taken off mean and median
        (floored at 0)."""
        return dataclasses.replace(
            self, mean_ms=max(0.0, self.mean_ms - overhead_ms),
            median_ms=None if self.median_ms is None else max(0.0, self.median_ms - overhead_ms))


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / min of positive values; 0 for fewer than two."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return 0.0
    low = min(values)
    return (max(values) - low) / low if low > 0 else float("inf")


def quiet_round_indices(round_medians: Sequence[float], quiet_tol: float) -> list[int]:
    """Indices of the rounds whose median is within `quiet_tol` (relative) of
    the lowest round median."""
    if not round_medians:
        return []
    low = min(round_medians)
    return [i for i, m in enumerate(round_medians) if m <= low * (1.0 + quiet_tol)]


def is_stable(round_medians: Sequence[float], min_quiet: int, max_spread: float,
              quiet_tol: float) -> bool:
    """True when at least `min_quiet` rounds are quiet and the spread of the
    `min_quiet` lowest round medians is at most `max_spread`."""
    quiet = sorted(round_medians[i] for i in quiet_round_indices(round_medians, quiet_tol))
    return len(quiet) >= min_quiet and relative_spread(quiet[:min_quiet]) <= max_spread


def summarize_rounds(rounds: Sequence[Sequence[float]], quiet_tol: float, max_spread: float,
                     min_quiet: int) -> Measurement:
    """The `Measurement` of per-invoke times (ms) grouped in rounds.

    Raises:
        ValueError: if there is no sample at all.
    """
    rounds = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    if not rounds:
        raise ValueError("no latency samples to summarise")
    medians = [float(np.median(r)) for r in rounds]
    keep = quiet_round_indices(medians, quiet_tol)
    samples = np.concatenate([rounds[i] for i in keep])
    quiet_medians = sorted(medians[i] for i in keep)
    spread = relative_spread(quiet_medians[:max(min_quiet, 2)])
    stable = is_stable(medians, min_quiet, max_spread, quiet_tol)
    return Measurement(
        mean_ms=float(samples.mean()), median_ms=float(np.median(samples)),
        std_ms=float(samples.std(ddof=1)) if samples.size > 1 else 0.0,
        count=int(samples.size), spread=float(spread), rounds=len(rounds),
        quiet_rounds=len(keep), flags=() if stable else (UNSTABLE,))


def summarize_averages(averages_ms: Sequence[float], stds_ms: Sequence[float | None],
                       counts: Sequence[int], quiet_tol: float, max_spread: float,
                       min_quiet: int) -> Measurement:
    """The `Measurement` of repeated runs of a tool that reports only an
    average per run (``benchmark_model``): every run is one round; the
    median is the median of the quiet runs' averages, the mean their
    count-weighted mean, the std the pooled within-run std (where known).

    Raises:
        ValueError: if there is no run.
    """
    if not averages_ms:
        raise ValueError("no benchmark runs to summarise")
    keep = quiet_round_indices(list(averages_ms), quiet_tol)
    avgs = np.array([averages_ms[i] for i in keep], dtype=np.float64)
    weights = np.array([max(1, counts[i]) for i in keep], dtype=np.float64)
    stds = [stds_ms[i] for i in keep]
    std = (float(np.sqrt(np.average(np.square(stds), weights=weights)))
           if all(s is not None for s in stds) else None)
    stable = is_stable(list(averages_ms), min_quiet, max_spread, quiet_tol)
    return Measurement(
        mean_ms=float(np.average(avgs, weights=weights)), median_ms=float(np.median(avgs)),
        std_ms=std, count=int(weights.sum()),
        spread=relative_spread(sorted(avgs)[:max(min_quiet, 2)]), rounds=len(averages_ms),
        quiet_rounds=len(keep), flags=() if stable else (UNSTABLE,))
