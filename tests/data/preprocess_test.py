"""Per-example transforms: shapes, seeds, normalisation, channel conversion."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.data import Normalization
from pxnas_tf.data import preprocess

SEED = tf.constant([3, 4], tf.int64)


def _ramp(h, w, c=3):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), np.full((h, w), 77)][:c],
                    axis=-1).astype(np.uint8)


def test_normalize_and_stats_for_channels():
    norm = Normalization(mean=(0.5,), std=(0.25,))
    out = preprocess.normalize(tf.fill([2, 2, 1], 255.0), norm)
    np.testing.assert_allclose(out.numpy(), 2.0)
    assert norm.for_channels(3) == Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    rgb = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert len(rgb.for_channels(1).mean) == 1
    assert rgb.to_dict()["mean"] == [0.485, 0.456, 0.406]


def test_convert_channels():
    gray = tf.zeros([5, 6, 1])
    assert preprocess.convert_channels(gray, 3).shape == (5, 6, 3)
    assert preprocess.convert_channels(tf.zeros([5, 6, 3]), 1).shape == (5, 6, 1)
    assert preprocess.convert_channels(gray, 1) is gray


def test_pad_random_crop_keeps_shape_and_is_seeded():
    image = tf.constant(_ramp(32, 32), tf.float32)
    a = preprocess.pad_random_crop(image, 4, SEED)
    b = preprocess.pad_random_crop(image, 4, SEED)
    assert a.shape == (32, 32, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    outs = {preprocess.pad_random_crop(image, 4, tf.constant([i, 0], tf.int64)).numpy().tobytes()
            for i in range(8)}
    assert len(outs) > 1


def test_random_flip_is_a_mirror_or_identity():
    image = tf.constant(_ramp(8, 9), tf.float32)
    for i in range(4):
        out = preprocess.random_flip(image, tf.constant([i, 1], tf.int64)).numpy()
        assert np.array_equal(out, image.numpy()) or np.array_equal(out, image.numpy()[:, ::-1])


@pytest.mark.parametrize("encode", [tf.io.encode_jpeg, tf.io.encode_png])
def test_random_resized_crop_jpeg_and_png(encode):
    encoded = encode(_ramp(60, 80))
    a = preprocess.random_resized_crop(encoded, 24, SEED)
    b = preprocess.random_resized_crop(encoded, 24, SEED)
    assert a.shape == (24, 24, 3) and a.dtype == tf.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = preprocess.random_resized_crop(encoded, 24, tf.constant([9, 9], tf.int64))
    assert not np.array_equal(a.numpy(), c.numpy())


def test_resize_center_crop_takes_the_center():
    image = np.zeros((300, 400, 3), np.uint8)
    image[100:200, 150:250] = 255  # a centred white square
    out = preprocess.resize_center_crop(tf.constant(image), 64).numpy()
    assert out.shape == (64, 64, 3)
    # shorter side 300 -> round(64 / 0.875) = 73: the square spans ~24 px around the centre
    assert out[32, 32, 0] > 250 and out[2, 2, 0] < 5


def test_resize_noop_at_same_size():
    image = tf.constant(_ramp(28, 28, 1))
    out = preprocess.resize(image, 28)
    assert out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), image.numpy())
    assert preprocess.resize(image, 32).shape == (32, 32, 1)


def test_decode_image_gray_png_to_rgb():
    encoded = tf.io.encode_png(_ramp(7, 5, 1))
    assert preprocess.decode_image(encoded, 3).shape == (7, 5, 3)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
