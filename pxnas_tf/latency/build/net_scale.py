"""The whole-net scale of a TensorFlow-runtime table.

In the TensorFlow runtime a block costs less inside a net than in a graph
of its own. Two things differ, and the table build handles both:

1. Every call of a graph function pays a fixed cost beyond its ops, and it
   grows with the graph (0.07-0.32 ms per block at batch 8 on a 2-vCPU
   Xeon, above the 0.10 ms of an identity graph), so the identity model's
   overhead does not take it out. The build times each key's block alone
   and its *pair model* (the block twice in one graph,
   `block_models.pair_model`); the entry is the difference, what one more
   such block costs inside a graph. The stem keeps its whole call, so a
   table sum counts one call, like a net.
2. What is left, the table sum of such marginals against the whole net
   timed in the same runtime, is one factor for the whole table (the pair
   sums over-predicted a net by 8-10% on that Xeon). The build times
   `NUM_ARCHS` random archs of the space whole (the table's pass rule)
   and fits the factor s of ``stem + s * (sum of the other entries)`` to
   them, least squares on the relative error. The entries are stored
   with s applied (the record keeps s, the nets and both sides), so that
   every predictor reads the same numbers; ``pxnas latency validate``
   then checks other random archs (another seed) than those fitted.

LiteRT tables need neither: a LiteRT invoke's fixed cost is the identity
model's, and their sums match whole nets within the validation targets.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from pxnas_tf.latency.build.settings import BuildSettings, best_run, measure_until_settled
from pxnas_tf.latency.measure.runner import BenchModel, Runner
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.search_space import Arch, SearchSpace, random_archs

FORMAT = "pxnas_tf.net_scale/v1"
NUM_ARCHS = 8
SEED = 7919  # not validation's default seed (0): the nets validated are not the nets fitted
METHOD = ("entries are pair-model marginals (the block twice in one graph minus once; the "
          "stem keeps its call) times one factor fitted to whole random archs of the space")


def fit_factor(stems: Sequence[float], rests: Sequence[float],
               measured: Sequence[float]) -> float:
    """Pure: the s minimising sum(((stem + s * rest) - measured) / measured)^2.

    Raises:
        ValueError: no net with a positive rest.
    """
    stems, rests, measured = (np.asarray(v, dtype=float) for v in (stems, rests, measured))
    w = 1.0 / np.square(measured)
    den = float(np.sum(w * rests * rests))
    if den <= 0:
        raise ValueError("no net with layers beyond the stem to fit the scale to")
    return float(np.sum(w * rests * (measured - stems)) / den)


def split_sum(arch: Arch, value: Callable[[str], float]) -> tuple[float, float]:
    """(stem, the rest) of an arch's table sum, with `value(key)` unscaled."""
    stem = rest = 0.0
    for key in keys_lib.arch_keys(arch):
        if key.startswith(keys_lib.STEM + "-"):
            stem += value(key)
        else:
            rest += value(key)
    return stem, rest


def calibrate(runner: Runner, space: SearchSpace, value: Callable[[str], float],
              settings: BuildSettings, previous: dict | None,
              save: Callable[[dict], None], log: Callable[[str], None]) -> dict:
    """Times `NUM_ARCHS` random archs of `space` whole on `runner` (resuming
    the runs in `previous`, saving after each measurement through `save`)
    and fits the factor. `value(key)`: the table's unscaled entry.

    Returns:
        The record (``format``, ``method``, ``archs`` {name: ops},
        ``runs``, ``measured_ms``, ``stem_ms``, ``rest_ms``, ``factor``).
    """
    from pxnas_tf.models import build_model

    archs = random_archs(space, NUM_ARCHS, SEED)
    record = dict(previous or {})
    record.update(format=FORMAT, method=METHOD, factor=None,  # None until fitted
                  archs={a.name: list(a.ops) for a in archs})
    runs = {a.name: list((record.get("runs") or {}).get(a.name, [])) for a in archs}
    record["runs"] = runs
    log(f"timing {len(archs)} random archs whole to fit the table's scale "
        f"({settings.min_passes}-{settings.max_passes} passes each)")

    by_name = {a.name: a for a in archs}
    measure_until_settled(
        runner, runs,
        lambda name: BenchModel(name, "", keras=lambda batch: build_model(by_name[name],
                                                                          batch_size=batch)),
        settings, lambda: save(record))
    measured = {a.name: runs[a.name][best_run(runs[a.name])] for a in archs}
    parts = {a.name: split_sum(a, value) for a in archs}
    record["measured_ms"] = measured
    record["stem_ms"] = {n: round(p[0], 6) for n, p in parts.items()}
    record["rest_ms"] = {n: round(p[1], 6) for n, p in parts.items()}
    names = [a.name for a in archs]
    record["factor"] = round(fit_factor([parts[n][0] for n in names],
                                        [parts[n][1] for n in names],
                                        [measured[n] for n in names]), 6)
    save(record)
    return record
