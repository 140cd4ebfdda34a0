"""Networks as lists of primitive TFLite ops with shapes (pure functions,
plus a walk over Keras models).

An `Op` is what one TFLite kernel runs after conversion: batch norm folds
into the conv before it and ReLU/ReLU6 fuse into it, so they cost nothing
of their own. Supported:

    conv     Conv2D (any kernel, stride; groups 1)
    dwconv   DepthwiseConv2D (and the depthwise half of SeparableConv2D)
    fc       Dense
    pad      ZeroPadding2D (explicit padding before a stride-2 conv)
    pool     global / average / max pooling
    add      Add

`ops_of_key` decomposes a latency-table key into the ops its block model
runs; `ops_of_keras_model` does the same for any Keras conv net.
"""

from __future__ import annotations

import dataclasses
import math

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.search_space.space import conv_out_size, hidden_width

OP_TYPES = ("conv", "dwconv", "fc", "pad", "pool", "add")


class UnsupportedLayerError(PxnasError, ValueError):
    """A layer has no latency model; the message names it and lists the
    supported layers."""


@dataclasses.dataclass(frozen=True)
class Op:
    """One primitive op at its shapes.

    Attributes:
        type: one of `OP_TYPES`.
        in_shape, out_shape: (H, W, C) (``(C,)`` for fc).
        kernel, stride: square kernel and stride (1 where meaningless).
    """

    type: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1

    @property
    def in_elems(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_elems(self) -> int:
        return math.prod(self.out_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for pad, pool, add)."""
        if self.type == "conv":
            return self.out_elems * self.kernel * self.kernel * self.in_shape[-1]
        if self.type == "dwconv":
            return self.out_elems * self.kernel * self.kernel
        if self.type == "fc":
            return self.in_shape[-1] * self.out_shape[-1]
        return 0

    @property
    def weights(self) -> int:
        """Weight count (bias excluded)."""
        if self.type == "conv":
            return self.kernel * self.kernel * self.in_shape[-1] * self.out_shape[-1]
        if self.type == "dwconv":
            return self.kernel * self.kernel * self.out_shape[-1]
        if self.type == "fc":
            return self.in_shape[-1] * self.out_shape[-1]
        return 0


def _conv(in_hwc, cout, k, s, depthwise=False) -> list[Op]:
    """[pad] conv as the stock-layer helpers build it: a stride-2 conv with
    k > 1 gets an explicit pad of k // 2 and a "valid" conv."""
    h, w, c = in_hwc
    out = (conv_out_size(h, k, s), conv_out_size(w, k, s), c if depthwise else cout)
    ops = []
    if s > 1 and k > 1:
        padded = (h + 2 * (k // 2), w + 2 * (k // 2), c)
        ops.append(Op("pad", tuple(in_hwc), padded))
        in_hwc = padded
    ops.append(Op("dwconv" if depthwise else "conv", tuple(in_hwc), out, k, s))
    return ops


def mbconv_ops(in_hwc, cout: int, kernel: int, expand: float, stride: int, residual: bool
               ) -> list[Op]:
    """The ops of one MBConv block (see `pxnas_tf.layers.blocks.mbconv_layers`)."""
    h, w, cin = in_hwc
    hidden = hidden_width(cin, expand)
    ops = []
    x = tuple(in_hwc)
    if expand != 1:
        ops += _conv(x, hidden, 1, 1)
        x = (h, w, hidden)
    ops += _conv(x, hidden, kernel, stride, depthwise=True)
    x = ops[-1].out_shape
    ops += _conv(x, cout, 1, 1)
    if residual:
        ops.append(Op("add", ops[-1].out_shape, ops[-1].out_shape))
    return ops


def ops_of_key(key: str, stem_kernel: int = 3) -> list[Op]:
    """The ops of the block model of a table key.

    Raises:
        UnsupportedLayerError: for a key kind without a decomposition.
    """
    k = keys_lib.parse_key(key)
    if k.kind == keys_lib.STEM:
        stride = keys_lib.stem_stride(k.input_shape[0], k.output_shape[0], stem_kernel)
        return _conv(k.input_shape, k.output_shape[2], stem_kernel, stride)
    if k.kind == keys_lib.HEAD:
        return _conv(k.input_shape, k.output_shape[2], 1, 1)
    if k.kind == keys_lib.LOGITS:
        c = k.input_shape[-1]
        return [Op("pool", k.input_shape, (c,), k.input_shape[0]),
                Op("fc", (c,), k.output_shape)]
    if k.kind == keys_lib.MBCONV:
        return mbconv_ops(k.input_shape, k.output_shape[2], k.kernel, k.expand, k.stride,
                          bool(k.idskip))
    raise UnsupportedLayerError(f"no op decomposition for key kind {k.kind!r} ({key!r})")


# Keras models --------------------------------------------------------------------


