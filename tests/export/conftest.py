"""Shared fixture of the export tests: the tiny arch (tests/conftest.py)
trained on a separable synthetic task (so that its logits are confident and
int8 agreement is meaningful)."""

import numpy as np
import pytest

import keras

from pxnas_tf.models import build_model


def synthetic(n: int, seed: int = 0):
    """Class c = a fixed random pattern c plus noise: (n, 16, 16, 1), (n,)."""
    patterns = np.random.default_rng(1234).standard_normal((4, 16, 16, 1)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = patterns[y] + 0.7 * rng.standard_normal((n, 16, 16, 1)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


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
