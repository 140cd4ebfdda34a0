"""The context term: layers whose runtime buffers a whole net evicts.

Some layers make the runtime hold far more memory than their weights
(`pxnas_tf.latency.footprint`): LiteRT 2.3.0's XNNPACK gives an int8 7x7
depthwise op megabytes of buffers that it touches on every invoke. Timed
alone, back to back, a block finds those buffers in the caches; inside a net,
every other layer's memory passes through the caches between two runs of
it, and once enough has passed the block reads its buffers from DRAM. Such
a block then costs more in the net than in the table (on a 2-vCPU EPYC VM:
a k7_e6 block at 1x1x256, 10.7 MB of buffers, 0.16 ms alone, 0.45 ms per
block in a chain of 8 of them).

Per key k of a table with footprints:

    F_k = resident bytes of its block model, net of the interpreter's own
    E_k = max(0, F_k - weight bytes of k)      (buffers beyond the weights)

A key is *buffer-heavy* when E_k >= `MIN_BUFFER_BYTES`. A net of keys K is
predicted as its table sum plus, for every buffer-heavy key k in it,

    rate * E_k[MB] * phi(F_net - F_k),   phi(x) = min(1, x / C),   F_net = sum_K F_j

(the other layers' memory between two runs of k evicts a share x / C of
its buffers, all of them from C on).

Calibration, once per table on the target, with nothing fitted to whole
nets: chains of n = 1, 2, 4, 8 copies of the space's buffer-heavy residual
block with the largest E (copies of one block have the same shapes, so they
chain). In a chain of n, each copy sees (n - 1) F_k of other memory and
costs t_n / n - t_1 more than alone (each chain timed under the table's own
pass rule: the lowest of passes that agree); (rate, C) is the least-squares fit of
`rate * E_k * phi((n - 1) F_k)` to those extras, C on a grid from the L2 size
to twice the last-level cache.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from pxnas_tf.latency import keys as keys_lib
from pxnas_tf.latency.cache import BYTES_PER_WEIGHT
from pxnas_tf.latency.ops import ops_of_key

FORMAT = "pxnas_tf.context/v1"
MIN_BUFFER_BYTES = 256 << 10
CHAIN_COPIES = (1, 2, 4, 8)
GRID_POINTS = 200


def buffer_bytes(key: str, footprint: dict, precision: str, stem_kernel: int = 3) -> int | None:
    """E_k: the key's footprint beyond its weight bytes (None without a figure)."""
    value = (footprint or {}).get("bytes", {}).get(key)
    if value is None:
        return None
    weights = BYTES_PER_WEIGHT[precision] * sum(op.weights for op in ops_of_key(key, stem_kernel))
    return max(0, int(value) - weights)


def chainable(key: str) -> bool:
    """A residual MBConv key (input shape == output shape): copies chain."""
    try:
        k = keys_lib.parse_key(key)
    except Exception:  # noqa: BLE001 - foreign keys are simply not chainable
        return False
    return k.kind == keys_lib.MBCONV and bool(k.idskip) and k.input_shape == k.output_shape


def calibration_key(keys: Sequence[str], footprint: dict, precision: str,
                    stem_kernel: int = 3) -> tuple[str | None, int]:
    """The chainable key with the largest E among `keys`, and its E; (None, 0)
    when no chainable key is buffer-heavy."""
    best, best_e = None, 0
    for key in keys:
        if not chainable(key):
            continue
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        if e is not None and e > best_e:
            best, best_e = key, e
    return (best, best_e) if best_e >= MIN_BUFFER_BYTES else (None, 0)


def phi(other_bytes: float, c_bytes: float) -> float:
    """Share of a layer's buffers evicted by `other_bytes` of other memory."""
    return min(1.0, max(0.0, other_bytes / c_bytes))


def fit(points: Sequence[tuple[float, float]], e_bytes: float, c_min: float, c_max: float
        ) -> tuple[float, float]:
    """Least-squares (rate ms per MB, C bytes) from chain points
    ``(other_bytes, extra_ms_per_copy)`` of one key with `e_bytes` of buffers.

    Pure. Raises:
        ValueError: no points, or a non-positive range or buffer size.
    """
    if not points or e_bytes <= 0 or not 0 < c_min <= c_max:
        raise ValueError(f"need chain points, e_bytes > 0 and 0 < c_min <= c_max; got "
                         f"{len(points)} points, e_bytes={e_bytes}, C in [{c_min}, {c_max}]")
    others = np.array([p[0] for p in points], dtype=np.float64)
    extras = np.array([p[1] for p in points], dtype=np.float64)
    best = (float("inf"), 0.0, c_max)
    for c in np.geomspace(c_min, c_max, GRID_POINTS):
        x = np.minimum(1.0, others / c) * e_bytes / 1e6
        denom = float(x @ x)
        rate = max(0.0, float(x @ extras) / denom) if denom > 0 else 0.0
        err = float(np.sum((rate * x - extras) ** 2))
        if err < best[0] - 1e-15:
            best = (err, rate, float(c))
    return best[1], best[2]


def context_ms(keys: Sequence[str], footprint: dict | None, info: dict | None,
               precision: str, stem_kernel: int = 3) -> float:
    """The context term (ms) of a net of `keys` (see the module doc); 0
    without footprints or a calibration, or when a key has no footprint."""
    if not footprint or not info or not info.get("rate_ms_per_mb"):
        return 0.0
    per_key = footprint.get("bytes") or {}
    if any(k not in per_key for k in keys):
        return 0.0
    f_net = float(sum(max(0, per_key[k]) for k in keys))
    total = 0.0
    for key in keys:
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        if e is not None and e >= MIN_BUFFER_BYTES:
            other = f_net - max(0, per_key[key])
            total += info["rate_ms_per_mb"] * e / 1e6 * phi(other, info["c_bytes"])
    return total


def chain_models(key: str, precision: str, folder: str,
                 copies: Sequence[int] = CHAIN_COPIES) -> dict[int, str]:
    """Writes (or reuses) the chain models of `key`: {copies: path}."""
    import hashlib

    import keras

    from pxnas_tf.export import random_representative_data, save_tflite, to_tflite
    from pxnas_tf.layers import blocks

    k = keys_lib.parse_key(key)
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
    os.makedirs(folder, exist_ok=True)
    out = {}
    for n in copies:
        path = os.path.join(folder, f"chain-{digest}-x{n}.tflite")
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            x = inputs = keras.Input(k.input_shape, batch_size=1)
            for i in range(n):
                y = blocks.apply(blocks.mbconv_layers(k.input_shape[2], k.output_shape[2],
                                                      k.kernel, k.expand, k.stride, f"b{i}"), x)
                x = keras.layers.Add(name=f"b{i}_add")([x, y])
            save_tflite(to_tflite(keras.Model(inputs, x), precision,
                                  random_representative_data(k.input_shape)), path)
        out[n] = path
    return out


def measure_context(runner, keys: Sequence[str], footprint: dict, precision: str,
                    caches: dict[str, int], folder: str, stem_kernel: int = 3,
                    min_passes: int = 2, max_passes: int = 4, agree_tol: float = 0.03
                    ) -> dict[str, Any]:
    """Calibrates the context term on `runner` (see the module doc): the
    chain models of the calibration key, timed under the table's pass rule
    (at least `min_passes` passes, more while the two lowest disagree by
    more than `agree_tol`, at most `max_passes`; the lowest kept), and the
    fit. Without a buffer-heavy chainable key the rate is 0 and the record
    says why."""
    from pxnas_tf.latency.builder import BuildSettings, needs_run
    from pxnas_tf.latency.runner import BenchModel

    key, e = calibration_key(keys, footprint, precision, stem_kernel)
    if key is None:
        return {"format": FORMAT, "rate_ms_per_mb": 0.0, "c_bytes": None,
                "note": f"no residual block of the space holds >= {MIN_BUFFER_BYTES >> 10} KiB "
                        "of buffers beyond its weights: nothing to price"}
    paths = chain_models(key, precision, folder)
    rule = BuildSettings(min_passes=min_passes, max_passes=max_passes, agree_tol=agree_tol)
    runs: dict[int, list[float]] = {n: [] for n in paths}
    while True:
        todo = [n for n in paths if needs_run(runs[n], (), rule)]
        if not todo:
            break
        for model, m in runner.measure([BenchModel(f"x{n}", paths[n]) for n in todo]):
            runs[int(model.name[1:])].append(m.value_ms)
    times = {n: min(v) for n, v in runs.items()}
    f_key = float(footprint["bytes"][key])
    points = [((n - 1) * f_key, times[n] / n - times[1]) for n in sorted(times) if n > 1]
    last = max(caches.values()) if caches else 32 << 20
    c_min = float(caches.get("L2") or (1 << 20))
    rate, c = fit(points, float(e), c_min, max(c_min, 2.0 * last))
    return {"format": FORMAT, "key": key, "buffer_bytes": int(e), "footprint_bytes": int(f_key),
            "chain_ms": {str(n): times[n] for n in sorted(times)},
            "chain_runs": {str(n): runs[n] for n in sorted(runs)},
            "points": [list(p) for p in points], "rate_ms_per_mb": rate, "c_bytes": c,
            "min_buffer_bytes": MIN_BUFFER_BYTES}
