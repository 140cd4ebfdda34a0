"""Stock-Keras building blocks shared by the layer classes and the
derived-net builder.

Every conv here pads like the original PyTorch code (symmetric k // 2): with
stride 1 that is Keras' "same"; with stride 2 Keras' "same" would pad only
bottom/right on even inputs, so an explicit `ZeroPadding2D(k // 2)` and a
"valid" conv are used instead. Outputs therefore match the original
bit-for-bit in layout, and weights port between the two.
"""

from __future__ import annotations

import keras

from pxnas_tf.search_space.space import hidden_width

BN_EPSILON = 1e-3
# PyTorch's BN momentum 0.1 (the original's setting) is Keras' 0.9.
BN_MOMENTUM = 0.9


def conv_bn_layers(
    filters: int,
    kernel_size: int,
    strides: int,
    name: str,
    activation: bool = True,
    depthwise: bool = False,
    bn_momentum: float = BN_MOMENTUM,
) -> list[keras.layers.Layer]:
    """[pad] conv (no bias) -> BN [-> ReLU6], as a list of stock layers.

    Args:
        filters: output channels (ignored for depthwise, which keeps its input width).
        kernel_size: square kernel size (odd).
        strides: 1 or 2.
        name: prefix of the layer names.
        activation: append ReLU6.
        depthwise: a depthwise conv instead of a full conv.
    """
    layers = []
    if strides > 1 and kernel_size > 1:
        layers.append(keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad"))
        padding = "valid"
    else:
        padding = "same"
    if depthwise:
        layers.append(keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_dw"))
    else:
        layers.append(keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding=padding, use_bias=False,
            name=f"{name}_conv"))
    layers.append(keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_bn"))
    if activation:
        layers.append(keras.layers.ReLU(6.0, name=f"{name}_relu6"))
    return layers


def mbconv_layers(
    in_channels: int,
    filters: int,
    kernel_size: int,
    expand_ratio: float,
    strides: int,
    name: str,
    bn_momentum: float = BN_MOMENTUM,
) -> list[keras.layers.Layer]:
    """The body of an MBConv block (without the residual add) as stock layers:
    1x1 expand (omitted when expand is 1) -> BN -> ReLU6 -> KxK depthwise ->
    BN -> ReLU6 -> 1x1 project -> BN."""
    hidden = hidden_width(in_channels, expand_ratio)
    layers = []
    if expand_ratio != 1:
        layers += conv_bn_layers(hidden, 1, 1, f"{name}_expand", bn_momentum=bn_momentum)
    layers += conv_bn_layers(hidden, kernel_size, strides, f"{name}_depthwise",
                             depthwise=True, bn_momentum=bn_momentum)
    layers += conv_bn_layers(filters, 1, 1, f"{name}_project", activation=False,
                             bn_momentum=bn_momentum)
    return layers


def strided_output_shape(input_shape, filters: int, strides: int) -> tuple:
    """(batch, H', W', filters) of a block with symmetric k // 2 padding:
    H' = ceil(H / strides) for every odd kernel."""
    b, h, w, _ = input_shape

    def out(size):
        return None if size is None else (size - 1) // strides + 1
    return (b, out(h), out(w), filters)


def apply(layers: list[keras.layers.Layer], x, training=None):
    """Applies `layers` in order."""
    for layer in layers:
        if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout)):
            x = layer(x, training=training)
        else:
            x = layer(x)
    return x
