"""Derive the searched arch from the logits (numpy, no TensorFlow).

    argmax per block (zero op: the block is removed from the derived net)

and, for a hard latency budget, the most probable arch (max sum of log p)
whose latency fits the target: a multiple-choice knapsack solved exactly
by dynamic programming on latencies rounded up to a grid of `resolution`
steps (rounding up keeps every returned arch within the budget).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def argmax_indices(probs: Sequence[Sequence[float]]) -> list[int]:
    """The most probable candidate of every block."""
    return [int(np.argmax(p)) for p in probs]


def most_probable_within(probs: Sequence[Sequence[float]], latencies: Sequence[Sequence[float]],
                         budget: float, resolution: int = 4000) -> list[int] | None:
    """The arch maximising sum_b log p_b[i_b] with sum_b lat_b[i_b] <= budget.

    Args:
        probs: per block, candidate probabilities.
        latencies: per block, candidate latencies (same unit as budget).
        budget: latency left for the searchable blocks (target - constant).
        resolution: grid steps of the budget.

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
    c = int(np.argmax(best))
    indices = []
    for b in range(len(choices) - 1, -1, -1):
        j = int(choices[b][c])
        indices.append(j)
        c -= math.ceil(latencies[b][j] / unit - 1e-9) if budget > 0 else 0
    return indices[::-1]


def derive_indices(probs, latencies, constant: float, target: float | None,
                   budget: str = "soft") -> tuple[list[int], str]:
    """The derived arch and how it was chosen ("argmax" or "budget").

    With budget "hard", when the argmax arch's latency exceeds `target`,
    the most probable arch within `target` replaces it.
    """
    indices = argmax_indices(probs)
    if budget != "hard" or target is None:
        return indices, "argmax"
    latency = constant + sum(lat[i] for lat, i in zip(latencies, indices))
    if latency <= target:
        return indices, "argmax"
    fit = most_probable_within(probs, latencies, target - constant)
    if fit is None:
        raise ValueError(f"no arch of the space fits the latency target {target:g}")
    return fit, "budget"
