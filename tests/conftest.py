"""Shared test set-up: quiet TensorFlow, and the tiny arch most model tests
build. Tests that time real models on this CPU carry the `timing` marker
themselves (`make test` runs them alone)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402  (after the environment TensorFlow reads on import)

from pxnas_tf.testing import tiny16_arch  # noqa: E402


@pytest.fixture(scope="session")
def tiny_arch():
    """A 16x16x1, 4-class arch with a skipped block (`tiny16_arch`)."""
    return tiny16_arch()
