"""Shared fixtures of the training tests: a tiny 16x16x1 space and small
Fashion-MNIST splits resized to it (real data, from the Debian package)."""

import json

import pytest

from pxnas_tf.search_space import Arch, load_space

TINY_SPACE = {
    "name": "tiny16", "input_shape": [16, 16, 1], "num_classes": 10,
    "stem": {"width": 8, "kernel": 3, "stride": 1}, "first_block": {"width": 8, "op": "k3_e1"},
    "stages": [{"width": 8, "blocks": 2, "stride": 2}, {"width": 16, "blocks": 1, "stride": 2}],
    "candidates": ["k3_e3", "k5_e6"], "head_width": 32,
}


@pytest.fixture(scope="session")
def tiny_arch():
    return Arch(load_space(TINY_SPACE), ("k3_e3", "zero", "k5_e6"), "tiny_arch")


@pytest.fixture
def tiny_arch_file(tmp_path, tiny_arch):
    """The arch JSON (space inlined) on disk."""
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(tiny_arch.to_dict()))
    return str(path)


def small_splits(batch_size: int = 32, train: int = 256, val: int = 128):
    from pxnas_tf import data
    return data.load("fashion_mnist", batch_size=batch_size, image_size=16, holdout_size=0,
                     train_limit=train, val_limit=val, seed=0)


@pytest.fixture
def splits():
    return small_splits()


@pytest.fixture
def make_splits():
    """`small_splits` itself, for tests that need other sizes."""
    return small_splits
