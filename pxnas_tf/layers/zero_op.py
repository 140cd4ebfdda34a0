"""The zero op of ProxylessNAS as a serializable Keras 3 layer."""

from __future__ import annotations

import keras

from pxnas_tf.layers import blocks


@keras.saving.register_keras_serializable(package="pxnas_tf")
class ZeroOp(keras.layers.Layer):
    """Outputs zeros of the block's output shape.

    A searchable block whose zero op is chosen computes x + 0 = x, i.e. the
    block is skipped; derived nets drop such blocks altogether. The layer
    exists for the supernet, where the zero op is one candidate among others.

    Args:
        filters: output channels.
        strides: spatial stride (1 in the published spaces).

    Call arguments:
        inputs: `(batch, H, W, C)`.

    Returns:
        zeros `(batch, ceil(H / strides), ceil(W / strides), filters)`.
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def call(self, inputs):
        x = inputs[:, ::self.strides, ::self.strides, :1]  # (B, H', W', 1)
        return keras.ops.zeros_like(x) * keras.ops.zeros((self.filters,), dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return blocks.strided_output_shape(input_shape, self.filters, self.strides)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config
