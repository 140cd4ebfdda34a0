"""Shared fixture: a tiny 16x16x1 arch with a skipped block."""

import pytest

from pxnas_tf.search_space import Arch, load_space

TINY_SPACE = {
    "name": "tiny16", "input_shape": [16, 16, 1], "num_classes": 4,
    "stem": {"width": 8, "kernel": 3, "stride": 1}, "first_block": {"width": 8, "op": "k3_e1"},
    "stages": [{"width": 8, "blocks": 2, "stride": 2}, {"width": 16, "blocks": 1, "stride": 2}],
    "candidates": ["k3_e3", "k5_e6"], "head_width": 32,
}


@pytest.fixture(scope="session")
def tiny_arch():
    return Arch(load_space(TINY_SPACE), ("k3_e3", "zero", "k5_e6"), "tiny_arch")
