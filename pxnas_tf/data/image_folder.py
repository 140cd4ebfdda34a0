"""A folder of class subfolders of images (the torchvision ImageFolder
layout), read with tf.data.

Two layouts are accepted:

    root/train/<class>/*.jpg    root/val/<class>/*.jpg (or root/validation/)
    root/<class>/*.jpg          validation carved out of it (`val_size`)

Classes are the subfolder names of the training folder, sorted; label i is
the i-th name. Images (JPEG, PNG, BMP, GIF; any case; searched recursively
inside a class folder) may differ in size: they are decoded and cropped with
the ImageNet transforms.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from pxnas_tf.data import holdout, source
from pxnas_tf.data.errors import DataError
from pxnas_tf.data.tfds_source import IMAGENET_NORMALIZATION

NAME = "image_folder"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
VAL_FOLDERS = ("val", "validation")
DEFAULT_IMAGE_SIZE = 224
DEFAULT_HOLDOUT_FRACTION = 0.1
DEFAULT_VAL_FRACTION = 0.1
MAX_DEFAULT_HOLDOUT = 5000
LAYOUT_HINT = ("Expected root/train/<class>/*.jpg with an optional root/val/<class>/ (or "
               "root/validation/), or root/<class>/*.jpg.")


def find_folders(root: str | None) -> tuple[str, str | None]:
    """(train folder, validation folder or None) of a dataset root.

    Args:
        root: the dataset folder (`data_dir`).
    """
    if root is None:
        raise DataError(f"image_folder needs data_dir= the dataset folder. {LAYOUT_HINT}")
    if not os.path.isdir(root):
        raise DataError(f"image_folder: {root} is not a folder. {LAYOUT_HINT}")
    train = os.path.join(root, "train")
    if not os.path.isdir(train):
        return root, None
    vals = [os.path.join(root, v) for v in VAL_FOLDERS if os.path.isdir(os.path.join(root, v))]
    val = vals[0] if vals else None
    return train, val


def list_images(folder: str, class_names: tuple[str, ...] | None = None) -> tuple[list[str], np.ndarray,
                                                                                   tuple[str, ...]]:
    """Image paths and labels of a class-subfolder tree.

    Args:
        folder: holds one subfolder per class.
        class_names: the label order to use (a validation folder uses the
            training folder's); None takes the sorted subfolder names.

    Returns:
        (paths, int32 labels, class names); paths sorted within each class.
    """
    found = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not found:
        raise DataError(f"image_folder: {folder} has no class subfolders. {LAYOUT_HINT}")
    names = tuple(found) if class_names is None else class_names
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"image_folder: {folder} has classes not in the training folder: {unknown}")
    paths, labels = [], []
    for d in found:
        files = _images_under(os.path.join(folder, d))
        if not files:
            raise DataError(f"image_folder: class folder {os.path.join(folder, d)} holds no images "
                            f"({', '.join(IMAGE_EXTENSIONS)})")
        paths += files
        labels += [names.index(d)] * len(files)
    return paths, np.asarray(labels, dtype=np.int32), names


def make_source(request: source.Request) -> source.Source:
    """The image-folder `Source`.

    Args:
        request: the `load` options; `data_dir` is the dataset root.
    """
    train_dir, val_dir = find_folders(request.data_dir)
    paths, labels, names = list_images(train_dir)
    paths = np.asarray(paths)
    if val_dir is not None:
        val_paths, val_labels, _ = list_images(val_dir, names)
        val_paths = np.asarray(val_paths)
        rest = np.arange(labels.size)
    else:
        val_size = request.val_size if request.val_size is not None else max(
            len(names), round(DEFAULT_VAL_FRACTION * labels.size))
        val_idx = holdout.balanced_holdout(labels, val_size, request.seed + 1)
        val_paths, val_labels = paths[val_idx], labels[val_idx]
        rest = holdout.complement(labels.size, val_idx)
    size = request.holdout_examples
    if size is None:
        size = min(MAX_DEFAULT_HOLDOUT, round(DEFAULT_HOLDOUT_FRACTION * rest.size))
    held = rest[holdout.balanced_holdout(labels[rest], size, request.seed)]
    pool = np.setdiff1d(rest, held)
    if request.holdout_limit is not None and request.holdout_limit < held.size:
        held = held[holdout.balanced_subset(labels[held], request.holdout_limit, request.seed)]
    pool = holdout.random_subset(pool, request.train_examples, request.seed)
    val_keep = holdout.random_subset(np.arange(val_labels.size), request.val_examples, request.seed)
    val_paths, val_labels = val_paths[val_keep], val_labels[val_keep]
    data = {"train": (paths[pool], labels[pool]), "arch": (paths[held], labels[held]),
            "validation": (val_paths, val_labels)}

    def records(split: str, shuffle: bool, seed: int):
        split_paths, split_labels = data[split]
        ds = source.arrays_records(split_paths.astype(str), split_labels, shuffle, seed,
                                   buffer=split_labels.size)
        return ds.map(lambda path, label: (tf.io.read_file(path), label),
                      num_parallel_calls=tf.data.AUTOTUNE)

    return source.Source(
        name=NAME, class_names=names, style="imagenet", native_shape=(None, None, 3),
        default_image_size=DEFAULT_IMAGE_SIZE, normalization=IMAGENET_NORMALIZATION, default_flip=True,
        encoded=True, sizes={k: int(v[1].size) for k, v in data.items()}, records=records,
        shuffle_buffer=int(pool.size))


def _images_under(folder: str) -> list[str]:
    """Image files below `folder`, recursively, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        out += [os.path.join(dirpath, f) for f in sorted(filenames)
                if f.lower().endswith(IMAGE_EXTENSIONS)]
    return out
