"""Shared fixtures of the training tests: a tiny 16x16x1 space and small
Fashion-MNIST splits resized to it (real data, from the Debian package)."""

import json

import pytest

from pxnas_tf.testing import tiny16_arch


@pytest.fixture(scope="session")
def tiny_arch():
    """The tiny arch with Fashion-MNIST's 10 classes."""
    return tiny16_arch(classes=10)


@pytest.fixture
def tiny_arch_file(tmp_path, tiny_arch):
    """The arch JSON (space inlined) on disk."""
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(tiny_arch.to_dict()))
    return str(path)


def small_splits(batch_size: int = 32, train: int = 256, val: int = 128):
    from pxnas_tf import data
    return data.load("fashion_mnist", batch_size=batch_size, image_size=16, holdout_examples=0,
                     train_examples=train, val_examples=val, seed=0)


@pytest.fixture
def splits():
    return small_splits()


@pytest.fixture
def make_splits():
    """`small_splits` itself, for tests that need other sizes."""
    return small_splits
