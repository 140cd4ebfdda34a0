"""What the op model sees of an op: its coefficient group and its features
(pure; `pxnas_tf.latency.model.op_model` fits and applies them).

Each op type has a group, depthwise convs one per kernel and stride, 1x1
convs at 1 to 4 pixels one of their own (`gemv`: a matrix-vector product
that reads each weight once or a few times), and a linear cost on the
group's features. ``weights_past_l2`` (gemv and fc ops) counts the weights
that do not fit in L2 at the table's precision. ``weights_half32`` counts
the weights of a one-pixel product (gemv at 1x1, fc) whose output channels
leave 1 to 16 over a multiple of 32: float32 XNNPACK then runs it at about
half the rate (on the AVX-512 host, 2026-12-06, a 1024-input fc: 960, 992,
1016, 1024 or 1056 outputs 43-48 us; 976, 1000, 1008 or 1040 outputs
67-73 us; 640 inputs: 256 or 288 outputs 5-6 us, 240, 264 or 272 outputs
9-10 us). MobileNetV3's 1024 -> 1000 head and the 1000-way classifiers are
such products. At 2x2 pixels and more the same channels cost 10-20% more,
which the padded-MACs features already carry; int8 kernels show no such
step (an int8 fit gives the feature little or no weight).
"""

from __future__ import annotations

import numpy as np

from pxnas_tf.latency.model.ops import Op

SIMD_CHANNELS = 16
TILE_CHANNELS = 64
_ELEMENTWISE = ("one", "out_elems", "pixels")
_CONV = ("one", "macs", "macs16", "macs64", "in_elems", "out_elems", "out64", "pixels",
         "weights")
FEATURES = {
    "conv1x1": _CONV,
    "gemv": _CONV + ("weights_past_l2", "weights_half32"),
    "convkxk": _CONV,
    "stem": _CONV,
    "gconv": ("one", "macs", "out_elems", "pixels"),
    "dw": ("one", "macs", "macs16", "out_elems", "pixels", "weights"),
    "fc": ("one", "macs", "weights_past_l2", "weights_half32"),
    "pad": _ELEMENTWISE,
    "pool": ("one", "in_elems"),
    "avgpool": ("one", "window", "out_elems", "pixels"),
    "maxpool": ("one", "window", "out_elems", "pixels"),
    "add": _ELEMENTWISE,
    "mul": _ELEMENTWISE,
    "add_b": _ELEMENTWISE,
    "mul_b": _ELEMENTWISE,
    "add_s": _ELEMENTWISE,
    "mul_s": _ELEMENTWISE,
    "concat": _ELEMENTWISE,
    "hswish": _ELEMENTWISE,
    "swish": _ELEMENTWISE,
    "sigmoid": _ELEMENTWISE,
    "softmax": _ELEMENTWISE,
    "act": _ELEMENTWISE,
    "reshape": _ELEMENTWISE,
    "quantize": _ELEMENTWISE,
}
STEM_CHANNELS = 4  # a kxk conv of at most this many input channels: an image stem
GEMV_PIXELS = 4    # a 1x1 conv at this many pixels or fewer: a matrix-vector product


def group_of(op: Op) -> str:
    """The coefficient group of an op: ``conv1x1``, ``gemv`` (a 1x1 conv at
    most `GEMV_PIXELS` pixels: each weight is used that often, so it reads
    weights more than it computes), ``convkxk``, ``stem``
    (kxk on at most `STEM_CHANNELS` channels), ``gconv``,
    ``dw{k}_s{s}``, ``add_b`` / ``mul_b`` (broadcasting), or the op's type."""
    if op.type == "conv":
        if op.groups > 1:
            return "gconv"
        if op.in_shape[-1] <= STEM_CHANNELS and op.kernel > 1:
            return "stem"
        if op.kernel == 1:
            return "gemv" if op.out_elems // op.out_shape[-1] <= GEMV_PIXELS else "conv1x1"
        return "convkxk"
    if op.type == "dwconv":
        return f"dw{op.kernel}_s{op.stride}"
    if op.broadcast:
        return op.type + "_b"  # broadcasting kernels run another loop than same-shape ones
    if op.scalar:
        return op.type + "_s"  # a constant number: a cheaper kernel still
    return op.type


def feature_family(group: str) -> str:
    """The `FEATURES` key of a group: every depthwise kernel and stride as one."""
    return "dw" if group.startswith("dw") else group


def factor_family(op: Op) -> str:
    """The in-net factor an op's predicted time is scaled by inside a whole
    net: its coefficient group, every depthwise kernel and stride as one."""
    return feature_family(group_of(op))


def features(op: Op, l2_weights: int = 0) -> np.ndarray:
    """The feature vector of an op, in its group's order; `l2_weights`: how
    many weights fill L2 at the table's precision (0: unknown, no weight
    counts as past L2)."""
    channels = op.out_shape[-1]
    padded = -(-channels // SIMD_CHANNELS) * SIMD_CHANNELS
    wide = -(-channels // TILE_CHANNELS) * TILE_CHANNELS
    pixels = op.out_elems // channels
    values = {"one": 1.0, "macs": float(op.macs), "macs16": float(op.macs * padded / channels),
              "in_elems": float(op.in_elems), "out_elems": float(op.out_elems),
              "pixels": float(pixels), "weights": float(op.weights),
              "window": float(op.window), "macs64": float(op.macs * wide / channels),
              "out64": float(pixels * wide),
              "weights_past_l2": float(max(0, op.weights - l2_weights)) if l2_weights else 0.0,
              "weights_half32": float(op.weights) if pixels == 1 and 0 < channels % 32 <= 16
              else 0.0}
    return np.array([values[f] for f in FEATURES[feature_family(group_of(op))]])
