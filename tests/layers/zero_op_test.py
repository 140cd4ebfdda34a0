"""Zero op layer: zeros of the output shape, serialization."""

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


def test_get_config_from_config_round_trip(tmp_path):
    layer = ZeroOp(8, 2, name="z")
    assert ZeroOp.from_config(layer.get_config()).get_config() == layer.get_config()
    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, ZeroOp(8)(inputs))
    path = str(tmp_path / "z.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[1]).__name__ == "ZeroOp"
    assert tuple(loaded(np.ones((1, 6, 6, 8), "float32")).shape) == (1, 6, 6, 8)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
