"""image_folder: class subfolders of generated JPEG / PNG files."""

import os

import numpy as np
import pytest
import tensorflow as tf

import pxnas_tf.data as data
from pxnas_tf.data import DataError, image_folder

CLASSES = ("ant", "cat", "dog")  # sorted: labels 0, 1, 2


def write_image(path, class_id, index, size):
    """A flat image: red encodes the class, green the index (survives JPEG)."""
    pixels = np.zeros(size + (3,), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 40 + 80 * class_id, 20 + 10 * index, 128
    encode = tf.io.encode_png if path.endswith(".png") else tf.io.encode_jpeg
    tf.io.write_file(path, encode(pixels))


def write_tree(folder, per_class, start=0):
    """folder/<class>/img_<k>.{jpg,png}, sizes varying, plus a stray text file."""
    for name in reversed(CLASSES):  # written in reverse: label order must come from sorting
        c = CLASSES.index(name)
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for k in range(start, start + per_class):
            ext = ".png" if k % 2 else ".JPG"
            write_image(os.path.join(folder, name, f"img_{k}{ext}"), c, k, (20 + 3 * k, 30 + 2 * c))
    open(os.path.join(folder, CLASSES[0], "notes.txt"), "w").write("not an image")


def decode_ids(images, norm):
    """(class, index) of each un-augmented output image, from its centre pixel."""
    pixels = images[:, images.shape[1] // 2, images.shape[2] // 2, :]
    rgb = (pixels * np.array(norm.std) + np.array(norm.mean)) * 255
    return [(int(round((r - 40) / 80)), int(round((g - 20) / 10))) for r, g, _ in rgb]


def collect(ds):
    images, labels = zip(*[(x, y) for x, y in ds.as_numpy_iterator()])
    return np.concatenate(images), np.concatenate(labels)


def test_train_and_val_folders(tmp_path):
    write_tree(str(tmp_path / "train"), per_class=8)
    write_tree(str(tmp_path / "val"), per_class=2, start=20)
    splits = data.load("image_folder", str(tmp_path), batch_size=4, image_size=32,
                       holdout_examples=6, augment=False, drop_remainder=False)
    assert splits.class_names == CLASSES and splits.num_classes == 3
    assert splits.sizes == {"train": 18, "arch": 6, "validation": 6}
    assert splits.input_shape == (32, 32, 3)
    seen = {}
    for split in ("train", "arch", "validation"):
        images, labels = collect(getattr(splits, split))
        assert images.shape[1:] == (32, 32, 3) and images.dtype == np.float32
        assert labels.dtype == np.int32
        ids = decode_ids(images, splits.normalization)
        assert [c for c, _ in ids] == labels.tolist()  # label = index of the sorted class name
        seen[split] = set(ids)
        assert len(seen[split]) == len(ids)
    assert not seen["train"] & seen["arch"]
    assert seen["train"] | seen["arch"] == {(c, k) for c in range(3) for k in range(8)}
    assert sorted(c for c, _ in seen["arch"]) == [0, 0, 1, 1, 2, 2]
    assert {k for _, k in seen["validation"]} == {20, 21}


def test_validation_carved_from_train(tmp_path):
    write_tree(str(tmp_path), per_class=10)
    splits = data.load("image_folder", str(tmp_path), batch_size=None, image_size=24, val_size=6,
                       holdout_examples=3, augment=False)
    assert splits.sizes == {"train": 21, "arch": 3, "validation": 6}
    ids = {s: decode_ids(collect(getattr(splits, s).batch(64))[0], splits.normalization)
           for s in ("train", "arch", "validation")}
    assert sorted(c for c, _ in ids["validation"]) == [0, 0, 1, 1, 2, 2]
    all_ids = ids["train"] + ids["arch"] + ids["validation"]
    assert len(set(all_ids)) == 30  # disjoint, and everything used


def test_augmented_shapes_and_channels(tmp_path):
    write_tree(str(tmp_path / "train"), per_class=4)
    splits = data.load("image_folder", str(tmp_path), batch_size=4, image_size=16, channels=1,
                       holdout_examples=0)
    images, labels = next(iter(splits.train))
    assert images.shape == (4, 16, 16, 1) and labels.shape == (4,)
    assert len(splits.normalization.mean) == 1
    assert splits.sizes["arch"] == 0 and list(splits.arch) == []


def test_errors(tmp_path):
    with pytest.raises(DataError, match="needs data_dir"):
        data.load("image_folder")
    with pytest.raises(DataError, match="not a folder"):
        data.load("image_folder", str(tmp_path / "missing"))
    write_tree(str(tmp_path / "train"), per_class=2)
    os.makedirs(tmp_path / "train" / "emu")
    with pytest.raises(DataError, match="holds no images"):
        data.load("image_folder", str(tmp_path))
    os.rmdir(tmp_path / "train" / "emu")
    os.makedirs(tmp_path / "val" / "yak")
    with pytest.raises(DataError, match="not in the training folder"):
        data.load("image_folder", str(tmp_path))


def test_list_images_recursive_and_sorted(tmp_path):
    write_tree(str(tmp_path), per_class=3)
    os.makedirs(tmp_path / "cat" / "sub")
    write_image(str(tmp_path / "cat" / "sub" / "deep.png"), 1, 0, (8, 8))
    paths, labels, names = image_folder.list_images(str(tmp_path))
    assert names == CLASSES and len(paths) == 10
    assert labels.tolist() == [0] * 3 + [1] * 4 + [2] * 3
    names_3_7 = [os.path.basename(p) for p in paths[3:7]]
    assert names_3_7 == ["img_0.JPG", "img_1.png", "img_2.JPG", "deep.png"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
