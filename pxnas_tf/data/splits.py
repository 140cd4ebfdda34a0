"""The public entry point: `load` a dataset as train / arch / validation
tf.data pipelines.

Per split, in order: records from the source (shuffled for train and arch:
whole-split shuffles for in-memory data, file + buffer shuffles for tfds),
optional repeat, then one parallel map that decodes, augments, resizes,
converts channels and normalises, then batch and prefetch. Each example is
paired with a seed from `tf.data.Dataset.random` before the map, so its
augmentation depends only on its seed: with `deterministic=True` (ordered
parallel map and interleave) the same `seed` gives identical batches.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import tensorflow as tf

from pxnas_tf.data import fashion_mnist, image_folder, preprocess, source, tfds_source
from pxnas_tf.data.errors import DataError
from pxnas_tf.data.preprocess import Normalization

_SOURCES: dict[str, Callable[[source.Request], source.Source]] = {
    "cifar10": functools.partial(tfds_source.make_source, "cifar10"),
    "fashion_mnist": fashion_mnist.make_source,
    "image_folder": image_folder.make_source,
    "imagenet2012": functools.partial(tfds_source.make_source, "imagenet2012"),
}
# Small datasets pad this fraction of the image size before the random crop
# (4 pixels at 32 x 32, as in the CIFAR recipe).
PAD_FRACTION = 0.125
_SPLIT_SALT = {"train": 0, "arch": 1, "validation": 2}


@dataclasses.dataclass(frozen=True)
class Splits:
    """The three pipelines of a dataset and what a model needs to know.

    Attributes:
        train: training split, (images (B, H, W, C) float32, labels (B,) int32).
        arch: arch-holdout split carved out of train (disjoint from it), for
            the architecture-parameter updates; eval transforms, shuffled.
        validation: the dataset's validation / test split, in stored order
            (always ordered, whatever `deterministic` says).
        name: dataset name.
        num_classes: number of classes.
        input_shape: (H, W, C) of the images.
        sizes: examples per split ("train", "arch", "validation").
        normalization: the per-channel mean / std applied to the images.
        class_names: one name per label.
        batch_size: the global batch size, or None for unbatched pipelines.
    """

    train: tf.data.Dataset
    arch: tf.data.Dataset
    validation: tf.data.Dataset
    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    sizes: dict[str, int]
    normalization: Normalization
    class_names: tuple[str, ...]
    batch_size: int | None
    drop_remainder: bool = True

    def steps(self, split: str) -> int:
        """Batches in one pass over `split` ("train", "arch" or "validation")."""
        n = self.sizes[split]
        if self.batch_size is None:
            return n
        if self.drop_remainder and split != "validation":
            return n // self.batch_size
        return -(-n // self.batch_size)


def list_datasets() -> list[str]:
    """Names `load` accepts."""
    return sorted(_SOURCES)


def load(name: str, data_dir: str | None = None, *, batch_size: int | None = 128,
         image_size: int | None = None, channels: int | None = None,
         holdout_examples: int | None = None, seed: int = 0, deterministic: bool = False,
         augment: bool = True, flip: bool | None = None, repeat: bool = False,
         drop_remainder: bool = True, train_examples: int | None = None,
         holdout_limit: int | None = None, val_examples: int | None = None, val_size: int | None = None,
         manual_dir: str | None = None, download: bool = False) -> Splits:
    """Loads a dataset as train / arch-holdout / validation pipelines.

    Args:
        name: one of `list_datasets()`.
        data_dir: where the data is: the IDX folder (fashion_mnist; default
            /usr/share/datasets/fashion-mnist), the tfds data dir (cifar10,
            imagenet2012; default tfds's), the dataset root (image_folder).
        batch_size: the global batch size (tf.distribute splits it over
            replicas); None gives unbatched examples.
        image_size: output height = width; default the dataset's own (28,
            32) or 224 for ImageNet and image folders.
        channels: 1 or 3 output channels; default the dataset's own.
        holdout_examples: training examples carved out for the arch split, an
            equal share per class; default 5000 (Fashion-MNIST, CIFAR-10),
            50000 (ImageNet), 10% up to 5000 (image folders); 0 for none.
        seed: picks the holdout and seeds shuffling and augmentation.
        deterministic: reproducible order: the same seed gives identical
            batches (slightly slower parallel maps).
        augment: random augmentation on the train split.
        flip: random left-right flips when augmenting; default on, off for
            Fashion-MNIST.
        repeat: repeat train and arch forever (validation never repeats).
        drop_remainder: drop the last partial batch of train and arch.
        train_examples, holdout_limit, val_examples: use at most that many
            examples of the split (for tests and demos).
        val_size: image_folder without a val folder: validation examples
            carved out of train (default 10%).
        manual_dir: tfds manual dir with the archives to prepare from.
        download: let tfds download CIFAR-10 if not prepared (needs network).

    Returns:
        A `Splits`.

    Raises:
        DataError: unknown name, missing or malformed data, bad options.
    """
    _check_options(batch_size, image_size, channels, train_examples, holdout_limit, val_examples)
    make = _SOURCES.get(name)
    if make is None:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}")
    request = source.Request(
        data_dir=data_dir, holdout_examples=holdout_examples, seed=seed,
        deterministic=deterministic, train_examples=train_examples, holdout_limit=holdout_limit,
        val_examples=val_examples, val_size=val_size, manual_dir=manual_dir, download=download)
    src = make(request)
    size = image_size or src.default_image_size
    out_channels = channels or src.native_shape[2]
    norm = src.normalization.for_channels(out_channels)
    flip = src.default_flip if flip is None else flip
    _check_batches(src.sizes, batch_size, drop_remainder, repeat)
    pipelines = {}
    for split in source.SPLITS:
        transform = make_transform(src, train=(split == "train" and augment), flip=flip, image_size=size,
                                   channels=out_channels, norm=norm)
        pipelines[split] = build_split(
            src, split, transform, batch_size=batch_size, repeat=repeat and split != "validation",
            drop_remainder=drop_remainder and split != "validation", seed=seed,
            deterministic=deterministic or split == "validation")
    return Splits(
        **pipelines, name=name, num_classes=src.num_classes, input_shape=(size, size, out_channels),
        sizes=dict(src.sizes), normalization=norm, class_names=src.class_names, batch_size=batch_size,
        drop_remainder=drop_remainder)


def make_transform(src: source.Source, *, train: bool, flip: bool, image_size: int, channels: int,
                   norm: Normalization) -> Callable:
    """The per-example map `(image, label, seed) -> (image, label)`.

    Args:
        src: the source (its style and whether records are encoded).
        train: apply random augmentation.
        flip: random flips when augmenting.
        image_size: output height = width.
        channels: output channels.
        norm: normalisation of the output channels.
    """
    if src.style == "small":
        pad = round(PAD_FRACTION * image_size)

        def small(image, label, seed):
            if src.encoded:
                image = preprocess.decode_image(image, channels=src.native_shape[2])
                image.set_shape(src.native_shape)
            image = preprocess.resize(image, image_size)  # (S, S, C) float32
            if train:
                crop_seed, flip_seed = preprocess.split_seed(seed, 2)
                image = preprocess.pad_random_crop(image, pad, crop_seed)
                if flip:
                    image = preprocess.random_flip(image, flip_seed)
            image = preprocess.convert_channels(image, channels)
            return preprocess.normalize(image, norm), label

        return small

    def imagenet(encoded, label, seed):
        if train:
            crop_seed, flip_seed = preprocess.split_seed(seed, 2)
            image = preprocess.random_resized_crop(encoded, image_size, crop_seed)  # (S, S, 3)
            if flip:
                image = preprocess.random_flip(image, flip_seed)
        else:
            image = preprocess.resize_center_crop(preprocess.decode_image(encoded), image_size)
        image = preprocess.convert_channels(image, channels)
        return preprocess.normalize(image, norm), label

    return imagenet


def build_split(src: source.Source, split: str, transform: Callable, *, batch_size: int | None,
                repeat: bool, drop_remainder: bool, seed: int, deterministic: bool) -> tf.data.Dataset:
    """One split's pipeline: records -> (repeat) -> seeded parallel map ->
    (batch) -> prefetch.

    Args:
        src: the source.
        split: "train", "arch" or "validation".
        transform: from `make_transform`.
        batch_size: global batch size or None.
        repeat: repeat forever.
        drop_remainder: drop the last partial batch.
        seed: base seed.
        deterministic: ordered parallel map.
    """
    salt = _SPLIT_SALT[split]
    shuffle = split != "validation"
    if repeat and shuffle:
        ds = endless_passes(src.records(split, False, seed * 3 + salt),
                            min(src.shuffle_buffer, max(1, src.sizes[split])), seed * 3 + salt)
    else:
        ds = src.records(split, shuffle, seed * 3 + salt)
        if repeat:
            ds = ds.repeat()
    # Endless splits: every iterator gets the same seeds (see endless_passes).
    seeds = tf.data.Dataset.random(seed=seed * 3 + salt, rerandomize_each_iteration=not repeat)
    seeds = seeds.map(lambda r: tf.stack([r, tf.constant(salt, tf.int64)]))  # (2,) int64
    ds = tf.data.Dataset.zip((ds, seeds))
    ds = ds.map(lambda record, s: transform(record[0], record[1], s),
                num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options)


def endless_passes(records: tf.data.Dataset, buffer: int, seed: int) -> tf.data.Dataset:
    """`records` shuffled and repeated forever, built afresh for every
    iterator: every iterator of the result yields the same sequence, so a
    resumed run that skips n batches reads what an uninterrupted one did.

    (A `shuffle(reshuffle_each_iteration=True)` draws each pass's seed from
    a generator that all iterators of that dataset object share: a
    search's arch stream and its evaluation pass of the same split raced
    for those draws, and about 1 resumed run in 6 read other arch batches
    from the second pass on. Created inside `flat_map`'s function, the
    shuffle and its generator are made anew for each iterator.)

    Args:
        records: one pass of the split, in a fixed order.
        buffer: shuffle buffer (the whole split for in-memory sources).
        seed: the split's seed.
    """
    def stream(_):
        return records.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()

    endless = tf.data.Dataset.range(1).flat_map(stream)
    return endless.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))


def _check_options(batch_size, image_size, channels, *limits) -> None:
    for opt, value in (("batch_size", batch_size), ("image_size", image_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise DataError(f"{opt} must be a positive int or None, got {value!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1, 3 or None, got {channels!r}")
    for opt, value in zip(("train_examples", "holdout_limit", "val_examples"), limits):
        source.check_limit(opt, value)


def _check_batches(sizes: dict[str, int], batch_size: int | None, drop_remainder: bool,
                   repeat: bool) -> None:
    """A split that would yield no batch at all is an error, not silence
    (with `repeat`, batches run across passes, so any size is fine)."""
    if batch_size is None or not drop_remainder or repeat:
        return
    for split in ("train", "arch"):
        if 0 < sizes[split] < batch_size:
            raise DataError(f"the {split} split has {sizes[split]} examples, fewer than "
                            f"batch_size={batch_size}; "
                            "with drop_remainder=True it would give no batch (lower batch_size or pass "
                            "drop_remainder=False)")
