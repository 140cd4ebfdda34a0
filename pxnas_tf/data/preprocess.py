"""Per-example image transforms: decoding, augmentation, resizing, channel
conversion and normalisation, as small TF functions.

Every random transform is stateless and takes an explicit `seed` tensor of
shape (2,), so an example's augmentation depends only on its seed, never on
the order parallel map calls run in. Images are float32 in [0, 255] until
`normalize`, which maps them to (x / 255 - mean) / std.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import tensorflow as tf

# ImageNet eval: resize the shorter side to size / 0.875 (256 for 224), then
# take the central size x size crop.
EVAL_CROP_FRACTION = 0.875
# Random-resized-crop ranges of the Inception / ProxylessNAS training recipe.
CROP_AREA_RANGE = (0.08, 1.0)
CROP_ASPECT_RANGE = (3.0 / 4.0, 4.0 / 3.0)
# Luminance weights (ITU-R 601), as tf.image.rgb_to_grayscale.
_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Per-channel normalisation `(x / 255 - mean) / std`.

    Attributes:
        mean: one value per channel, in [0, 1] pixel units.
        std: one value per channel, in [0, 1] pixel units.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def for_channels(self, channels: int) -> Normalization:
        """The statistics after converting images to `channels` channels
        (grey -> RGB repeats them; RGB -> grey takes the luminance mix)."""
        have = len(self.mean)
        if channels == have:
            return self
        if have == 1 and channels == 3:
            return Normalization(self.mean * 3, self.std * 3)
        if have == 3 and channels == 1:
            mix = lambda v: (round(sum(w * x for w, x in zip(_GRAY_WEIGHTS, v)), 4),)
            return Normalization(mix(self.mean), mix(self.std))
        raise ValueError(f"cannot convert {have} channels to {channels}")

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form, e.g. for TFLite metadata; values in [0, 1] units."""
        return {"mean": list(self.mean), "std": list(self.std), "scale": 255.0}


def normalize(image: tf.Tensor, norm: Normalization) -> tf.Tensor:
    """(H, W, C) float in [0, 255] -> (H, W, C) normalised float32."""
    mean = tf.constant(norm.mean, tf.float32) * 255.0
    std = tf.constant(norm.std, tf.float32) * 255.0
    return (tf.cast(image, tf.float32) - mean) / std


def convert_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """(H, W, C) -> (H, W, channels) for C, channels in {1, 3}."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(image)
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(image)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def decode_image(encoded: tf.Tensor, channels: int = 3) -> tf.Tensor:
    """Encoded JPEG / PNG / BMP / GIF bytes -> (H, W, channels) uint8."""
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """(H, W, C) -> (size, size, C) float32, bilinear; a no-op at that size."""
    if image.shape[0] == size and image.shape[1] == size:
        return tf.cast(image, tf.float32)
    return tf.image.resize(tf.cast(image, tf.float32), [size, size], method="bilinear", antialias=True)


def pad_random_crop(image: tf.Tensor, pad: int, seed: tf.Tensor) -> tf.Tensor:
    """Zero-pads `pad` pixels on every side, then crops a random window of
    the original size: (H, W, C) -> (H, W, C)."""
    if pad <= 0:
        return image
    shape = tf.shape(image)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])  # (H + 2p, W + 2p, C)
    return tf.image.stateless_random_crop(padded, shape, seed=seed)


def random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors (H, W, C) left-right with probability 1/2."""
    return tf.image.stateless_random_flip_left_right(image, seed=seed)


def random_resized_crop(encoded: tf.Tensor, size: int, seed: tf.Tensor,
                        area_range: Sequence[float] = CROP_AREA_RANGE,
                        aspect_range: Sequence[float] = CROP_ASPECT_RANGE) -> tf.Tensor:
    """Encoded image -> a random crop (area and aspect ratio drawn from the
    ranges) resized to (size, size, 3) float32. JPEGs decode only the crop."""
    is_jpeg = tf.io.is_jpeg(encoded)
    shape = tf.cond(is_jpeg, lambda: tf.image.extract_jpeg_shape(encoded, output_type=tf.int32),
                    lambda: tf.shape(decode_image(encoded), out_type=tf.int32))
    begin, window, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=list(aspect_range), area_range=list(area_range),
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    offset_y, offset_x = begin[0], begin[1]
    height, width = window[0], window[1]
    crop_window = tf.stack([offset_y, offset_x, height, width])

    def jpeg_crop():
        return tf.image.decode_and_crop_jpeg(encoded, crop_window, channels=3)

    def other_crop():
        return tf.slice(decode_image(encoded), [offset_y, offset_x, 0], [height, width, 3])

    crop = tf.cond(is_jpeg, jpeg_crop, other_crop)  # (h, w, 3) uint8
    crop.set_shape([None, None, 3])
    return tf.image.resize(tf.cast(crop, tf.float32), [size, size], method="bilinear", antialias=True)


def resize_center_crop(image: tf.Tensor, size: int,
                       crop_fraction: float = EVAL_CROP_FRACTION) -> tf.Tensor:
    """(H, W, C) -> shorter side resized to round(size / crop_fraction), then
    the central (size, size, C) crop, float32."""
    resize_to = round(size / crop_fraction)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = resize_to / tf.reduce_min(shape)
    new_hw = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    resized = tf.image.resize(tf.cast(image, tf.float32), new_hw, method="bilinear", antialias=True)
    top = (new_hw[0] - size) // 2
    left = (new_hw[1] - size) // 2
    crop = tf.slice(resized, [top, left, 0], [size, size, -1])
    crop.set_shape([size, size, image.shape[-1]])
    return crop


def split_seed(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """One (2,) seed -> `num` independent (2,) seeds."""
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, num=num)))
