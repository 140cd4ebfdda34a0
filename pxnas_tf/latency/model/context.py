"""The context term: layers whose runtime buffers a whole net evicts.

Some layers make the runtime hold far more memory than their weights
(`pxnas_tf.latency.measure.footprint`): LiteRT 2.3.0's XNNPACK gives an int8 7x7
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

The buffers also count in the net's streaming footprint
(`pxnas_tf.latency.model.streaming`): what a net streams is its weights,
the tensors it writes and its layers' buffers (`buffers_bytes`), one memory
term for all three. The context term prices only what streaming leaves.

Calibration, once per table on the target, with nothing fitted to whole
nets: in every group that holds a buffer-heavy residual block, chains of
n = 1, 2, 4, 8 copies of the one with the largest E, and of the n whose
chain fills the last-level cache where that lies between two of them
(`chain_copies`; copies of one block have the same shapes, so they
chain). In a chain of n, each copy sees (n - 1) F_k of other memory and
costs

    t_n / n - t_1 - S(n (W_k + E_k)) / n

more than alone, net of the chain's streaming term S of its weights and
activations W_k and buffers (`chain_points`; each chain timed under the
table's own pass rule: the lowest of passes that agree); (rate_g, C_g) is
the least-squares fit of `rate * E_k * phi((n - 1) F_k)` to those extras,
C on a grid from the L2 size to twice the last-level cache. Groups are
added as a table grows (`--extra_archs`), never re-measured.

Small-map groups: a net at a small input (ImageNet nets at 28-64 pixels)
ends its last stages on 1x1 maps, which a space's table rarely reaches.
There a block's buffers cost a quarter to a third of what a 4x4 block's
chains give (int8, 2-vCPU EPYC VM: 1x1x256 k7_e6 chains lose at most 0.18
ms a copy for 8.9 MB of buffers, 0.020 ms per MB with streaming; fitted
net of streaming 0.0066-0.0077 ms per MB, the 4x4x96 group 0.021-0.027),
so borrowing the nearest group over-priced the int8 zoo nets at 28x28 by
28-54%. For every kernel and expand ratio with a buffer-heavy key, the
table also calibrates the residual block at 1x1x`SMALL_MAP_CHANNELS`
(`small_map_keys`: its memory is recorded, its chains timed; it has no
entry of its own).

Format v1 (before the buffers counted in the streaming footprint) fitted
the extras without the streaming term, and v2 net of the streaming term
as it was before the buffers' fade (`streaming.hidden_share`); such a
record is fitted again from its chains' times when the table loads
(`upgrade`). Measured on the 5 zoo
nets at 28x28 with 7x7 blocks (2026-12-06, 2-vCPU EPYC VM, two
measurements an hour apart), against the v1 rule: int8 MAPE 6.7-8.8% ->
5.6-6.1%, float32 13.6-16.7% -> 6.4-8.9%; the 30 random archs of the space
unchanged (within 0.1 point).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model import streaming
from pxnas_tf.latency.model.ops import ops_of_key
from pxnas_tf.latency.model.streaming import BYTES_PER_WEIGHT
from pxnas_tf.search_space.space import hidden_width

FORMAT = "pxnas_tf.context/v3"  # v1: extras not net of the streaming term; v2: net of it
# before its buffers' fade (`streaming.hidden_share`); both are fitted again (`upgrade`)
OLDER_FORMATS = ("pxnas_tf.context/v1", "pxnas_tf.context/v2")
MIN_BUFFER_BYTES = 256 << 10
CHAIN_COPIES = (1, 2, 4, 8)
# The small-map groups' blocks: 1x1 maps, as wide as the last stages of
# ImageNet mobile nets (MobileNetV2 320, ProxylessNAS 256-432 channels).
SMALL_MAP_CHANNELS = 256
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


def small_map_keys(keys: Sequence[str], footprint: dict, precision: str,
                   stem_kernel: int = 3) -> list[str]:
    """The small-map calibration keys of a table (see the module doc): for
    every kernel and expand ratio with a buffer-heavy MBConv key among
    `keys`, the residual block at 1x1x`SMALL_MAP_CHANNELS`, unless `keys`
    has a block of that kind at 1x1 already. Pure."""
    kinds, own = set(), set()
    for key in keys:
        try:
            k = keys_lib.parse_key(key)
        except Exception:  # noqa: BLE001 - foreign keys have no kind
            continue
        if k.kind != keys_lib.MBCONV:
            continue
        if k.output_shape[:2] == (1, 1):
            own.add((k.kernel, k.expand))
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        if e is not None and e >= MIN_BUFFER_BYTES:
            kinds.add((k.kernel, k.expand))
    shape = (1, 1, SMALL_MAP_CHANNELS)
    return [keys_lib.mbconv_key(shape, shape, expand, kernel, 1, True)
            for kernel, expand in sorted(kinds - own)]


def chain_copies(footprint_bytes: float, caches: dict | None) -> tuple[int, ...]:
    """The copy counts of a group's chains: `CHAIN_COPIES`, and the count
    whose chain fills the last-level cache (round(LLC / F_k)) where that
    lies between two of them. Pure.

    A chain's copies lose most of their buffers once the chain outgrows the
    last-level cache, so the fit's C sits near LLC. Doubling from 1 to 8
    leaves that knee unsampled for blocks of 5-15 MB: on a 2-vCPU EPYC VM
    with a 32 MB L3, the int8 k7_e6 block at 1x1x256 (10.7 MB) loses 0.021
    ms a copy in a chain of 2, 0.058 in a chain of 3 and 0.059 in a chain
    of 4; fitted on 1, 2, 4, 8 copies C came out 35 MB, with 3 added 22 MB,
    and zoo:proxyless_mobile at 32x32 (about 30 MB with its buffers) went
    from -14.0% to -10.2% (2026-12-07)."""
    caches = caches or {}
    if not caches or footprint_bytes <= 0:
        return CHAIN_COPIES
    knee = round(max(caches.values()) / footprint_bytes)
    if CHAIN_COPIES[0] < knee < CHAIN_COPIES[-1] and knee not in CHAIN_COPIES:
        return tuple(sorted((*CHAIN_COPIES, knee)))
    return CHAIN_COPIES


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
    """The calibration that prices `key`: its group's; else that of the
    group of the same kernel and expand ratio whose map size is nearest (a
    net at another input size, such as a zoo net at 28x28 against a table at
    32x32); else the default group's (the one calibrated on the largest
    buffers); None without one."""
    groups = info.get("groups") or {}
    own = group_of(key)
    if own in groups:
        return groups[own]
    if own is not None:
        kind = own.rsplit("_", 1)[0]
        near = [g for g in groups if g.rsplit("_", 1)[0] == kind]
        if near:  # a tie goes to the larger map
            return groups[min(near, key=lambda g: (abs(np.log(_map_side(g) / _map_side(own))),
                                                   -_map_side(g)))]
    return groups.get(info.get("default") or "")


def _map_side(group: str) -> int:
    """The output map side of a group name (``k7_e6_4x4`` -> 4)."""
    return int(group.rsplit("_", 1)[1].split("x")[0])


def _buffer_features(k: keys_lib.LayerKey) -> np.ndarray:
    """1, hidden channels, hidden channels x output pixels of an MBConv key."""
    hidden = hidden_width(k.input_shape[2], k.expand)
    return np.array([1.0, hidden, hidden * k.output_shape[0] * k.output_shape[1]])


def buffer_model(footprint: dict | None, precision: str, stem_kernel: int = 3
                 ) -> dict[int, np.ndarray]:
    """Per depthwise kernel, the coefficients of E_k ~ a + b H + c H P (H
    hidden channels, P output pixels) fit by non-negative least squares on
    relative errors to the MBConv keys with a footprint (at least 3 of the
    kernel). Pure. On a 2-vCPU EPYC VM the int8 7x7 fit is within 5% of the
    recorded buffers at the median, 35% at worst: about 6 KB a channel."""
    from scipy.optimize import nnls

    rows: dict[int, list[tuple[np.ndarray, float]]] = {}
    for key in (footprint or {}).get("bytes", {}):
        try:
            k = keys_lib.parse_key(key)
        except Exception:  # noqa: BLE001 - foreign keys are not fit
            continue
        e = buffer_bytes(key, footprint, precision, stem_kernel)
        if k.kind == keys_lib.MBCONV and e is not None:
            rows.setdefault(k.kernel, []).append((_buffer_features(k), float(e)))
    out = {}
    for kernel, data in rows.items():
        if len(data) >= 3:
            a = np.array([f for f, _ in data])
            y = np.array([e for _, e in data])
            w = 1.0 / np.maximum(y, MIN_BUFFER_BYTES)
            out[kernel] = nnls(a * w[:, None], y * w)[0]
    return out


def key_footprint(key: str, footprint: dict, model: dict[int, np.ndarray], precision: str,
                  stem_kernel: int = 3) -> tuple[float, float]:
    """(F_k, E_k) of a key: recorded, or, for a key the table never ran
    (a layer the op model predicts), its weight bytes plus the buffers
    `model` (`buffer_model`) gives an MBConv of its kernel."""
    recorded = (footprint.get("bytes") or {}).get(key)
    if recorded is not None:
        return float(max(0, recorded)), float(buffer_bytes(key, footprint, precision, stem_kernel))
    weights = BYTES_PER_WEIGHT[precision] * sum(op.weights for op in ops_of_key(key, stem_kernel))
    k = keys_lib.parse_key(key)
    e = (max(0.0, float(model[k.kernel] @ _buffer_features(k)))
         if k.kind == keys_lib.MBCONV and k.kernel in model else 0.0)
    return weights + e, e


def context_ms(keys: Sequence[str], footprint: dict | None, info: dict | None,
               precision: str, stem_kernel: int = 3) -> float:
    """The context term (ms) of a net of `keys` (see the module doc); 0
    without footprints or a calibration. A key without a recorded footprint
    gets an estimated one (`key_footprint`)."""
    if not footprint or not info or not info.get("groups"):
        return 0.0
    per_key = footprint.get("bytes") or {}
    model = (buffer_model(footprint, precision, stem_kernel)
             if any(k not in per_key for k in keys) else {})
    sizes = {k: key_footprint(k, footprint, model, precision, stem_kernel) for k in set(keys)}
    f_net = float(sum(sizes[k][0] for k in keys))
    total = 0.0
    for key in keys:
        f_k, e = sizes[key]
        params = group_params(key, info) if e >= MIN_BUFFER_BYTES else None
        if params and params.get("rate_ms_per_mb"):
            total += params["rate_ms_per_mb"] * e / 1e6 * phi(f_net - f_k, params["c_bytes"])
    return total




def buffers_bytes(keys: Sequence[str], footprint: dict | None, precision: str,
                  stem_kernel: int = 3) -> float:
    """The buffers E_k of a net's layers summed over `keys` (recorded, or
    estimated by `buffer_model` for keys the table never ran); 0 without
    footprints: the part of a net's streaming footprint beyond its weights
    and activations."""
    if not footprint or not footprint.get("bytes"):
        return 0.0
    per_key = footprint["bytes"]
    model = (buffer_model(footprint, precision, stem_kernel)
             if any(k not in per_key for k in keys) else {})
    return float(sum(key_footprint(k, footprint, model, precision, stem_kernel)[1]
                     for k in keys))


def chain_points(key: str, chain_ms: dict, footprint_bytes: float, buffer: float,
                 weight_streaming: dict | None, precision: str, stem_kernel: int = 3
                 ) -> list[tuple[float, float]]:
    """Pure: the fit's points of a group, ``(other bytes, extra ms per
    copy)`` for each chain of n > 1 copies of `key` (`chain_ms`: copies ->
    lowest pass), net of the chain's streaming term (the module doc)."""
    times = {int(n): float(t) for n, t in chain_ms.items()}
    one = streaming.keys_footprint_bytes([key], precision, stem_kernel) + buffer
    return [((n - 1) * footprint_bytes,
             times[n] / n - times[1]
             - streaming.streaming_ms(n * one, weight_streaming, n * buffer) / n)
            for n in sorted(times) if n > 1]


def c_range(caches: dict | None) -> tuple[float, float]:
    """The grid of C: from the L2 size to twice the last-level cache."""
    caches = caches or {}
    last = max(caches.values()) if caches else 32 << 20
    c_min = float(caches.get("L2") or (1 << 20))
    return c_min, max(c_min, 2.0 * last)


def upgrade(info: dict | None, weight_streaming: dict | None, caches: dict | None,
            precision: str, stem_kernel: int = 3) -> dict | None:
    """A record of an older format (`OLDER_FORMATS`) as the current one
    (pure): every group's points and (rate, C) fitted again from its
    chains' times with `chain_points`; others as they are."""
    if not info or info.get("format") not in OLDER_FORMATS:
        return info
    groups = {}
    for name, group in (info.get("groups") or {}).items():
        points = chain_points(group["key"], group["chain_ms"], float(group["footprint_bytes"]),
                              float(group["buffer_bytes"]), weight_streaming, precision,
                              stem_kernel)
        rate, c = fit(points, float(group["buffer_bytes"]), *c_range(caches))
        groups[name] = {**group, "points": [list(p) for p in points], "rate_ms_per_mb": rate,
                        "c_bytes": c}
    return {**info, "format": FORMAT, "groups": groups}
