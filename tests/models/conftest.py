"""Shared fixture: a tiny 16x16x1 arch with a skipped block."""

import pytest

from pxnas_tf.testing import tiny16_arch


@pytest.fixture(scope="session")
def tiny_arch():
    return tiny16_arch()
