"""Networks as lists of primitive TFLite ops with shapes (pure functions,
plus a walk over Keras models).

An `Op` is what one TFLite kernel runs after conversion: batch norm folds
into the conv before it and ReLU/ReLU6 fuse into it, so they cost nothing
of their own. The types:

    conv      CONV_2D (any kernel and stride; `groups` > 1 for grouped convs)
    dwconv    DEPTHWISE_CONV_2D
    fc        FULLY_CONNECTED
    pad       PAD (explicit padding before a stride-2 conv; a zero PAD that
              feeds a conv or depthwise conv costs nothing in XNNPACK, which
              fuses it into that conv: `costed`)
    pool      MEAN (global average pooling)
    avgpool   AVERAGE_POOL_2D
    maxpool   MAX_POOL_2D
    add, mul  ADD, MUL of two activations (`broadcast`: the second operand
              is 1x1xC, as in squeeze-and-excitation; `scalar`: it is one
              number, as in a Rescaling layer)
    concat    CONCATENATION
    hswish    HARD_SWISH
    swish     LOGISTIC + MUL of x * sigmoid(x) (what a Keras ``swish`` converts
              to; XNNPACK's int8 kernels run the pair in the time of the
              LOGISTIC alone, so the pair is one op with probes of its own)
    sigmoid   LOGISTIC (and TANH)
    softmax   SOFTMAX
    act       an activation the converter could not fuse (RELU, RELU6, ...)
    reshape   RESHAPE, SQUEEZE
    quantize  QUANTIZE, DEQUANTIZE

`ops_of_key` decomposes a latency-table key into the ops its model runs:
the search space's blocks, and single-op keys (kind ``op``, see `op_key`)
that a table built with kernel probes measures. Whole nets are read from
their converted TFLite graph (`pxnas_tf.latency.build.tflite_ops`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.search_space.space import conv_out_size, hidden_width

OP_TYPES = ("conv", "dwconv", "fc", "pad", "pool", "avgpool", "maxpool", "add", "mul",
            "concat", "hswish", "swish", "sigmoid", "softmax", "act", "reshape", "quantize")
OP_KIND = "op"  # the key kind of a single-op probe


class UnsupportedLayerError(PxnasError, ValueError):
    """A layer has no latency model; the message names it and lists the
    supported layers."""


@dataclasses.dataclass(frozen=True)
class Op:
    """One primitive op at its shapes.

    Attributes:
        type: one of `OP_TYPES`.
        in_shape, out_shape: (H, W, C) (``(C,)`` for fc).
        kernel, stride: square kernel (pooling window) and stride (1 where
            meaningless).
        groups: conv groups (1: a regular conv).
        broadcast: add / mul whose second operand is 1x1xC.
        scalar: add / mul whose second operand is a single number (XNNPACK
            runs another, much cheaper kernel for it).
    """

    type: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    broadcast: bool = False
    scalar: bool = False

    @property
    def in_elems(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_elems(self) -> int:
        return math.prod(self.out_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for the element-wise ops)."""
        if self.type == "conv":
            return self.out_elems * self.kernel * self.kernel * self.in_shape[-1] // self.groups
        if self.type == "dwconv":
            return self.out_elems * self.kernel * self.kernel
        if self.type == "fc":
            return self.in_shape[-1] * self.out_shape[-1]
        return 0

    @property
    def weights(self) -> int:
        """Weight count (bias excluded)."""
        if self.type == "conv":
            return (self.kernel * self.kernel * self.in_shape[-1] * self.out_shape[-1]
                    // self.groups)
        if self.type == "dwconv":
            return self.kernel * self.kernel * self.out_shape[-1]
        if self.type == "fc":
            return self.in_shape[-1] * self.out_shape[-1]
        return 0

    @property
    def window(self) -> int:
        """Input elements a pooling op reads (output elements x window)."""
        return self.out_elems * self.kernel * self.kernel


FUSES_PAD = ("conv", "dwconv")


def costed(ops: Sequence[Op]) -> list[Op]:
    """The ops of a net (in run order) that take time of their own: all but
    a PAD whose output the next op, a conv or depthwise conv, reads.

    XNNPACK fuses such a zero PAD into the conv's implicit padding (its
    subgraph fusion of constant pads; the PADs here are a stride-2 conv's
    zero padding). On the AVX-512 host (2026-12-06, int8 and float32):
    PAD 32x32x48 -> 34x34x48 then a valid 5x5 stride-2 depthwise conv took
    8.5 / 9.3 us, the same as the conv with "same" padding (8.5 / 9.2 us),
    while the PAD alone took 11-12 us; likewise at 16x16x96 (k3) and at
    2x2x768 (k7). A probe times a PAD alone, so counting the fused ones
    charged every stride-2 block and every stem with a PAD that never runs.
    """
    return [op for op, after in zip(ops, [*ops[1:], None])
            if not (op.type == "pad" and after is not None and after.type in FUSES_PAD
                    and after.in_shape == op.out_shape)]


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
    if k.kind == OP_KIND:
        return [op_of_key(key)]
    raise UnsupportedLayerError(f"no op decomposition for key kind {k.kind!r} ({key!r})")


# Single-op keys -------------------------------------------------------------------

def op_key(op: Op) -> str:
    """The table key of a single-op probe:
    ``op-input:8x8x16-output:4x4x16-kernel:3-stride:2-type:maxpool``
    (``groups``, ``broadcast`` and ``scalar`` only where they are not the default)."""
    extra = [("type", op.type)]
    if op.groups != 1:
        extra.append(("groups", str(op.groups)))
    if op.broadcast:
        extra.append(("broadcast", "1"))
    if op.scalar:
        extra.append(("scalar", "1"))
    return keys_lib.format_key(keys_lib.LayerKey(OP_KIND, tuple(op.in_shape),
                                                 tuple(op.out_shape), kernel=op.kernel,
                                                 stride=op.stride, extra=tuple(extra)))


def op_of_key(key: str) -> Op:
    """The inverse of `op_key`.

    Raises:
        UnsupportedLayerError: not a single-op key, or an unknown type.
    """
    k = keys_lib.parse_key(key)
    extra = dict(k.extra)
    if k.kind != OP_KIND or extra.get("type") not in OP_TYPES:
        raise UnsupportedLayerError(f"{key!r} is not a single-op key (kind {OP_KIND!r} with a "
                                    f"type in {', '.join(OP_TYPES)})")
    try:
        groups = int(extra.get("groups", "1"))
    except ValueError:
        raise UnsupportedLayerError(f"{key!r}: field 'groups' must be an integer") from None
    return Op(extra["type"], k.input_shape, k.output_shape, k.kernel or 1, k.stride or 1,
              groups, extra.get("broadcast") == "1", extra.get("scalar") == "1")



