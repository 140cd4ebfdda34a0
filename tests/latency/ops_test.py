"""Tests of the op decomposition: table keys and Keras models must give the
same ops as the layers they stand for."""

import collections

import keras
import pytest

from pxnas_tf.latency.build import block_models
from pxnas_tf.latency.build.keras_ops import ops_of_keras_model
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.ops import Op, UnsupportedLayerError, mbconv_ops, ops_of_key
from pxnas_tf.models import build_model, zoo
from pxnas_tf.search_space import Arch


def test_mbconv_ops_by_hand():
    ops = mbconv_ops((16, 16, 24), 40, kernel=5, expand=3, stride=2, residual=False)
    assert [(o.type, o.in_shape, o.out_shape, o.kernel, o.stride) for o in ops] == [
        ("conv", (16, 16, 24), (16, 16, 72), 1, 1),
        ("pad", (16, 16, 72), (20, 20, 72), 1, 1),
        ("dwconv", (20, 20, 72), (8, 8, 72), 5, 2),
        ("conv", (8, 8, 72), (8, 8, 40), 1, 1),
    ]
    assert ops[0].macs == 16 * 16 * 24 * 72 and ops[2].macs == 8 * 8 * 72 * 25
    ops = mbconv_ops((8, 8, 40), 40, 3, 1, 1, residual=True)
    assert [o.type for o in ops] == ["dwconv", "conv", "add"]


def test_key_ops_equal_block_model_ops(tiny_space):
    """For every key of the space, the decomposition of the key equals the
    walk over the Keras block model built for it."""
    for key in keys_lib.space_keys(tiny_space):
        model = block_models.layer_model(key, tiny_space.stem_kernel)
        assert ops_of_keras_model(model) == ops_of_key(key, tiny_space.stem_kernel), key


def test_whole_net_ops_are_the_sum_of_its_keys(tiny_space):
    arch = Arch(tiny_space, ("k5_e6", "zero", "k3_e3"))
    whole = ops_of_keras_model(build_model(arch, batch_size=1))
    parts = [op for key in keys_lib.arch_keys(arch) for op in ops_of_key(key)]
    assert whole == parts


def test_zoo_net_ops_are_the_sum_of_its_keys():
    arch = zoo.get_arch("proxyless_mobile", input_shape=(32, 32, 3), num_classes=10)
    whole = ops_of_keras_model(build_model(arch, batch_size=1))
    parts = [op for key in keys_lib.arch_keys(arch) for op in ops_of_key(key)]
    assert collections.Counter(whole) == collections.Counter(parts)


def test_foreign_keras_layers():
    x = keras.Input((16, 16, 3), batch_size=1)
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.SeparableConv2D(16, 3, padding="same")(y)
    y = keras.layers.MaxPooling2D(2)(y)
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(10)(y)
    ops = ops_of_keras_model(keras.Model(x, y))
    assert [o.type for o in ops] == ["conv", "dwconv", "conv", "pool", "fc"]
    assert ops[0] == Op("conv", (16, 16, 3), (8, 8, 8), 3, 2)
    assert ops[-1].in_shape == (4 * 4 * 16,)


def test_unsupported_layers_are_named():
    x = keras.Input((8, 8, 3), batch_size=1)
    y = keras.layers.Conv2D(4, 3, activation="sigmoid")(x)
    with pytest.raises(UnsupportedLayerError, match="fused activation 'sigmoid'"):
        ops_of_keras_model(keras.Model(x, y))
    y = keras.layers.Concatenate()([x, x])
    with pytest.raises(UnsupportedLayerError, match=r"Concatenate\): supported layers are"):
        ops_of_keras_model(keras.Model(x, y))
    free = keras.Input((None, None, 3))
    with pytest.raises(UnsupportedLayerError, match="dynamic shape"):
        ops_of_keras_model(keras.Model(free, keras.layers.Conv2D(4, 1)(free)))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
