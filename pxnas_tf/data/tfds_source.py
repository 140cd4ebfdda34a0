"""CIFAR-10 and ImageNet (ILSVRC 2012) through tensorflow-datasets.

Reading goes through `tfds.builder(name, data_dir=...).as_dataset(...)`.
When the dataset is not prepared yet, it is prepared from local files only:

* imagenet2012: the two archives in the tfds manual dir
  (`ILSVRC2012_img_train.tar`, `ILSVRC2012_img_val.tar`);
* cifar10: `cifar-10-binary.tar.gz` in the manual dir (tfds checks its
  checksum), or a download when `download=True` (needs the network).

Otherwise a `DataError` says exactly what to put where.

Arch holdout: the first examples of each class in tfds's stored order (which
tfds shuffled by key hash when writing), see `holdout.first_per_class_holdout`.
Every record carries its `tfds_id`, from which its global position in the
split is computed, so the train and arch splits are a mask over positions and
stay disjoint whatever order the files are read in.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import numpy as np
import tensorflow as tf

from pxnas_tf.data import holdout, source
from pxnas_tf.data.errors import DataError
from pxnas_tf.data.preprocess import Normalization

IMAGENET_NORMALIZATION = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
CIFAR10_NORMALIZATION = Normalization(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_SCAN_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How one tfds dataset maps onto the pipeline.

    Attributes:
        name: tfds builder name.
        train_split: tfds split the train and arch splits come from.
        val_split: tfds split used for validation.
        style: augmentation family ("small" or "imagenet").
        native_shape: stored image shape.
        default_image_size: image size when `load` gets none.
        normalization: per-channel mean / std.
        default_holdout: arch holdout size when `load` gets none.
        shuffle_buffer: shuffle buffer of encoded training records.
    """

    name: str
    train_split: str
    val_split: str
    style: str
    native_shape: tuple[int | None, int | None, int]
    default_image_size: int
    normalization: Normalization
    default_holdout: int
    shuffle_buffer: int


SPECS = {
    "cifar10": TfdsSpec("cifar10", "train", "test", "small", (32, 32, 3), 32, CIFAR10_NORMALIZATION,
                        5000, 50_000),
    "imagenet2012": TfdsSpec("imagenet2012", "train", "validation", "imagenet", (None, None, 3), 224,
                             IMAGENET_NORMALIZATION, 50_000, 10_000),
}


def make_source(name: str, request: source.Request) -> source.Source:
    """The `Source` of tfds dataset `name` ("cifar10" or "imagenet2012").

    Args:
        name: a key of `SPECS`.
        request: the `load` options.
    """
    import tensorflow_datasets as tfds  # imported here: slow, and only these datasets need it

    spec = SPECS[name]
    builder = tfds.builder(spec.name, data_dir=request.data_dir)
    ensure_prepared(builder, spec, request)
    _check_splits(builder, spec)
    pool, held = choose_positions(builder, spec, request)
    num_val = builder.info.splits[spec.val_split].num_examples
    num_val = min(num_val, request.val_examples or num_val)
    offsets = _shard_offsets(builder.info.splits[spec.train_split].shard_lengths)
    sizes = {"train": int(pool.size), "arch": int(held.size), "validation": int(num_val)}

    def records(split: str, shuffle: bool, seed: int) -> tf.data.Dataset:
        read_config = _read_config(tfds, shuffle, seed, request.deterministic or split == "validation")
        if split == "validation":
            ds = builder.as_dataset(split=f"{spec.val_split}[:{num_val}]", shuffle_files=shuffle,
                                    read_config=read_config, decoders=_skip_image(tfds))
            ds = ds.map(_image_label, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            keep = pool if split == "train" else held
            ds = _masked_records(builder, spec.train_split, keep, offsets, shuffle, read_config, tfds)
        if shuffle:
            ds = ds.shuffle(min(spec.shuffle_buffer, max(1, sizes[split])), seed=seed,
                            reshuffle_each_iteration=True)
        return ds

    return source.Source(
        name=name, class_names=tuple(builder.info.features["label"].names), style=spec.style,
        native_shape=spec.native_shape, default_image_size=spec.default_image_size,
        normalization=spec.normalization, default_flip=True, encoded=True, sizes=sizes, records=records,
        shuffle_buffer=spec.shuffle_buffer)


def choose_positions(builder, spec: TfdsSpec, request: source.Request) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, arch positions) in the stored order of the train
    split, after holdout selection and limits; disjoint, sorted.

    Args:
        builder: a prepared tfds builder.
        spec: its spec.
        request: holdout size and limits.
    """
    num_classes = builder.info.features["label"].num_classes
    num_train = builder.info.splits[spec.train_split].num_examples
    size = spec.default_holdout if request.holdout_examples is None else request.holdout_examples
    if size >= num_train and size > 0:
        raise DataError(f"holdout_examples={size} leaves nothing to train on: {spec.name} "
                        f"train has {num_train} examples")
    held = holdout.first_per_class_holdout(scan_labels(builder, spec.train_split), size, num_classes)
    pool = holdout.complement(num_train, held)[:request.train_examples]
    if request.holdout_limit is not None and request.holdout_limit < held.size:
        labels = _labels_at(builder, spec.train_split, held)
        held = held[holdout.first_per_class_holdout([labels], request.holdout_limit, num_classes)]
    return pool, held


def ensure_prepared(builder, spec: TfdsSpec, request: source.Request) -> None:
    """Prepares `builder` from local files if it is not prepared yet.

    Args:
        builder: the tfds builder.
        spec: its spec.
        request: carries `manual_dir` and `download`.

    Raises:
        DataError: the files to prepare from are missing, or preparing failed.
    """
    import tensorflow_datasets as tfds

    if builder.is_prepared():
        return
    root = os.fspath(builder.data_dir_root)
    manual_dir = request.manual_dir or os.path.join(root, "downloads", "manual")
    if spec.name == "imagenet2012":
        missing = [a for a in IMAGENET_ARCHIVES if not os.path.isfile(os.path.join(manual_dir, a))]
        if missing:
            raise DataError(imagenet_instructions(root, manual_dir, missing))
    elif not (request.download or os.path.isfile(os.path.join(manual_dir, CIFAR10_ARCHIVE))):
        raise DataError(cifar10_instructions(root, manual_dir))
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as e:  # tfds raises many types; keep the cause, say what to do
        raise DataError(f"preparing {spec.name} in {root} from {manual_dir} failed: "
                        f"{type(e).__name__}: {e}. "
                        + (imagenet_instructions(root, manual_dir, []) if spec.name == "imagenet2012"
                           else cifar10_instructions(root, manual_dir))) from e


def imagenet_instructions(root: str, manual_dir: str, missing: list[str]) -> str:
    """How to get ImageNet prepared, naming the folders of this call."""
    head = (f"imagenet2012 is not prepared in {root} and the archives to build it are missing from "
            f"the tfds manual dir {manual_dir}: {', '.join(missing)}. " if missing else "")
    return head + (
        "ImageNet cannot be downloaded automatically: register at "
        "https://image-net.org/download-images, "
        "download the ILSVRC 2012 archives and place them as\n"
        f"  {manual_dir}/ILSVRC2012_img_train.tar  (one n########.tar per class inside, each holding "
        "n########_*.JPEG)\n"
        f"  {manual_dir}/ILSVRC2012_img_val.tar    (ILSVRC2012_val_00000001.JPEG ... _00050000.JPEG)\n"
        "then call load again (or pass manual_dir=): tfds builds the dataset once into data_dir "
        "(about 150 GB, hours). To build it separately: python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('imagenet2012', data_dir='{root}').download_and_prepare("
        f"download_config=tfds.download.DownloadConfig(manual_dir='{manual_dir}'))\"")


def cifar10_instructions(root: str, manual_dir: str) -> str:
    """How to get CIFAR-10 prepared without network on this machine."""
    return (
        f"cifar10 is not prepared in {root}, and it cannot be downloaded here (download=False). "
        "Either:\n"
        "  1. on a machine with network run python -c \"import tensorflow_datasets as tfds; "
        "tfds.builder('cifar10', data_dir='/tmp/tfds').download_and_prepare()\" and copy the folder "
        f"/tmp/tfds/cifar10 to {os.path.join(root, 'cifar10')} (or pass that data_dir);\n"
        f"  2. or put {CIFAR10_ARCHIVE} (from {CIFAR10_URL}, 170,052,171 bytes) into the tfds "
        "manual dir "
        f"{manual_dir} (or pass manual_dir=) and load again: tfds checks its checksum and prepares it;\n"
        "  3. or, where the network is reachable, pass download=True.")


def scan_labels(builder, split: str, chunk: int = _SCAN_CHUNK) -> Iterator[np.ndarray]:
    """Yields the labels of `split` in stored order, `chunk` at a time,
    parsing only the label feature.

    Args:
        builder: a prepared tfds builder.
        split: a split name.
        chunk: labels per yielded array.
    """
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(
        split=split, shuffle_files=False, decoders=tfds.decode.PartialDecoding({"label": True}),
        read_config=tfds.ReadConfig(interleave_cycle_length=1, try_autocache=False))
    for batch in ds.map(lambda ex: ex["label"]).batch(chunk).prefetch(2).as_numpy_iterator():
        yield batch


def global_index(tfds_id: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
    """Position in its split of the record a tfds_id names.

    Args:
        tfds_id: scalar string like b"cifar10-train.tfrecord-00003-of-00016__125"
            (shard 3, record 125 of that shard).
        offsets: (num_shards,) int64, records before each shard.
    """
    file_name, record = tf.unstack(tf.strings.split(tfds_id, "__", maxsplit=1), num=2)
    shard = tf.strings.regex_replace(file_name, r"^.*-(\d+)-of-\d+$", r"\1")
    shard_start = tf.gather(offsets, tf.strings.to_number(shard, tf.int64))
    return shard_start + tf.strings.to_number(record, tf.int64)


def _masked_records(builder, split: str, keep: np.ndarray, offsets: np.ndarray, shuffle: bool,
                    read_config, tfds) -> tf.data.Dataset:
    """Records of `split` at positions `keep`, reading only the prefix of the
    split that holds them."""
    if keep.size == 0:  # tfds refuses empty slices
        return tf.data.Dataset.from_tensor_slices((tf.zeros([0], tf.string), tf.zeros([0], tf.int32)))
    end = int(keep[-1]) + 1
    mask = np.zeros(end, dtype=bool)
    mask[keep] = True
    ds = builder.as_dataset(split=f"{split}[:{end}]", shuffle_files=shuffle, read_config=read_config,
                            decoders=_skip_image(tfds))
    mask_t, offsets_t = tf.constant(mask), tf.constant(offsets)
    ds = ds.filter(lambda ex: tf.gather(mask_t, global_index(ex["tfds_id"], offsets_t)))
    ds = ds.map(_image_label, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.apply(tf.data.experimental.assert_cardinality(int(keep.size)))


def _labels_at(builder, split: str, positions: np.ndarray) -> np.ndarray:
    """Labels of the records at `positions` (sorted), from a prefix scan."""
    end = int(positions[-1]) + 1 if positions.size else 0
    labels = np.concatenate(list(scan_labels(builder, f"{split}[:{end}]")) + [np.zeros(0, np.int64)])
    return labels[positions]


def _check_splits(builder, spec: TfdsSpec) -> None:
    splits = builder.info.splits
    for split in (spec.train_split, spec.val_split):
        if split not in splits:
            raise DataError(f"{spec.name} in {builder.data_dir} has no '{split}' split (it has "
                            f"{sorted(splits.keys())}); prepare it again with both archives present")


def _read_config(tfds, shuffle: bool, seed: int, deterministic: bool):
    options = tf.data.Options()
    options.deterministic = deterministic
    return tfds.ReadConfig(add_tfds_id=True, shuffle_seed=seed if shuffle else None,
                           shuffle_reshuffle_each_iteration=True, try_autocache=False, options=options)


def _skip_image(tfds) -> dict:
    return {"image": tfds.decode.SkipDecoding()}


def _image_label(ex: dict) -> tuple[tf.Tensor, tf.Tensor]:
    return ex["image"], tf.cast(ex["label"], tf.int32)


def _shard_offsets(shard_lengths: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(shard_lengths)[:-1]]).astype(np.int64)
