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

    rate_g * E_k[MB] * phi_g(F_net - F_k),   phi_g(x) = min(1, x / C_g),   F_net = sum_K F_j

(the other layers' memory between two runs of k evicts a share x / C_g of
its buffers, all of them from C_g on), where g is the key's *group*: MBConv
blocks of one kernel, expand ratio and output map size (``k7_e6_4x4``). How
much a block loses this way differs from group to group (float32 on a 2-vCPU
EPYC VM: chains of k7_e6 blocks at 4x4x96 lose nothing, at 1x1x256 2.5x), so
each group has its own calibration; a group without one borrows that of the
group with the largest buffers (the *default*).

Calibration, once per table on the target, with nothing fitted to whole
nets: in every group that holds a buffer-heavy residual block, chains of
n = 1, 2, 4, 8 copies of the one with the largest E (copies of one block
have the same shapes, so they chain). In a chain of n, each copy sees
(n - 1) F_k of other memory and costs t_n / n - t_1 more than alone (each
chain timed under the table's own pass rule: the lowest of passes that
agree); (rate_g, C_g) is the least-squares fit of
`rate * E_k * phi((n - 1) F_k)` to those extras, C on a grid from the L2
size to twice the last-level cache. Groups are added as a table grows
(`--extra_archs`), never re-measured.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from pxnas_tf.latency import keys as keys_lib
from pxnas_tf.latency.cache import BYTES_PER_WEIGHT
from pxnas_tf.latency.ops import ops_of_key
from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

FORMAT = "pxnas_tf.context/v1"
MIN_BUFFER_BYTES = 256 << 10
CHAIN_COPIES = (1, 2, 4, 8)
# Chains stream megabytes from DRAM, whose speed on a shared VM drifts for
# minutes at a time: a build gives them at least this many passes.
MIN_PASSES, MAX_PASSES = 3, 5
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


def group_of(key: str) -> str | None:
    """The calibration group of a key: MBConv blocks of one kernel, expand
    ratio and output map size (``"k7_e6_4x4"``) behave alike in a net; None
    for other kinds."""
    try:
        k = keys_lib.parse_key(key)
    except Exception:  # noqa: BLE001 - foreign keys have no group
        return None
    if k.kind != keys_lib.MBCONV:
        return None
    return (f"k{k.kernel}_e{keys_lib.format_expand(k.expand)}_"
            f"{k.output_shape[0]}x{k.output_shape[1]}")


def calibration_keys(keys: Sequence[str], footprint: dict, precision: str,
                     stem_kernel: int = 3) -> dict[str, tuple[str, int]]:
    """{group: (key, E)}: in every group with a buffer-heavy chainable key,
    the one with the largest E (the block whose chains calibrate the group)."""
    out: dict[str, tuple[str, int]] = {}
    for key in keys:
        if not chainable(key):
            continue
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        group = group_of(key)
        if e is None or e < MIN_BUFFER_BYTES or group is None:
            continue
        if group not in out or e > out[group][1]:
            out[group] = (key, e)
    return out


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


def group_params(key: str, info: dict) -> dict | None:
    """The calibration that prices `key`: its group's, else the default
    group's (the one calibrated on the largest buffers); None without one."""
    groups = info.get("groups") or {}
    return groups.get(group_of(key) or "") or groups.get(info.get("default") or "")


def context_ms(keys: Sequence[str], footprint: dict | None, info: dict | None,
               precision: str, stem_kernel: int = 3) -> float:
    """The context term (ms) of a net of `keys` (see the module doc); 0
    without footprints or a calibration, or when a key has no footprint."""
    if not footprint or not info or not info.get("groups"):
        return 0.0
    per_key = footprint.get("bytes") or {}
    if any(k not in per_key for k in keys):
        return 0.0
    f_net = float(sum(max(0, per_key[k]) for k in keys))
    total = 0.0
    for key in keys:
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        params = group_params(key, info) if e is not None and e >= MIN_BUFFER_BYTES else None
        if params and params.get("rate_ms_per_mb"):
            other = f_net - max(0, per_key[key])
            total += params["rate_ms_per_mb"] * e / 1e6 * phi(other, params["c_bytes"])
    return total


def chain_models(key: str, precision: str, folder: str,
                 copies: Sequence[int] = CHAIN_COPIES) -> dict[int, str]:
    """Writes (or reuses) the chain models of `key`: {copies: path}."""
    import hashlib

    import keras

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
                    min_passes: int = 2, max_passes: int = 4, agree_tol: float = 0.03,
                    previous: dict | None = None, log=lambda text: None,
                    save=lambda info: None) -> dict[str, Any]:
    """Calibrates the context term on `runner` (see the module doc): for
    every group of `keys` with a buffer-heavy residual block not calibrated
    in `previous` yet, the chain models of its calibration key, timed under
    the table's pass rule (at least `min_passes` passes, more while the two
    lowest disagree by more than `agree_tol`, at most `max_passes`; the
    lowest kept), and the fit.

    A pass times the pending chains of every group, so a group's passes lie
    minutes apart and a slow spell of the machine (a neighbour streaming
    memory: DRAM-bound chains then run 20-30% slower for minutes on a shared
    VM) does not settle a whole group at once. The runs so far are handed to
    `save` after every measurement (under ``"pending"``) and taken up again from
    `previous`, so a killed calibration resumes where it stopped.

    Returns the whole record (`previous`'s groups kept); without any such
    block it has no groups and a note says why."""
    from pxnas_tf.latency.builder import BuildSettings, needs_run
    from pxnas_tf.latency.runner import BenchModel

    info = dict(previous or {})
    info.setdefault("format", FORMAT)
    groups = dict(info.get("groups") or {})
    todo = {g: ke for g, ke in calibration_keys(keys, footprint, precision, stem_kernel).items()
            if g not in groups}
    last = max(caches.values()) if caches else 32 << 20
    c_min = float(caches.get("L2") or (1 << 20))
    rule = BuildSettings(min_passes=min_passes, max_passes=max_passes, agree_tol=agree_tol)
    pending = dict(info.get("pending") or {})
    paths: dict[str, dict[int, str]] = {}
    runs: dict[str, dict[int, list[float]]] = {}
    for group, (key, _) in sorted(todo.items()):
        paths[group] = chain_models(key, precision, folder)
        old = pending.get(group) or {}
        same = old.get("key") == key
        runs[group] = {n: list((old.get("runs") or {}).get(str(n), [])) if same else []
                       for n in paths[group]}
    if todo:
        log(f"context term: chains of {len(todo)} group(s): {', '.join(sorted(todo))}")
    while True:
        batch = [BenchModel(f"{g}/x{n}", paths[g][n]) for g in sorted(todo)
                 for n in paths[g] if needs_run(runs[g][n], (), rule)]
        if not batch:
            break
        for model, m in runner.measure(batch):
            group, n = model.name.rsplit("/x", 1)
            runs[group][int(n)].append(m.value_ms)
            info["pending"] = {g: {"key": todo[g][0],
                                   "runs": {str(c): list(v) for c, v in runs[g].items()}}
                               for g in todo}
            save(info)
    for group, (key, e) in sorted(todo.items()):
        times = {n: min(v) for n, v in runs[group].items()}
        f_key = float(footprint["bytes"][key])
        points = [((n - 1) * f_key, times[n] / n - times[1]) for n in sorted(times) if n > 1]
        rate, c = fit(points, float(e), c_min, max(c_min, 2.0 * last))
        groups[group] = {"key": key, "buffer_bytes": int(e), "footprint_bytes": int(f_key),
                         "chain_ms": {str(n): times[n] for n in sorted(times)},
                         "chain_runs": {str(n): runs[group][n] for n in sorted(runs[group])},
                         "points": [list(p) for p in points], "rate_ms_per_mb": rate,
                         "c_bytes": c}
    info.pop("pending", None)
    info["groups"] = groups
    info["min_buffer_bytes"] = MIN_BUFFER_BYTES
    if groups:
        info["default"] = max(groups, key=lambda g: groups[g]["buffer_bytes"])
        info.pop("note", None)
    else:
        info["note"] = (f"no residual block of the table holds >= {MIN_BUFFER_BYTES >> 10} KiB "
                        "of buffers beyond its weights: nothing to price")
    return info
