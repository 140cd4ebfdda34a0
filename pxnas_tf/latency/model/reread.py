"""The re-read term: one-pixel products read their weights from beyond L2 in a net.

A 1x1 conv at 1 to 4 pixels (op group ``gemv``) or a dense layer (``fc``)
uses each weight once to four times: it reads weights far more than it
computes. Timed alone, back to back, such an op finds its weights in L2
(if they fit). Inside a whole net whose footprint outgrows L2,
every other layer's data passes through L2 between two invokes, so the
product reads its weights from L3 on every one, and with so little
compute per byte nothing hides the reads. Convs on larger maps reuse
each weight many times and the prefetchers hide their reads
(`pxnas_tf.latency.model.streaming` prices only what passes the
last-level cache); products at one pixel do not.

Measured on a 2-vCPU EPYC VM (1 MB L2, 32 MB L3), int8, 2026-12-07:
keras.applications MobileNetV2 at alpha 1.4 and 32x32 pixels, timed as
prefixes cut after each block, ran as their ops alone predict up to about
1 MB of footprint (within 0.0005 ms a block); past it, each block whose
1x1 convs run on 1x1 maps ran 0.0013-0.0015 ms slower than predicted, and
the head (a 448 -> 1792 1x1 conv and a 1792 -> 1000 dense layer at one
pixel) 0.0087 ms: about 0.0025 ms per MB of such weights. The whole net ran
0.109 ms against 0.097 for its ops alone. A chain of 1x1 convs at one
pixel (the streaming calibration) pays 0.0036 ms per MB read from L3.

So a whole net of ops (a net outside the space, predicted by the op model
with its in-net factors) gets

    reread = r * sum over its gemv and fc ops of min(W_op, L2)   (bytes)

while its footprint (`streaming.footprint_bytes`) passes L2, else 0. An op
whose own weights pass L2 streams them alone too, which the op model's
``weights_past_l2`` feature prices already; hence min(W_op, L2). r is fit
(`fit`: least squares on relative residuals, at least 0) to the in-net
calibration's random nets timed whole, the large ones included (their heads
of 1024-1536 channels at small inputs hold up to 6.6 MB of such weights),
after their family factors and net of their streaming term. Nothing is
fitted to the validation nets.
"""

from __future__ import annotations

from typing import Sequence

from pxnas_tf.latency.model import streaming
from pxnas_tf.latency.model.op_features import group_of
from pxnas_tf.latency.model.ops import Op

GROUPS = ("gemv", "fc")  # op groups that read each weight at most `GEMV_PIXELS` times
MIN_NETS = 4             # nets with such weights that a fit needs


def reread_bytes(ops: Sequence[Op], precision: str, l2_weights: int) -> float:
    """Bytes of one-pixel products' weights that a whole net of `ops` reads
    from beyond L2 on every invoke (see the module doc): 0 while the net's
    footprint fits in L2 (`l2_weights` weights at `precision`), or without
    a known L2 (`l2_weights` 0). Pure."""
    if l2_weights <= 0:
        return 0.0
    per = streaming.BYTES_PER_WEIGHT[precision]
    if streaming.footprint_bytes(ops, precision) <= l2_weights * per:
        return 0.0
    return float(per * sum(min(op.weights, l2_weights) for op in ops if group_of(op) in GROUPS))


def fit(nets: Sequence[tuple[float, float, float]]) -> float:
    """r (ms per MB) from nets given as (re-read MB, measured ms, the rest
    of the prediction in ms: ops after their family factors, overhead,
    streaming): the least-squares slope of the relative residual on
    `MB / ms`, at least 0; 0 when fewer than `MIN_NETS` nets re-read
    anything. Pure."""
    if sum(mb > 0 for mb, _, _ in nets) < MIN_NETS:
        return 0.0
    num = den = 0.0
    for mb, ms, rest in nets:
        h = mb / ms
        num += h * (ms - rest) / ms
        den += h * h
    return max(0.0, num / den) if den > 0 else 0.0
