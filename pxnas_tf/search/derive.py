"""Derive the searched arch from the logits (numpy, no TensorFlow).

    argmax per block (zero op: the block is removed from the derived net)

and, for a hard latency budget, the most probable arch (max sum of log p)
whose latency fits the target: a multiple-choice knapsack solved exactly
by dynamic programming on latencies rounded up to a grid of `resolution`
steps (rounding up keeps every returned arch within the budget).

The "band" budget also puts a floor under the derived arch: the most
probable arch whose latency lies in [floor * target, target]. A search
that meets its target in expectation (E[LAT] = T) often has a much faster
argmax arch (the probability left on slow ops pays for the expectation);
the band derives the net the user asked for, at the latency asked for.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def decidedness(probs: Sequence[Sequence[float]]) -> float:
    """The mean over blocks of the largest op probability: 1 when every
    block has decided, 1 / N at uniform. A search has converged when this
    is high and E[LAT] sits at the target (E[LAT] and the argmax net's
    latency then agree)."""
    return float(np.mean([np.max(p) for p in probs])) if len(probs) else 1.0


def argmax_indices(probs: Sequence[Sequence[float]]) -> list[int]:
    """The most probable candidate of every block."""
    return [int(np.argmax(p)) for p in probs]


def most_probable_within(probs: Sequence[Sequence[float]], latencies: Sequence[Sequence[float]],
                         budget: float, resolution: int = 4000,
                         floor: float | None = None) -> list[int] | None:
    """The arch maximising sum_b log p_b[i_b] with sum_b lat_b[i_b] <= budget
    (and >= `floor` when given).

    Args:
        probs: per block, candidate probabilities.
        latencies: per block, candidate latencies (same unit as budget).
        budget: latency left for the searchable blocks (target - constant).
        resolution: grid steps of the budget.
        floor: least latency of the searchable blocks. The returned arch
            always meets it (checked on its true sum); being the best of
            the grid's archs, it is optimal up to the grid's rounding.

    Returns:
        Candidate indices, or None when no arch fits.
    """
    if budget < 0:
        return None
    unit = budget / resolution if budget > 0 else 1.0
    best = np.full(resolution + 1, -np.inf)  # best[c]: max log p at grid cost exactly c
    best[0] = 0.0
    choices = []
    for p, lat in zip(probs, latencies):
        log_p = np.log(np.maximum(np.asarray(p, np.float64), 1e-300))
        cost = [math.ceil(x / unit - 1e-9) if budget > 0 else (0 if x <= 0 else resolution + 1)
                for x in lat]
        new = np.full_like(best, -np.inf)
        pick = np.full(best.shape, -1, np.int64)
        for j, c in enumerate(cost):
            if c > resolution:
                continue
            shifted = np.full_like(best, -np.inf)
            shifted[c:] = best[:resolution + 1 - c] + log_p[j]
            better = shifted > new
            new[better], pick[better] = shifted[better], j
        best = new
        choices.append(pick)
    if not np.isfinite(best).any():
        return None

    def backtrack(c: int) -> list[int]:
        indices = []
        for b in range(len(choices) - 1, -1, -1):
            j = int(choices[b][c])
            indices.append(j)
            c -= math.ceil(latencies[b][j] / unit - 1e-9) if budget > 0 else 0
        return indices[::-1]

    if floor is None:
        return backtrack(int(np.argmax(best)))
    # Grid costs round up, so an arch's true latency may sit up to one grid
    # step per block below its grid cost: check each candidate's true sum,
    # best score first.
    for c in np.argsort(-best, kind="stable"):
        if not np.isfinite(best[c]):
            break
        indices = backtrack(int(c))
        if sum(lat[i] for lat, i in zip(latencies, indices)) >= floor - 1e-12:
            return indices
    return None


def derive_indices(probs, latencies, constant: float, target: float | None,
                   budget: str = "soft", floor: float = 0.9) -> tuple[list[int], str]:
    """The derived arch and how it was chosen ("argmax", "budget" or "band").

    With budget "hard", when the argmax arch's latency exceeds `target`,
    the most probable arch within `target` replaces it. With "band", when
    the argmax arch lies outside [floor * target, target], the most probable
    arch inside that band replaces it (or, when no arch of the space lies in
    the band, the most probable one within `target`).
    """
    indices = argmax_indices(probs)
    if budget not in ("hard", "band") or target is None:
        return indices, "argmax"
    latency = constant + sum(lat[i] for lat, i in zip(latencies, indices))
    low = floor * target if budget == "band" else -math.inf
    if low <= latency <= target:
        return indices, "argmax"
    if budget == "band":
        fit = most_probable_within(probs, latencies, target - constant, floor=low - constant)
        if fit is not None:
            return fit, "band"
    fit = most_probable_within(probs, latencies, target - constant)
    if fit is None:
        raise ValueError(f"no arch of the space fits the latency target {target:g}")
    return fit, "budget"
