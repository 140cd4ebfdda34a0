"""Fashion-MNIST from the IDX files of the Debian package.

`apt-get install dataset-fashion-mnist` puts the four files in
/usr/share/datasets/fashion-mnist/. They are read with the numpy IDX reader
(`idx.py`), checked (shapes, counts, label range) and served from memory
(60,000 + 10,000 images of 28 x 28 x 1, about 55 MB).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from pxnas_tf.data import holdout, source
from pxnas_tf.data.errors import DataError
from pxnas_tf.data.idx import read_idx
from pxnas_tf.data.preprocess import Normalization

NAME = "fashion_mnist"
DEFAULT_DIRS = ("/usr/share/datasets/fashion-mnist",)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
IMAGE_SHAPE = (28, 28, 1)
# Mean and std of the 60,000 training images, pixels scaled to [0, 1].
NORMALIZATION = Normalization(mean=(0.2860,), std=(0.3530,))
DEFAULT_HOLDOUT = 5000
INSTALL_HINT = (
    "Install the Debian package: `sudo apt-get install dataset-fashion-mnist` (puts the IDX files "
    "in /usr/share/datasets/fashion-mnist/), or pass data_dir= a folder holding "
    + ", ".join(f"{f}.gz" for f in FILES.values()) + " (gzipped or not).")


@dataclasses.dataclass(frozen=True)
class Arrays:
    """Fashion-MNIST in memory.

    Attributes:
        train_images: (60000, 28, 28, 1) uint8.
        train_labels: (60000,) uint8 in [0, 9].
        test_images: (10000, 28, 28, 1) uint8.
        test_labels: (10000,) uint8 in [0, 9].
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def find_dir(data_dir: str | None = None) -> str:
    """The folder holding the four IDX files.

    Args:
        data_dir: the folder to use (or one with a `fashion-mnist` /
            `fashion_mnist` subfolder); None searches the Debian location.
    """
    if data_dir is not None:
        candidates = [data_dir] + [os.path.join(data_dir, sub) for sub in ("fashion-mnist", NAME)]
    else:
        candidates = list(DEFAULT_DIRS)
    for folder in candidates:
        if all(_find_file(folder, stem) for stem in FILES.values()):
            return folder
    where = data_dir if data_dir is not None else ", ".join(DEFAULT_DIRS)
    missing = [stem for stem in FILES.values() if not any(_find_file(c, stem) for c in candidates)]
    raise DataError(f"Fashion-MNIST not found in {where} (missing: {', '.join(missing)}). "
                    f"{INSTALL_HINT}")


def read_arrays(folder: str) -> Arrays:
    """Reads and checks the four IDX files of `folder`.

    Args:
        folder: a folder found by `find_dir`.
    """
    parts = {}
    for key, stem in FILES.items():
        path = _find_file(folder, stem)
        if path is None:
            raise DataError(f"Fashion-MNIST file {stem}[.gz] not found in {folder}. {INSTALL_HINT}")
        parts[key] = (path, read_idx(path))
    for split in ("train", "test"):
        (img_path, images), (lbl_path, labels) = parts[f"{split}_images"], parts[f"{split}_labels"]
        _check_pair(img_path, images, lbl_path, labels)
    return Arrays(**{k: (v[..., None] if k.endswith("images") else v) for k, (_, v) in parts.items()})


def make_source(request: source.Request) -> source.Source:
    """The Fashion-MNIST `Source`: holdout from the 60k train images,
    validation = the 10k test images.

    Args:
        request: the `load` options.
    """
    arrays = read_arrays(find_dir(request.data_dir))
    size = DEFAULT_HOLDOUT if request.holdout_examples is None else request.holdout_examples
    held = holdout.balanced_holdout(arrays.train_labels, size, request.seed)
    pool = holdout.complement(arrays.train_labels.size, held)
    if request.holdout_limit is not None and request.holdout_limit < held.size:
        sub = holdout.balanced_subset(arrays.train_labels[held], request.holdout_limit, request.seed)
        held = held[sub]
    pool = holdout.random_subset(pool, request.train_examples, request.seed)
    val = np.arange(min(arrays.test_labels.size, request.val_examples or arrays.test_labels.size))
    index = {"train": pool, "arch": held, "validation": val}

    def records(split: str, shuffle: bool, seed: int):
        images, labels = ((arrays.test_images, arrays.test_labels) if split == "validation"
                          else (arrays.train_images, arrays.train_labels))
        idx = index[split]
        return source.arrays_records(images[idx], labels[idx], shuffle, seed, buffer=idx.size)

    return source.Source(
        name=NAME, class_names=CLASS_NAMES, style="small", native_shape=IMAGE_SHAPE,
        default_image_size=IMAGE_SHAPE[0], normalization=NORMALIZATION, default_flip=False,
        encoded=False, sizes={k: int(v.size) for k, v in index.items()}, records=records,
        shuffle_buffer=int(pool.size))


def _find_file(folder: str, stem: str) -> str | None:
    """`folder/stem.gz` or `folder/stem`, whichever exists."""
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _check_pair(img_path: str, images: np.ndarray, lbl_path: str, labels: np.ndarray) -> None:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 in [0, 9]."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[:2]:
        raise DataError(f"{img_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} "
                        f"{images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{lbl_path}: expected uint8 labels of shape (N,), got {labels.dtype} "
                        f"{labels.shape}")
    if labels.size != images.shape[0]:
        raise DataError(f"{lbl_path}: {labels.size} labels for {images.shape[0]} images in {img_path}")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{lbl_path}: label {int(labels.max())} out of range "
                        f"[0, {len(CLASS_NAMES) - 1}]")
