"""The tf runner's table pieces that need no timing: the pair model and the
whole-net factor's fit."""

import numpy as np
import pytest

from pxnas_tf.latency.build import block_models, net_scale
from pxnas_tf.search_space import random_archs

BLOCK = "expanded_conv-input:8x8x8-output:8x8x8-expand:3-kernel:3-stride:1-idskip:1"


def test_the_pair_model_runs_the_key_twice_with_one_set_of_weights():
    name = block_models.pair_name(BLOCK)
    pair = block_models.keras_model(name, batch_size=2)
    single = block_models.keras_model(BLOCK, batch_size=2)
    assert len(pair.inputs) == 2 and len(pair.outputs) == 2
    assert pair.count_params() == single.count_params()
    block = next(layer for layer in pair.layers if isinstance(layer, type(single)))
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2, 8, 8, 8)).astype("float32") for _ in range(2))
    ya, yb = pair([a, b])
    np.testing.assert_allclose(ya, block(a), rtol=1e-6)
    np.testing.assert_allclose(yb, block(b), rtol=1e-6)
    assert not np.allclose(ya, yb)


def test_the_factor_is_the_least_squares_fit_on_relative_error():
    rng = np.random.default_rng(1)
    stems = rng.uniform(0.3, 0.5, 20)
    rests = rng.uniform(2.0, 6.0, 20)
    measured = stems + 0.87 * rests
    assert net_scale.fit_factor(stems, rests, measured) == pytest.approx(0.87, rel=1e-12)
    # With noise: the closed form is the minimum of the relative squared error.
    noisy = measured * rng.uniform(0.95, 1.05, 20)
    s = net_scale.fit_factor(stems, rests, noisy)

    def loss(x):
        return float(np.sum(((stems + x * rests - noisy) / noisy) ** 2))

    assert loss(s) < loss(s * 1.001) and loss(s) < loss(s * 0.999)
    with pytest.raises(ValueError, match="no net with layers beyond the stem"):
        net_scale.fit_factor([0.4], [0.0], [0.5])


def test_the_stem_and_the_rest_of_an_arch_sum(tiny_space):
    arch = random_archs(tiny_space, 1, seed=5)[0]
    from pxnas_tf.latency.model.keys import arch_keys
    keys = arch_keys(arch)
    stem, rest = net_scale.split_sum(arch, lambda key: 1.0 if key.startswith("Conv-") else 0.25)
    assert stem == 1.0 and rest == pytest.approx(0.25 * (len(keys) - 1))
