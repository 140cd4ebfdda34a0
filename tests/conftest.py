"""Shared test set-up: quiet TensorFlow, the tiny arch most model tests
build, and a fork server for short `pxnas` commands. Tests that time real
models on this CPU carry the `timing` marker themselves (`make test` runs
them alone)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402  (after the environment TensorFlow reads on import)

from pxnas_tf.testing import tiny16_arch  # noqa: E402


@pytest.fixture(scope="session")
def tiny_arch():
    """A 16x16x1, 4-class arch with a skipped block (`tiny16_arch`)."""
    return tiny16_arch()


@pytest.fixture(scope="session")
def pxnas_forked():
    """A `ForkServer`: each `pxnas_forked.run(ARGS...)` is a real `pxnas`
    process forked from a server that imported TensorFlow once (about 0.1 s
    a bad-input case instead of 5)."""
    from pxnas_tf.testing import ForkServer

    server = ForkServer()
    yield server
    server.close()
