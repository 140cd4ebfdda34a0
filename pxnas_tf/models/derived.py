"""Derived nets: arch + search space -> a plain Keras functional model.

Only stock Keras layers are used, so a saved `.keras` file loads with
`keras.saving.load_model` in a process that never imports pxnas_tf.

Layer names follow the arch, so weights can be matched by name across
builds (warm start from a supernet, tf_keras rebuilds for QAT):

    stem_conv, stem_bn, stem_relu6
    first_block_{depthwise,project}_*
    b{index:02d}_{op}_{expand,depthwise,project}_*, b{index:02d}_{op}_add
    head_conv, head_bn, head_relu6, pool, dropout, logits
"""

from __future__ import annotations

import keras

from pxnas_tf.layers import blocks
from pxnas_tf.search_space import Arch, SearchSpace, decode_op


def block_name(index: int, op: str) -> str:
    """Layer-name prefix of searchable block `index` running `op`."""
    return f"b{index:02d}_{op.replace('.', 'p')}"


def stem(space: SearchSpace, x, bn_momentum: float = blocks.BN_MOMENTUM):
    """Stem conv and the fixed first block: (B, H, W, C) -> first-block output."""
    x = blocks.apply(blocks.conv_bn_layers(
        space.stem_channels, space.stem_kernel, space.stem_stride, "stem",
        bn_momentum=bn_momentum), x)
    first = decode_op(space.first_block_op)
    in_ch = space.stem_channels
    y = blocks.apply(blocks.mbconv_layers(
        in_ch, space.first_block_channels, first.kernel, first.expand, 1, "first_block",
        bn_momentum=bn_momentum), x)
    if in_ch == space.first_block_channels:
        y = keras.layers.Add(name="first_block_add")([x, y])
    return y


def head(space: SearchSpace, x, dropout: float = 0.0, bn_momentum: float = blocks.BN_MOMENTUM):
    """1x1 head conv, global average pool, dropout, classifier -> logits."""
    x = blocks.apply(blocks.conv_bn_layers(
        space.head_channels, 1, 1, "head", bn_momentum=bn_momentum), x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, head_channels)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(space.num_classes, name="logits")(x)  # (B, classes)


def build_model(
    arch: Arch,
    batch_size: int | None = None,
    dropout: float = 0.0,
    bn_momentum: float = blocks.BN_MOMENTUM,
    name: str | None = None,
) -> keras.Model:
    """Builds the derived net of `arch` from stock Keras layers.

    Args:
        arch: the architecture (its space gives shapes, widths and classes).
        batch_size: fixed batch size (1 for TFLite export) or None (free).
        dropout: dropout rate before the classifier.
        bn_momentum: Keras BN momentum.
        name: model name (default: the arch name or "derived_net").

    Returns:
        A functional `keras.Model` mapping `(batch, H, W, C)` float images
        to `(batch, num_classes)` logits. Zero-op blocks are skipped.
    """
    space = arch.space
    inputs = keras.Input(shape=space.input_shape, batch_size=batch_size, name="image")
    x = stem(space, inputs, bn_momentum)
    for block, op in zip(space.blocks(), arch.ops):
        spec = decode_op(op)
        if spec.is_zero:
            continue  # x + zero(x) == x: the block is skipped.
        prefix = block_name(block.index, op)
        y = blocks.apply(blocks.mbconv_layers(
            block.in_channels, block.out_channels, spec.kernel, spec.expand, block.stride,
            prefix, bn_momentum=bn_momentum), x)
        x = keras.layers.Add(name=f"{prefix}_add")([x, y]) if block.residual else y
    outputs = head(space, x, dropout, bn_momentum)
    model_name = name or arch.name or "derived_net"
    return keras.Model(inputs, outputs, name=_keras_name(model_name))


def _keras_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text) or "derived_net"
