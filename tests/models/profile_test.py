"""Profiling: the Keras-model walker and the arch arithmetic agree."""

import random

import pytest

import keras

from pxnas_tf.layers import MBConv
from pxnas_tf.models import build_model, profile_arch, profile_model
from pxnas_tf.models.profile import candidate_macs
from pxnas_tf.search_space import Arch, load_space


def _random_arch(space, seed):
    rng = random.Random(seed)
    return Arch(space, tuple(rng.choice(b.candidates) for b in space.blocks()))


@pytest.mark.parametrize("space_name,overrides,seed", [
    ("proxyless_small", {}, 0), ("proxyless_small", {"input_shape": [28, 28, 1]}, 1),
    ("proxyless_small", {"width_mult": 0.5}, 2), ("proxyless_imagenet", {"input_shape": [64, 64, 3]}, 3),
])
def test_model_walker_equals_arch_arithmetic(space_name, overrides, seed):
    arch = _random_arch(load_space(space_name, **overrides), seed)
    a, m = profile_arch(arch), profile_model(build_model(arch, batch_size=1))
    assert (a.params, a.macs, a.pool_ops) == (m.params, m.macs, m.pool_ops)


def test_params_exclude_bn_moving_statistics():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    model = keras.Model(inputs, x)
    p = profile_model(model)
    assert p.params == 3 * 3 * 3 * 4 + 2 * 4  # not + 2 * 4 moving stats
    assert p.macs == 6 * 6 * 3 * 3 * 3 * 4


def test_handwritten_counts_for_each_layer_type():
    inputs = keras.Input((10, 10, 4))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same")(inputs)  # 5x5x6
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 5x5x6
    x = keras.layers.Conv2D(8, 1, groups=2)(x)  # grouped 1x1
    x = keras.layers.AveragePooling2D(2)(x)  # 2x2x8
    x = keras.layers.GlobalAveragePooling2D()(x)
    y = keras.layers.Dense(3)(x)
    p = profile_model(keras.Model(inputs, y))
    conv = 5 * 5 * 6 * 3 * 3 * 4
    dw = 5 * 5 * 6 * 3 * 3
    grouped = 5 * 5 * 8 * 3
    dense = 8 * 3
    assert p.macs == conv + dw + grouped + dense
    assert p.pool_ops == 2 * 2 * 8 * 4 + 2 * 2 * 8
    assert p.params == (3 * 3 * 4 * 6 + 6) + (3 * 3 * 6 + 6) + (3 * 8 + 8) + (8 * 3 + 3)


def test_nested_models_and_pxnas_layers_are_counted():
    inner_in = keras.Input((8, 8, 8))
    inner = keras.Model(inner_in, MBConv(8, 3, 3, 1)(inner_in))
    outer_in = keras.Input((8, 8, 8))
    p = profile_model(keras.Model(outer_in, inner(outer_in)))
    hidden = 24
    assert p.macs == 64 * 8 * hidden + 64 * 9 * hidden + 64 * hidden * 8


def test_unknown_layer_with_weights_is_a_clear_error():
    class Mystery(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],))

        def call(self, x):
            return x * self.w

    inputs = keras.Input((4, 4, 2))
    with pytest.raises(ValueError, match="cannot count MACs of layer"):
        profile_model(keras.Model(inputs, Mystery()(inputs)))


def test_candidate_macs_decomposes_every_arch():
    space = load_space("proxyless_small")
    const, table = candidate_macs(space)
    for seed in range(5):
        arch = _random_arch(space, seed)
        total = const + sum(row[b.candidates.index(op)]
                            for row, b, op in zip(table, space.blocks(), arch.ops))
        assert total == profile_arch(arch).macs


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
