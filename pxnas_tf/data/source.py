"""What every dataset module hands to the pipeline: a `Source`.

A source knows where its examples are, which of them form the train,
arch-holdout and validation splits, and how to stream each split as
unbatched `(image, label)` records. Images are uint8 pixels `(H, W, C)` or,
when `encoded` is set, encoded image bytes (a scalar string) decoded later
in parallel. Labels are int32 scalars.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

from pxnas_tf.data.errors import DataError
from pxnas_tf.data.preprocess import Normalization

SPLITS = ("train", "arch", "validation")

# (split, shuffle, seed) -> unbatched dataset of (image, int32 label).
RecordsFn = Callable[[str, bool, int], tf.data.Dataset]


@dataclasses.dataclass(frozen=True)
class Request:
    """The `load` options a source needs to pick and read its examples.

    Attributes:
        data_dir: where the dataset lives; None lets the source look.
        holdout_examples: examples carved out of train for the arch split; None
            for the dataset's default.
        seed: picks the holdout (in-memory sources) and seeds shuffling.
        deterministic: ask for reproducible reading order.
        train_examples, holdout_limit, val_examples: use at most that many examples.
        val_size: validation examples to carve out of train when the dataset
            has no validation split of its own (image folders).
        manual_dir: tfds manual dir (ImageNet archives, CIFAR-10 archive).
        download: let tfds download (CIFAR-10 only; needs the network).
    """

    data_dir: str | None = None
    holdout_examples: int | None = None
    seed: int = 0
    deterministic: bool = False
    train_examples: int | None = None
    holdout_limit: int | None = None
    val_examples: int | None = None
    val_size: int | None = None
    manual_dir: str | None = None
    download: bool = False


@dataclasses.dataclass(frozen=True)
class Source:
    """One dataset, its splits chosen, ready to stream.

    Attributes:
        name: registry name, e.g. "fashion_mnist".
        class_names: one name per label id.
        style: augmentation family, "small" (pad-crop) or "imagenet"
            (random resized crop / resize + center crop).
        native_shape: stored image shape; (None, None, 3) for varying sizes.
        default_image_size: the image size when `load` is given none.
        normalization: per-channel mean / std of the native channels.
        default_flip: whether training flips left-right by default.
        encoded: records carry encoded bytes instead of pixels.
        sizes: examples per split, after limits.
        records: streams one split (see `RecordsFn`).
        shuffle_buffer: shuffle buffer the source uses for training splits.
    """

    name: str
    class_names: tuple[str, ...]
    style: str
    native_shape: tuple[int | None, int | None, int]
    default_image_size: int
    normalization: Normalization
    default_flip: bool
    encoded: bool
    sizes: dict[str, int]
    records: RecordsFn
    shuffle_buffer: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def check_limit(name: str, value: int | None) -> None:
    """A limit is None or a positive int.

    Args:
        name: the option, for the message.
        value: its value.
    """
    if value is not None and (not isinstance(value, int) or value < 1):
        raise DataError(f"{name} must be a positive int or None, got {value!r}")


def arrays_records(images, labels, shuffle: bool, seed: int, buffer: int) -> tf.data.Dataset:
    """Records from in-memory arrays, fully shuffled when asked.

    Args:
        images: (N, ...) uint8 pixels or (N,) strings (paths, bytes).
        labels: (N,) integer labels.
        shuffle: reshuffle every pass.
        seed: shuffle seed.
        buffer: shuffle buffer (the whole split for in-memory data).
    """
    ds = tf.data.Dataset.from_tensor_slices((images, tf.cast(labels, tf.int32)))
    if shuffle:
        ds = ds.shuffle(max(1, buffer), seed=seed, reshuffle_each_iteration=True)
    return ds
