"""Shared fixture of the `pxnas search` process tests."""

import json

import pytest

from pxnas_tf.testing import TINY_SPACE


@pytest.fixture()
def space_file(tmp_path):
    """`TINY_SPACE` as a space file (searches on 8x8 Fashion-MNIST)."""
    path = tmp_path / "space.json"
    path.write_text(json.dumps(TINY_SPACE))
    return path
