"""Block models: one small batch-1 model per latency-table key.

Each key names one layer of a network at its shapes (`pxnas_tf.latency.model.keys`);
`layer_model(key)` builds exactly the layers a derived net runs for it, with
the same stock-Keras helpers (`pxnas_tf.layers.blocks`), so that the
converted block computes the same TFLite ops as that part of a whole net:

    Conv-...           [pad] KxK conv -> BN -> ReLU6 (the stem; K from the space)
    expanded_conv-...  [1x1 expand -> BN -> ReLU6] -> [pad] KxK depthwise -> BN ->
                       ReLU6 -> 1x1 project -> BN [-> + input]
    Conv_1-...         1x1 conv -> BN -> ReLU6 (the head conv)
    Logits-...         global average pool -> dense

`overhead_model(shape)` is the identity on an input of that shape: invoking
it costs only the fixed per-invoke overhead, which every block measured alone
carries once (see `pxnas_tf.latency.build.builder` for how it is taken out).

Weights are random: latency does not depend on their values. For int8 the
calibration images are random normal for the same reason.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.ops import OP_KIND, Op, op_of_key
from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

DEFAULT_STEM_KERNEL = 3


class BlockModelError(PxnasError, ValueError):
    """A key cannot be turned into a block model; the message says why."""


def layer_model(key: str, stem_kernel: int = DEFAULT_STEM_KERNEL, batch_size: int = 1):
    """The Keras model of one table key (batch 1 for TFLite; the tf runner
    times it at its own batch size).

    Args:
        key: a table key (stem, MBConv, head conv or logits).
        stem_kernel: kernel of a ``Conv`` (stem) key, which the key does not hold.
        batch_size: the model's fixed batch size.

    Raises:
        BlockModelError: for a key kind this project does not build, or
            inconsistent shapes.
    """
    import keras

    from pxnas_tf.layers import blocks

    k = keys_lib.parse_key(key)
    inputs = keras.Input(k.input_shape, batch_size=batch_size, name="x")
    if k.kind == keys_lib.STEM:
        stride = keys_lib.stem_stride(k.input_shape[0], k.output_shape[0], stem_kernel)
        y = blocks.apply(blocks.conv_bn_layers(k.output_shape[2], stem_kernel, stride, "stem"),
                         inputs)
    elif k.kind == keys_lib.HEAD:
        y = blocks.apply(blocks.conv_bn_layers(k.output_shape[2], 1, 1, "head"), inputs)
    elif k.kind == keys_lib.LOGITS:
        y = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
        y = keras.layers.Dense(k.output_shape[0], name="logits")(y)
    elif k.kind == OP_KIND:
        y = probe_layers(op_of_key(key))(inputs)
    elif k.kind == keys_lib.MBCONV:
        y = blocks.apply(blocks.mbconv_layers(k.input_shape[2], k.output_shape[2], k.kernel,
                                              k.expand, k.stride, "block"), inputs)
        if k.idskip:
            if k.input_shape != k.output_shape:
                raise BlockModelError(f"key {key!r} has idskip:1 but input and output shapes "
                                      "differ")
            y = keras.layers.Add(name="block_add")([inputs, y])
    else:
        raise BlockModelError(f"cannot build a block model for key kind {k.kind!r} ({key!r}); "
                              "supported kinds are Conv, expanded_conv, Conv_1, Logits, op")
    got = tuple(int(d) for d in y.shape[1:])
    if got != k.output_shape:
        raise BlockModelError(f"key {key!r}: the layers produce shape {got}, not the key's "
                              f"output {k.output_shape}")
    return keras.Model(inputs, y, name=_model_name(k.kind))


def probe_layers(op: Op):
    """A function of one Keras tensor that the converter turns into exactly
    the TFLite op `op` (the single-op probes of a table built with
    `--probes`; `tests/latency/ops_test.py` checks each type)."""
    import keras

    L = keras.layers
    h_out = op.out_shape[0]
    # A window op whose input was padded by an op of its own (nets that pad
    # explicitly, as the zoo's do before a stride-2 conv) is a valid one.
    padding = "same" if h_out == -(-op.in_shape[0] // op.stride) else "valid"
    if op.type == "conv":
        return L.Conv2D(op.out_shape[-1], op.kernel, op.stride, padding=padding,
                        groups=op.groups, name="conv")
    if op.type == "dwconv":
        return L.DepthwiseConv2D(op.kernel, op.stride, padding=padding, name="dwconv")
    if op.type == "fc":
        return L.Dense(op.out_shape[-1], name="fc")
    if op.type == "pool":
        return L.GlobalAveragePooling2D(name="pool")
    if op.type in ("avgpool", "maxpool"):
        cls = L.AveragePooling2D if op.type == "avgpool" else L.MaxPooling2D
        return cls(op.kernel, op.stride, padding=padding, name=op.type)
    if op.type == "pad":
        extra = op.out_shape[0] - op.in_shape[0]
        return L.ZeroPadding2D(((extra // 2, extra - extra // 2),) * 2, name="pad")
    if op.type in ("add", "mul") and not (op.broadcast or op.scalar):
        # Two activations, as in a residual add or a gated multiply: a constant operand of
        # the full shape runs another kernel (int8 MUL: 4x slower).
        cls = L.Add if op.type == "add" else L.Multiply
        return lambda x: cls(name=op.type)([x, x])
    if op.type in ("add", "mul"):
        return _binary_layer_class()(op.type, op.broadcast, op.scalar, name=op.type)
    if op.type == "concat":
        return lambda x: L.Concatenate(name="concat")([x, x])
    if op.type in ("hswish", "swish", "sigmoid", "softmax"):
        return L.Activation({"hswish": "hard_swish", "swish": "swish", "sigmoid": "sigmoid",
                             "softmax": "softmax"}[op.type], name=op.type)
    if op.type == "act":
        return L.ReLU(name="act")
    if op.type == "reshape":
        return L.Reshape(op.out_shape, name="reshape")
    raise BlockModelError(f"no probe model for {op.type!r} ops")


# The constant of a scalar ADD / MUL probe: what `keras.layers.Rescaling(1 / 127.5,
# offset=-1)` (the preprocessing of keras.applications' MobileNetV3) adds and
# multiplies. The value matters in int8: a random constant of a few
# thousandths (the former random_normal weight) quantizes to a scale XNNPACK
# does not take, and the ADD fell back to a kernel 30x slower (a 128x128x1 ADD:
# 34 us against 1.1 us, depending on the draw).
SCALAR_OPERAND = {"add": -1.0, "mul": 1 / 127.5}


@functools.cache
def _binary_layer_class():
    import keras

    class Binary(keras.layers.Layer):
        """x (+|*) w with a weight of x's shape, 1x1xC (`broadcast`) or a
        single number (`scalar`): one ADD or MUL op with a constant operand."""

        def __init__(self, kind, broadcast, scalar=False, **kwargs):
            super().__init__(**kwargs)
            self.kind, self.broadcast, self.scalar = kind, broadcast, scalar

        def build(self, shape):
            shape = ((1, 1, 1) if self.scalar else (1, 1, shape[-1]) if self.broadcast
                     else tuple(shape[1:]))
            if self.scalar:  # a Rescaling layer's offset and scale
                init = keras.initializers.Constant(SCALAR_OPERAND[self.kind])
            else:
                init = keras.initializers.RandomNormal(stddev=0.05, seed=0)
            self.w = self.add_weight(shape=shape, initializer=init, name="w")

        def call(self, x):
            return x + self.w if self.kind == "add" else x * self.w

    return Binary


def overhead_model(input_shape, batch_size: int = 1):
    """The identity on an input of `input_shape` (H, W, C) and `batch_size`."""
    import keras

    inputs = keras.Input(tuple(int(x) for x in input_shape), batch_size=batch_size, name="x")
    return keras.Model(inputs, keras.layers.Identity(name="identity")(inputs), name="overhead")


def overhead_name(input_shape) -> str:
    """``"overhead-input:32x32x3"``: how the overhead model of a shape is named."""
    return f"overhead-input:{keys_lib.format_shape(input_shape)}"


def input_shape_of(key: str) -> tuple[int, ...]:
    """The input shape (H, W, C) of a key."""
    return keys_lib.parse_key(key).input_shape


def _model_name(kind: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", kind.lower())


def file_name(name: str, stem_kernel: int = DEFAULT_STEM_KERNEL) -> str:
    """A short, filesystem-safe, unique file name for a key or overhead name:
    ``expanded_conv-3f2a9c1b7e01.tflite`` (a stem key's hash includes the
    stem kernel, which the key does not spell)."""
    text = name + (f"|k{stem_kernel}" if name.startswith(keys_lib.STEM + "-") else "")
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return f"{_model_name(name.split('-', 1)[0])}-{digest}.tflite"


PAIR = "pair:"


def pair_name(key: str) -> str:
    """``"pair:KEY"``: how the pair model of a key is named."""
    return PAIR + key


def pair_model(key: str, stem_kernel: int = DEFAULT_STEM_KERNEL, batch_size: int = 1):
    """The key's layers run twice in one graph, on two inputs of its shape
    (one set of weights): timed in the TensorFlow runtime, the pair minus
    the key's model alone is what one more such block costs inside a graph,
    free of the fixed cost of a call (see `pxnas_tf.latency.build.builder`)."""
    import keras

    block = layer_model(key, stem_kernel, batch_size)
    shape = input_shape_of(key)
    a = keras.Input(shape, batch_size=batch_size, name="a")
    b = keras.Input(shape, batch_size=batch_size, name="b")
    return keras.Model([a, b], [block(a), block(b)], name="pair")


def keras_model(name: str, stem_kernel: int = DEFAULT_STEM_KERNEL, batch_size: int = 1):
    """The Keras model of a key, of a `pair_name` or of an `overhead_name`
    (what the tf runner times, and what `convert` converts at batch 1)."""
    if name.startswith(PAIR):
        return pair_model(name[len(PAIR):], stem_kernel, batch_size)
    if name.startswith("overhead-input:"):
        shape = tuple(int(x) for x in name.split(":", 1)[1].split("x"))
        return overhead_model(shape, batch_size)
    return layer_model(name, stem_kernel, batch_size)


def keras_factory(name: str, stem_kernel: int = DEFAULT_STEM_KERNEL):
    """`BenchModel.keras` of a key, pair or overhead name: batch size -> its model."""
    return functools.partial(keras_model, name, stem_kernel)


def convert(name: str, precision: str, stem_kernel: int = DEFAULT_STEM_KERNEL) -> bytes:
    """The ``.tflite`` bytes of a key (or of an `overhead_name`) in `precision`."""

    shape = (tuple(int(x) for x in name.split(":", 1)[1].split("x"))
             if name.startswith("overhead-input:") else input_shape_of(name))
    return to_tflite(keras_model(name, stem_kernel), precision, random_representative_data(shape))


def ensure_model_file(name: str, precision: str, folder: str,
                      stem_kernel: int = DEFAULT_STEM_KERNEL) -> str:
    """The path of the model file of `name` in `folder`, converting it first
    if it is not there yet (written atomically, so a killed build never leaves
    a half file)."""

    path = os.path.join(folder, file_name(name, stem_kernel))
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        save_tflite(convert(name, precision, stem_kernel), path)
    return path
