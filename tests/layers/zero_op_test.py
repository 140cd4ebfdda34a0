"""Zero op layer: zeros of the output shape, no weights (its config and
saving: round_trip_test.py)."""

import numpy as np
import pytest

import keras

from pxnas_tf.layers import ZeroOp


@pytest.mark.parametrize("filters,strides,in_shape,out_shape", [
    (16, 1, (2, 8, 8, 16), (2, 8, 8, 16)),
    (24, 2, (1, 7, 7, 16), (1, 4, 4, 24)),
])
def test_outputs_zeros_of_the_output_shape(filters, strides, in_shape, out_shape):
    layer = ZeroOp(filters, strides)
    y = keras.ops.convert_to_numpy(layer(np.random.rand(*in_shape).astype("float32") + 1))
    assert y.shape == out_shape and not y.any()
    assert layer.compute_output_shape(in_shape) == out_shape
    assert not layer.weights


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
