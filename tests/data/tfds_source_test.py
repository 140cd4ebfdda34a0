"""CIFAR-10 and ImageNet through the real tensorflow-datasets builders.

ImageNet: a miniature archive in the real ILSVRC 2012 layout is built by
tfds's own `imagenet2012` builder from a tmp manual dir, then read through
`load`. CIFAR-10: a tiny archive in the real CIFAR binary format is put in
tfds's download cache under the name tfds gives the real archive, prepared
by tfds's own `cifar10` builder, then read through `load`. No tfds mocks.
"""

import io
import json
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import pxnas_tf.data as data
from pxnas_tf.data import DataError, tfds_source

SYNSET_ROWS = (0, 417, 999)  # rows of tfds's imagenet2012 labels.txt used as classes
PER_SYNSET = 4
NUM_VAL = 5


def imagenet_label_files():
    """tfds's own label files: the class order and the validation labels."""
    read = lambda name: tfds.core.tfds_path(f"datasets/imagenet2012/{name}").read_text().split()
    return read("labels.txt"), read("validation_labels.txt")


def flat_jpeg(red, green, size):
    """A flat-colour JPEG: red and green survive compression and resizing."""
    pixels = np.zeros(size + (3,), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = red, green, 128
    return tf.io.encode_jpeg(pixels).numpy()


def add_member(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def write_mini_imagenet(manual_dir):
    """ILSVRC2012_img_train.tar (one <synset>.tar of <synset>_<n>.JPEG per
    class) and ILSVRC2012_img_val.tar (ILSVRC2012_val_<8 digits>.JPEG).
    Train image (slot s, k): red 40 + 70 s, green 20 + 20 k. Val image i:
    red 250, green 20 + 20 i."""
    labels, _ = imagenet_label_files()
    synsets = [labels[r] for r in SYNSET_ROWS]
    os.makedirs(manual_dir, exist_ok=True)
    with tarfile.open(os.path.join(manual_dir, "ILSVRC2012_img_train.tar"), "w") as outer:
        for slot, synset in enumerate(synsets):
            inner_bytes = io.BytesIO()
            with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
                for k in range(PER_SYNSET):
                    add_member(inner, f"{synset}_{10026 + k}.JPEG",
                               flat_jpeg(40 + 70 * slot, 20 + 20 * k, (40 + 4 * k, 56)))
            add_member(outer, f"{synset}.tar", inner_bytes.getvalue())
    with tarfile.open(os.path.join(manual_dir, "ILSVRC2012_img_val.tar"), "w") as val:
        for i in range(1, NUM_VAL + 1):
            add_member(val, f"ILSVRC2012_val_{i:08d}.JPEG", flat_jpeg(250, 20 + 20 * i, (50, 44)))
    return synsets


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    manual_dir, data_dir = str(root / "manual"), str(root / "tfds")
    synsets = write_mini_imagenet(manual_dir)
    builder = tfds.builder("imagenet2012", data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return {"manual_dir": manual_dir, "data_dir": data_dir, "synsets": synsets}


def centre_colours(images, norm):
    """(red, green) at the centre of each un-augmented output image, 0-255."""
    pixels = images[:, images.shape[1] // 2, images.shape[2] // 2, :]
    rgb = (pixels * np.array(norm.std) + np.array(norm.mean)) * 255
    return [(int(round(r)), int(round(g))) for r, g, _ in rgb]


def collect(ds):
    parts = list(ds.as_numpy_iterator())
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_imagenet_train_and_arch_labels_are_synset_indices(imagenet):
    labels_txt, _ = imagenet_label_files()
    splits = data.load("imagenet2012", imagenet["data_dir"], batch_size=2, image_size=32, holdout_examples=3,
                       augment=False, drop_remainder=False)
    assert splits.num_classes == 1000 and splits.class_names[:2] == tuple(labels_txt[:2])
    assert splits.sizes == {"train": 9, "arch": 3, "validation": NUM_VAL}
    ids = {}
    for split in ("train", "arch"):
        images, labels = collect(getattr(splits, split))
        assert images.shape[1:] == (32, 32, 3) and images.dtype == np.float32
        assert labels.dtype == np.int32
        ids[split] = []
        for (red, green), label in zip(centre_colours(images, splits.normalization), labels):
            slot, k = round((red - 40) / 70), round((green - 20) / 20)
            assert abs(red - (40 + 70 * slot)) < 8 and abs(green - (20 + 20 * k)) < 8
            assert label == labels_txt.index(imagenet["synsets"][slot]) == SYNSET_ROWS[slot]
            ids[split].append((slot, k))
    assert not set(ids["train"]) & set(ids["arch"])
    assert set(ids["train"]) | set(ids["arch"]) == {(s, k) for s in range(3) for k in range(PER_SYNSET)}
    assert sorted(s for s, _ in ids["arch"]) == [0, 1, 2]  # one per class


def test_imagenet_validation_labels_from_tfds_label_file(imagenet):
    labels_txt, val_labels = imagenet_label_files()
    splits = data.load("imagenet2012", imagenet["data_dir"], batch_size=None, image_size=32,
                       holdout_examples=3)
    images, labels = collect(splits.validation.batch(8))
    seen = []
    for (red, green), label in zip(centre_colours(images, splits.normalization), labels):
        i = round((green - 20) / 20)
        assert abs(red - 250) < 8
        assert label == labels_txt.index(val_labels[i - 1])
        seen.append(i)
    assert sorted(seen) == list(range(1, NUM_VAL + 1))


def test_imagenet_augmented_batches_and_determinism(imagenet):
    def first_epoch(seed):
        splits = data.load("imagenet2012", imagenet["data_dir"], batch_size=3, image_size=48, channels=1,
                           holdout_examples=3, seed=seed, deterministic=True)
        return [(x.numpy(), y.numpy()) for x, y in splits.train]

    a, b = first_epoch(7), first_epoch(7)
    assert len(a) == 3 and a[0][0].shape == (3, 48, 48, 1) and a[0][1].shape == (3,)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    c = first_epoch(8)
    assert any(not np.array_equal(x, y) for (x, _), (y, _) in zip(a, c))


def test_imagenet_limits(imagenet):
    splits = data.load("imagenet2012", imagenet["data_dir"], batch_size=None, image_size=32,
                       holdout_examples=3, train_examples=4, holdout_limit=2, val_examples=2,
                       augment=False)
    assert splits.sizes == {"train": 4, "arch": 2, "validation": 2}
    assert [len(list(getattr(splits, s))) for s in ("train", "arch", "validation")] == [4, 2, 2]


def test_load_prepares_imagenet_from_manual_dir(imagenet, tmp_path):
    splits = data.load("imagenet2012", str(tmp_path / "fresh"), manual_dir=imagenet["manual_dir"],
                       batch_size=3, image_size=32, holdout_examples=3)
    assert splits.sizes == {"train": 9, "arch": 3, "validation": NUM_VAL}
    assert os.path.isfile(tmp_path / "fresh" / "imagenet2012" / "5.1.0" / "dataset_info.json")


def test_imagenet_missing_archives(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "ILSVRC2012_img_train.tar").write_bytes(b"")
    with pytest.raises(DataError) as info:
        data.load("imagenet2012", str(tmp_path / "tfds"), manual_dir=str(manual))
    message = str(info.value)
    assert "missing from the tfds manual dir" in message and "ILSVRC2012_img_val.tar" in message
    assert f"{manual}/ILSVRC2012_img_train.tar" in message and "image-net.org" in message


def write_cifar_binary_archive(path, n_per_batch=4, n_test=5):
    """A cifar-10-binary.tar.gz in the real format: records of 1 label byte +
    3072 pixel bytes (channel-major 3 x 32 x 32). Returns {split: (images, labels)}."""
    rng = np.random.default_rng(0)
    written = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, names, n in (("train", [f"data_batch_{k}.bin" for k in range(1, 6)], n_per_batch),
                                ("test", ["test_batch.bin"], n_test)):
            images, labels = [], []
            for name in names:
                chw = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
                lab = rng.integers(0, 10, size=n, dtype=np.uint8)
                records = np.concatenate([lab[:, None], chw.reshape(n, -1)], axis=1)
                add_member(tar, f"cifar-10-batches-bin/{name}", records.tobytes())
                images.append(chw.transpose(0, 2, 3, 1))
                labels.append(lab)
            written[split] = (np.concatenate(images), np.concatenate(labels))
        names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
        add_member(tar, "cifar-10-batches-bin/batches.meta.txt", names)
    return written


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory):
    """Tiny CIFAR-10 prepared by tfds's cifar10 builder from its download
    cache (where a machine with network keeps the real archive)."""
    from tensorflow_datasets.core.download import resource as resource_lib

    data_dir = str(tmp_path_factory.mktemp("cifar") / "tfds")
    url_info = tfds.builder_cls("cifar10").url_infos[tfds_source.CIFAR10_URL]
    cache = os.path.join(data_dir, "downloads", "cifar10")
    os.makedirs(cache)
    archive = os.path.join(cache, resource_lib.get_dl_fname(tfds_source.CIFAR10_URL, url_info.checksum))
    written = write_cifar_binary_archive(archive)
    with open(archive + ".INFO", "w") as f:
        json.dump({"urls": [tfds_source.CIFAR10_URL]}, f)
    tfds.builder("cifar10", data_dir=data_dir).download_and_prepare()
    return data_dir, written


def test_cifar10_reads_prepared_tfds_data(cifar10):
    data_dir, written = cifar10
    splits = data.load("cifar10", data_dir, batch_size=None, holdout_examples=10, augment=False)
    assert splits.sizes == {"train": 10, "arch": 10, "validation": 5}
    assert splits.class_names[0] == "airplane" and splits.input_shape == (32, 32, 3)
    norm = splits.normalization
    expected = {img.tobytes(): int(lab) for img, lab in zip(*written["train"])}
    got = []
    for split in ("train", "arch"):
        for image, label in getattr(splits, split).as_numpy_iterator():
            pixels = np.rint((image * np.array(norm.std) + np.array(norm.mean)) * 255).astype(np.uint8)
            assert expected[pixels.tobytes()] == label
            got.append(pixels.tobytes())
    assert sorted(got) == sorted(expected)  # train + arch = the training set, disjoint
    val_images, val_labels = collect(splits.validation.batch(5))
    assert sorted(val_labels.tolist()) == sorted(written["test"][1].tolist())


def test_cifar10_augmented_and_resized(cifar10):
    splits = data.load("cifar10", cifar10[0], batch_size=5, holdout_examples=10, image_size=40, channels=1)
    images, labels = next(iter(splits.train))
    assert images.shape == (5, 40, 40, 1) and labels.shape == (5,)
    assert splits.steps("train") == 2 and len(list(splits.train)) == 2


def test_cifar10_without_holdout(cifar10):
    splits = data.load("cifar10", cifar10[0], batch_size=4, holdout_examples=0)
    assert splits.sizes == {"train": 20, "arch": 0, "validation": 5}
    assert list(splits.arch) == [] and len(list(splits.train)) == 5


def test_cifar10_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as info:
        data.load("cifar10", str(tmp_path / "tfds"))
    message = str(info.value)
    assert "cannot be downloaded here" in message
    assert "tfds.builder('cifar10', data_dir='/tmp/tfds').download_and_prepare()" in message
    assert f"{tmp_path}/tfds/downloads/manual" in message and "download=True" in message


def test_cifar10_wrong_archive_in_manual_dir(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    write_cifar_binary_archive(str(manual / tfds_source.CIFAR10_ARCHIVE))
    with pytest.raises(DataError) as info:
        data.load("cifar10", str(tmp_path / "tfds"), manual_dir=str(manual))
    assert "checksum" in str(info.value) and "preparing cifar10" in str(info.value)


def test_global_index_from_tfds_id():
    offsets = tf.constant([0, 10, 25], tf.int64)
    got = tfds_source.global_index(tf.constant("imagenet2012-train.tfrecord-00002-of-00003__7"), offsets)
    assert int(got) == 32


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
