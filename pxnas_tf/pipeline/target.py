"""Stage 2: the latency target (pure): MobileNetV2's block pattern in the
space unless told, and the arch loss."""

from __future__ import annotations

import math

from pxnas_tf.pipeline.config import Target

REFERENCE_OP = "k3_e6"  # MobileNetV2's block: 3x3 depthwise, expand 6


def reference_latency(space, latency) -> float | None:
    """The latency model's value of MobileNetV2's block pattern in `space`
    (`REFERENCE_OP`, k3_e6, in every block, none skipped); None where a
    block lacks that op."""
    indices = []
    for block in space.blocks():
        if REFERENCE_OP not in block.candidates:
            return None
        indices.append(list(block.candidates).index(REFERENCE_OP))
    return latency.arch_latency(indices)


def choose_target(fastest: float, slowest: float, target_ms: float | None = None,
                  fraction: float | None = None, reference: float | None = None) -> Target:
    """Pure: the latency target. `target_ms` as given (it must lie in
    [fastest, slowest]); else `fraction` of the way from the fastest to the
    slowest arch on a log scale; else `reference`, the latency of
    MobileNetV2's block pattern in the space (`reference_latency`), when it
    lies inside the range; else the geometric middle sqrt(fastest * slowest).

    Why MobileNetV2's pattern: the paper's claim is "as fast as MobileNetV2,
    more accurate", and the target then sits where the space has a real
    trade-off. The geometric middle of a heavy-tailed table (int8 XNNPACK
    7x7 depthwise blocks cost 10-100x a 5x5 one on these hosts) lies where
    only nets with 7x7 blocks reach it.

    Raises:
        SearchError: a target outside the space's range, or a bad range.
    """
    from pxnas_tf.search.errors import SearchError

    if not 0 < fastest <= slowest:
        raise SearchError(f"cannot choose a target: the space's latencies run from {fastest:.4g} "
                          f"to {slowest:.4g} ms (need 0 < fastest <= slowest)")
    if target_ms is not None:
        if not fastest <= target_ms <= slowest:
            raise SearchError(f"--target_ms={target_ms:g} lies outside the space: its fastest arch "
                              f"takes {fastest:.4g} ms and its slowest {slowest:.4g} ms on this "
                              "target; pick a target in between (or use --target_fraction)")
        return Target(fastest, slowest, float(target_ms), "given (--target_ms)")
    if fraction is None:
        if reference is not None and fastest <= reference <= slowest:
            return Target(fastest, slowest, float(reference),
                          f"MobileNetV2's block pattern in this space: {REFERENCE_OP} in every "
                          "block")
        return Target(fastest, slowest, math.sqrt(fastest * slowest),
                      "geometric middle of fastest and slowest")
    if not 0.0 <= fraction <= 1.0:
        raise SearchError(f"--target_fraction={fraction:g} must lie in [0, 1] (0: the fastest "
                          "arch, 1: the slowest)")
    value = fastest * (slowest / fastest) ** fraction
    return Target(fastest, slowest, value, f"{fraction:g} of the way from fastest to slowest "
                  "(log scale)")


def arch_loss(loss: str) -> str:
    """Pure: the arch loss to use. "auto" -> abs#target, which works at any
    latency scale (mul#log is refused by the search where it would take the
    log of a latency at or below 1)."""
    return "abs#target" if loss == "auto" else loss
