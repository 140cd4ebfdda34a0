"""Fashion-MNIST: the real Debian IDX files, and small IDX datasets written
here (valid, and broken ones that must raise a clear DataError)."""

import os

import numpy as np
import pytest

import pxnas_tf.data as data
from pxnas_tf.data import DataError, fashion_mnist
from pxnas_tf.testing import example_ids, write_fashion_mnist

needs_debian = pytest.mark.skipif(not os.path.isdir(fashion_mnist.DEFAULT_DIRS[0]),
                                  reason="apt-get install dataset-fashion-mnist")


@needs_debian
def test_real_files_found_automatically():
    assert fashion_mnist.find_dir() == fashion_mnist.DEFAULT_DIRS[0]
    arrays = fashion_mnist.read_arrays(fashion_mnist.find_dir())
    assert arrays.train_images.shape == (60000, 28, 28, 1) and arrays.train_images.dtype == np.uint8
    assert arrays.test_images.shape == (10000, 28, 28, 1)
    assert arrays.train_labels.shape == (60000,) and arrays.test_labels.shape == (10000,)
    assert arrays.train_labels.dtype == np.uint8
    assert np.all(np.bincount(arrays.train_labels) == 6000)
    assert np.all(np.bincount(arrays.test_labels) == 1000)
    # the recorded normalisation is the train set's own statistics
    scaled = arrays.train_images.astype(np.float64) / 255.0
    assert abs(scaled.mean() - fashion_mnist.NORMALIZATION.mean[0]) < 1e-3
    assert abs(scaled.std() - fashion_mnist.NORMALIZATION.std[0]) < 1e-3


@needs_debian
def test_real_load_default_splits():
    splits = data.load("fashion_mnist", batch_size=32, val_examples=64)
    assert splits.sizes == {"train": 55000, "arch": 5000, "validation": 64}
    assert splits.num_classes == 10 and splits.class_names[9] == "Ankle boot"
    assert splits.input_shape == (28, 28, 1)
    images, labels = next(iter(splits.validation))
    assert images.shape == (32, 28, 28, 1) and images.dtype == "float32"
    assert labels.shape == (32,) and labels.dtype == "int32"


def test_data_dir_override_plain_and_gz(tmp_path):
    for gz in (True, False):
        folder = write_fashion_mnist(tmp_path / f"gz{gz}", gz=gz)
        assert fashion_mnist.find_dir(folder) == folder
        splits = data.load("fashion_mnist", data_dir=folder, batch_size=None, holdout_examples=20,
                           augment=False)
        assert splits.sizes == {"train": 180, "arch": 20, "validation": 50}
        ids = np.stack([x for x, _ in splits.validation.as_numpy_iterator()])
        np.testing.assert_array_equal(example_ids(ids, splits.normalization), np.arange(50))


def test_data_dir_with_fashion_mnist_subfolder(tmp_path):
    write_fashion_mnist(tmp_path / "fashion-mnist")
    assert fashion_mnist.find_dir(str(tmp_path)) == str(tmp_path / "fashion-mnist")


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as info:
        data.load("fashion_mnist", data_dir=str(tmp_path))
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_truncated_file_through_load(tmp_path):
    folder = write_fashion_mnist(tmp_path, gz=False)
    path = os.path.join(folder, "train-images-idx3-ubyte")
    with open(path, "r+b") as f:
        f.truncate(5000)
    with pytest.raises(DataError) as info:
        data.load("fashion_mnist", data_dir=folder)
    assert path in str(info.value) and "truncated IDX data" in str(info.value)


@pytest.mark.parametrize("key,array,message", [
    ("train_labels", np.full(200, 12, np.uint8), "label 12 out of range"),
    ("train_labels", np.zeros(199, np.uint8), "199 labels for 200 images"),
    ("test_images", np.zeros((50, 28, 27), np.uint8), "expected uint8 images of shape (N, 28, 28)"),
    ("test_labels", np.zeros(50, np.int32), "expected uint8 labels"),
])
def test_inconsistent_files(tmp_path, key, array, message):
    folder = write_fashion_mnist(tmp_path, **{key: array})
    with pytest.raises(DataError) as info:
        fashion_mnist.read_arrays(folder)
    assert message in str(info.value)
    assert fashion_mnist.FILES[key] in str(info.value) or "labels for" in str(info.value)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
