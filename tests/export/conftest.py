"""Shared fixtures of the export tests: a tiny space, an arch with a
skipped block, and a tiny net trained on a separable synthetic task (so
that its logits are confident and int8 agreement is meaningful)."""

import numpy as np
import pytest

import keras

from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch, load_space

TINY_SPACE = {
    "name": "tiny16", "input_shape": [16, 16, 1], "num_classes": 4,
    "stem": {"width": 8, "kernel": 3, "stride": 1}, "first_block": {"width": 8, "op": "k3_e1"},
    "stages": [{"width": 8, "blocks": 2, "stride": 2}, {"width": 16, "blocks": 1, "stride": 2}],
    "candidates": ["k3_e3", "k5_e6"], "head_width": 32,
}


def synthetic(n: int, seed: int = 0):
    """Class c = a fixed random pattern c plus noise: (n, 16, 16, 1), (n,)."""
    patterns = np.random.default_rng(1234).standard_normal((4, 16, 16, 1)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = patterns[y] + 0.7 * rng.standard_normal((n, 16, 16, 1)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="session")
def tiny_arch():
    return Arch(load_space(TINY_SPACE), ("k3_e3", "zero", "k5_e6"), "tiny_arch")


@pytest.fixture(scope="session")
def trained(tiny_arch):
    """(arch, trained float model, train x, train y, test x, test y)."""
    keras.utils.set_random_seed(0)
    model = build_model(tiny_arch, dropout=0.1)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x, y = synthetic(512, seed=0)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    tx, ty = synthetic(200, seed=1)
    return tiny_arch, model, x, y, tx, ty
