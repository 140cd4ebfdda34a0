"""The MBConv (inverted residual) block as a serializable Keras 3 layer."""

from __future__ import annotations

import keras

from pxnas_tf.layers import blocks
from pxnas_tf.search_math.cost import mbconv_cost


@keras.saving.register_keras_serializable(package="pxnas_tf")
class MBConv(keras.layers.Layer):
    """Mobile inverted bottleneck block of MobileNetV2 / ProxylessNAS.

    1x1 expand (omitted when `expand_ratio` is 1) -> BN -> ReLU6 -> KxK
    depthwise with `strides` -> BN -> ReLU6 -> 1x1 project -> BN, plus the
    input when `residual` (stride 1 and equal widths). BN epsilon 1e-3;
    padding as in the original (symmetric k // 2).

    Args:
        filters: output channels.
        kernel_size: depthwise kernel size (odd).
        expand_ratio: hidden width = round(input channels * expand_ratio).
        strides: depthwise stride, 1 or 2.
        residual: add the input to the output. `None` decides from the
            shapes (stride 1 and input channels == filters); `False` leaves
            it to the caller (the mixed op adds it once for all candidates).
        bn_momentum: Keras BN momentum (0.9 == PyTorch's 0.1).

    Call arguments:
        inputs: `(batch, H, W, C_in)`.
        training: BN mode.

    Returns:
        `(batch, ceil(H / strides), ceil(W / strides), filters)`.

    Example:
    >>> y = MBConv(24, kernel_size=5, expand_ratio=3, strides=2)(keras.ops.ones((2, 32, 32, 16)))
    >>> tuple(y.shape)
    (2, 16, 16, 24)
    """

    def __init__(self, filters: int, kernel_size: int = 3, expand_ratio: float = 6,
                 strides: int = 1, residual: bool | None = None,
                 bn_momentum: float = blocks.BN_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.expand_ratio = expand_ratio
        self.strides = int(strides)
        self.residual = residual
        self.bn_momentum = bn_momentum
        self.body = None
        self.use_residual = False

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.use_residual = (
            self.residual if self.residual is not None
            else (self.strides == 1 and in_channels == self.filters)
        )
        if self.use_residual and (self.strides != 1 or in_channels != self.filters):
            raise ValueError(
                f"{self.name}: residual=True needs stride 1 and equal widths, got stride "
                f"{self.strides}, {in_channels} -> {self.filters} channels")
        self.body = blocks.mbconv_layers(
            in_channels, self.filters, self.kernel_size, self.expand_ratio, self.strides,
            name=self.name, bn_momentum=self.bn_momentum)
        shape = tuple(input_shape)
        for layer in self.body:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = blocks.apply(self.body, inputs, training=training)  # (B, H', W', filters)
        return inputs + x if self.use_residual else x

    def compute_output_shape(self, input_shape):
        return blocks.strided_output_shape(input_shape, self.filters, self.strides)

    def profile(self, input_shape) -> tuple[int, int]:
        """(macs, pool_ops) of one image, for `models.profile.profile_model`."""
        _, h, w, c_in = input_shape
        _, oh, ow, _ = self.compute_output_shape(input_shape)
        return mbconv_cost((h, w), (oh, ow), int(c_in), self.filters, self.kernel_size,
                           self.expand_ratio)[1], 0

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size,
            "expand_ratio": self.expand_ratio, "strides": self.strides,
            "residual": self.residual, "bn_momentum": self.bn_momentum,
        })
        return config
