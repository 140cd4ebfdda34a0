"""Weight streaming: whole nets whose weights do not stay in the CPU caches.

A block model timed back to back keeps its packed weights in L2: every
invoke after the first reads them from there. Inside a whole net, by the time
a block runs again one inference later every other block's weights have
passed through the caches too, so once the net's weights outgrow L2 each
block reads its own from further away. A table of back-to-back block times
then predicts such nets too fast, by an amount that grows with the net's
weight bytes, not with its MACs (float32 MobileNetV2 at 32x32 on a 2-vCPU
EPYC VM: 0.56 ms summed over its blocks, 1.02 ms measured whole).

The cost is measured once per table, on the target, with calibration models
that contain nothing but weights to stream: one 1x1 convolution at a 1x1
feature map (C -> C channels, its weights at most half of L2), and chains
of N of them whose weights go from half of L2, doubling, to four times the
last-level cache (at most `MAX_CURVE_BYTES`: a VM may report its host's
whole L3, 480 MB on one host here). Timed back to back, a chain costs more
than N singles by the time it takes to stream its weights from wherever
they no longer fit:

    extra(N) = t(chain of N) - N * t(single)

and the points (weight bytes of the chain, extra) are the curve
(`curve_ms`: piecewise linear from (0, 0), never decreasing, at the last
point's rate beyond it). A net runs its layers in the same order on every
invoke, like a chain, so once what it touches outgrows a cache level each
layer's weights have been evicted before the next invoke needs them.

What a net adds is read off the curve at its footprint F: its weight bytes,
the bytes of every tensor its ops write (`footprint_bytes`; those pass
through the same caches and evict weights) and the runtime buffers of its
layers (`pxnas_tf.latency.model.context`). Only the part of the curve above
its in-cache rate counts, and for the buffers only while the net fits in
half of the last-level cache; from there to the cache's size their hidden
part fades out:

    streaming(F) = max(0, extra(F) - (F - (1 - h(F)) E) * extra(L) / L),   L = last-level cache / 2
    h(F) = 1 up to L, (2 L - F) / L between L and 2 L, 0 beyond     (`hidden_share`)

with E the buffers' bytes in F. A chain does nothing but read weights, so
it pays for every byte it streams from L3; a net computes between its reads
and the prefetchers hide that (on a 2-vCPU EPYC VM that reports a 32 MB L3,
int8 nets with 4-6 MB of weights run whole within 1-7% of their ops timed
alone, where a chain of that size costs 10-20% of such a net). Past the
last-level cache the curve's slope rises about tenfold (DRAM), and that
part nets pay: float32 EfficientNetB0 and MobileNetV3Large (21 MB of
weights, 24-28 MB with their activations) run 1.3x their ops alone
(docs/benchmarks/latency_foreign.md). A net made mostly of buffers pays
more: int8 zoo:proxyless_mobile at 32x32 (30 MB, 27 of them the buffers
of its 7x7 depthwise ops), cut after each of its last blocks and timed
whole against its ops timed alone (same VM, 2026-12-07), ran 0.00, 0.07,
0.22 and 0.51 ms beyond them at 15, 18, 22 and 30 MB: the curve gives
0.10, 0.16, 0.27 and 0.50 there, its part above the in-cache rate 0.00,
0.03, 0.12 and 0.29, and with the buffers' share fading 0.00, 0.04, 0.16
and 0.44. Fading the whole footprint instead fits those nets as well but
not float32 nets of 40 MB, half of it weights (zoo:proxyless_gpu and
proxyless_mobile_14: +11% to +20% against +4% to +10%; five fresh builds,
docs/benchmarks/latency_foreign.md, the tenth round).
The curve replaces one chain at about twice the last-level cache and a
step at L2 (records of format v1, still read that way, at F).
Nothing here is fitted to whole-net measurements; the validation nets test it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pxnas_tf.latency.model.ops import Op, ops_of_key

BYTES_PER_WEIGHT = {"int8": 1, "fp16": 2, "float32": 4}
DEFAULT_CHANNELS = 1024
FORMAT = "pxnas_tf.weight_streaming/v2"  # v2: the curve; v1 records (one chain) use the step
MAX_CURVE_BYTES = 64 << 20


def weight_bytes(keys: Sequence[str], precision: str, stem_kernel: int = 3) -> int:
    """Bytes of weights of the layers `keys` in `precision`."""
    return ops_weight_bytes([op for key in keys for op in ops_of_key(key, stem_kernel)],
                            precision)


def ops_weight_bytes(ops: Sequence[Op], precision: str) -> int:
    """Bytes of weights of `ops` in `precision`."""
    try:
        per = BYTES_PER_WEIGHT[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}: one of "
                         f"{', '.join(BYTES_PER_WEIGHT)}") from None
    return per * sum(op.weights for op in ops)


def footprint_bytes(ops: Sequence[Op], precision: str) -> int:
    """Bytes a net of `ops` touches each invoke in `precision`: its weights
    and every tensor its ops write."""
    return ops_weight_bytes(ops, precision) + BYTES_PER_WEIGHT[precision] * sum(
        op.out_elems for op in ops)


def keys_footprint_bytes(keys: Sequence[str], precision: str, stem_kernel: int = 3) -> int:
    """`footprint_bytes` of the layers `keys`."""
    return footprint_bytes([op for key in keys for op in ops_of_key(key, stem_kernel)],
                           precision)


def streaming_fraction(weights: float, l2: int) -> float:
    """phi(W): 0 while `weights` fit in L2, 1 beyond."""
    if l2 <= 0:
        raise ValueError(f"L2 size must be > 0, got {l2}")
    return 1.0 if weights > l2 else 0.0


def streaming_ms(footprint: float, info: dict[str, Any] | None, buffers: float = 0.0) -> float:
    """The extra time (ms) of a net that touches `footprint` bytes
    (`footprint_bytes`, with its layers' runtime buffers: `buffers` of
    them) under the table's `info` (its ``weight_streaming`` metadata); 0
    without it. A v2 record reads its measured curve above the curve's
    in-cache rate on its weights and tensors, and on the share
    `hidden_share` of its buffers (the module's docstring); a v1 record
    (one chain) is a step at L2."""
    if not info:
        return 0.0
    if info.get("curve"):
        caches = info.get("caches") or {}
        half = max(caches.values()) / 2 if caches else float(info.get("l2_bytes", 1 << 20))
        rate = curve_ms(half, info["curve"]) / half
        h = hidden_share(footprint, 2 * half) if caches else 1.0
        hidden = footprint - (1.0 - h) * min(max(0.0, buffers), footprint)
        return max(0.0, curve_ms(footprint, info["curve"]) - rate * hidden)
    return (info["ms_per_mb"] * footprint / 1e6
            * streaming_fraction(footprint, info["l2_bytes"]))


def hidden_share(footprint: float, llc: float) -> float:
    """h(F): the share of the curve's in-cache rate that a net of `footprint`
    bytes hides on its buffers: all of it up to half the last-level cache
    `llc`, fading linearly to none at the cache's size (the module doc)."""
    half = llc / 2
    return min(1.0, max(0.0, (llc - footprint) / half)) if half > 0 else 1.0


def curve_ms(weights: float, curve: Sequence[Sequence[float]]) -> float:
    """The extra time of `weights` bytes on a measured curve of
    [chain bytes, extra ms] points: piecewise linear from (0, 0) through the
    points (each at least the one before: more weights never stream
    faster), and at the last point's rate beyond it."""
    xs, ys = [0.0], [0.0]
    for size, extra in sorted((float(b), float(e)) for b, e in curve):
        if size > xs[-1]:
            xs.append(size)
            ys.append(max(ys[-1], extra))
    if weights >= xs[-1]:
        return ys[-1] * weights / xs[-1] if xs[-1] > 0 else 0.0
    return float(np.interp(weights, xs, ys))


def curve_lengths(caches: dict[str, int], precision: str, channels: int = DEFAULT_CHANNELS,
                  max_bytes: int | None = None) -> list[int]:
    """Layers of the curve's chains: weights of L2 / 2, L2, 2 L2, ... up to
    four times the last-level cache, at most `MAX_CURVE_BYTES` (a VM may
    report its host's whole L3) and at most `max_bytes` (but at least 2 L2:
    what the table's own nets can hold), each at least 2 layers."""
    per_layer = channels * channels * BYTES_PER_WEIGHT[precision]
    last = max(caches.values()) if caches else 8 << 20
    l2 = caches.get("L2", 1 << 20)
    top = min(4 * last, MAX_CURVE_BYTES)
    if max_bytes is not None:
        top = min(top, max(max_bytes, 2 * l2))
    size = max(1, l2 // 2)
    lengths = []
    while True:
        lengths.append(max(2, -(-size // per_layer)))
        if size >= top:
            return sorted(set(lengths))
        size *= 2


def calibration_channels(l2_bytes: int, precision: str) -> int:
    """Channels of the calibration conv: the widest multiple of 64 (at most
    `DEFAULT_CHANNELS`) whose weights fill at most half of L2, so that the
    single model's weights stay in L2 and only the chain's stream (1024 for
    int8 and 512 for float32 on a 2 MiB L2)."""
    per = BYTES_PER_WEIGHT[precision]
    channels = DEFAULT_CHANNELS
    while channels > 64 and channels * channels * per > l2_bytes // 2:
        channels -= 64
    return channels


def calibration_is_valid(info: dict[str, Any], precision: str) -> bool:
    """False for a record to measure again: one whose single model's weights
    did not fit in L2 (tables built before `calibration_channels`: its rate
    is too low), or a v1 record (one chain: tables built before the curve)."""
    channels = int(info.get("channels", DEFAULT_CHANNELS))
    return (info.get("format") == FORMAT and bool(info.get("curve"))
            and channels * channels * BYTES_PER_WEIGHT[precision] <= info.get("l2_bytes", 0) // 2)
