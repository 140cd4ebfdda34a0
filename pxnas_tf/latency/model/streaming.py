"""Weight streaming: whole nets whose weights do not stay in the CPU caches.

A block model timed back to back keeps its packed weights in L2: every
invoke after the first reads them from there. Inside a whole net, by the time
a block runs again one inference later every other block's weights have
passed through the caches too, so once the net's weights outgrow L2 each
block reads its own from further away. A table of back-to-back block times
then predicts such nets too fast, by an amount that grows with the net's
weight bytes, not with its MACs (float32 MobileNetV2 at 32x32 on a 2-vCPU
EPYC VM: 0.56 ms summed over its blocks, 1.02 ms measured whole).

The cost is measured once per table, on the target, with two calibration
models that contain nothing but weights to stream: one 1x1 convolution at a
1x1 feature map (C -> C channels), and a chain of N of them whose weights
total about twice the last-level cache, capped at 16 MiB (`MAX_CHAIN_BYTES`:
the nets this is for hold 1-25 MB of weights, so a larger chain would time a
rate they never see; and a VM may report its host's whole L3, 480 MB on one
host here, which would make a chain of a gigabyte). Timed back to back, the chain
costs more than N singles by the time it takes to stream its weights:

    ms_per_mb = (t(chain) - N * t(single)) / (chain weight MB)

A net of W weight bytes is then predicted as the sum of its blocks plus

    ms_per_mb * W_MB * phi(W),    phi(W) = 1 if W > L2 else 0

A net runs its layers in the same order on every invoke, so its weights are
read cyclically: once they outgrow L2, an LRU-like cache has evicted each
layer's weights before the next invoke needs them, and every layer streams
(a ramp from L2 to 2 x L2, which assumed partial reuse, under-predicted the
tuning nets of `pxnas_tf.latency.build.foreign_nets` by 7% on average
against 3% for the step; docs/benchmarks/latency_foreign.md). Nothing here
is fitted to whole-net measurements; the validation nets test it.
"""

from __future__ import annotations

from typing import Any, Sequence

from pxnas_tf.latency.model.ops import Op, ops_of_key

BYTES_PER_WEIGHT = {"int8": 1, "fp16": 2, "float32": 4}
DEFAULT_CHANNELS = 1024
MAX_CHAIN_BYTES = 16 << 20
FORMAT = "pxnas_tf.weight_streaming/v1"


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


def streaming_fraction(weights: float, l2: int) -> float:
    """phi(W): 0 while `weights` fit in L2, 1 beyond."""
    if l2 <= 0:
        raise ValueError(f"L2 size must be > 0, got {l2}")
    return 1.0 if weights > l2 else 0.0


def streaming_ms(weights: float, info: dict[str, Any] | None) -> float:
    """The extra time (ms) of a net with `weights` bytes under the table's
    `info` (its ``weight_streaming`` metadata); 0 without it."""
    if not info:
        return 0.0
    return info["ms_per_mb"] * weights / 1e6 * streaming_fraction(weights, info["l2_bytes"])


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
    """False for a record whose single model's weights did not fit in L2
    (tables built before `calibration_channels`: its rate is too low)."""
    channels = int(info.get("channels", DEFAULT_CHANNELS))
    return channels * channels * BYTES_PER_WEIGHT[precision] <= info.get("l2_bytes", 0) // 2


def chain_length(caches: dict[str, int], precision: str, channels: int = DEFAULT_CHANNELS) -> int:
    """Layers of the chain: its weights about 2x the last-level cache, at most
    `MAX_CHAIN_BYTES`."""
    last = max(caches.values()) if caches else 8 << 20
    per_layer = channels * channels * BYTES_PER_WEIGHT[precision]
    return max(2, -(-min(2 * last, MAX_CHAIN_BYTES) // per_layer))


