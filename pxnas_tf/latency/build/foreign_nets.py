"""Nets from outside the search space: the zoo nets whose layers a table
can measure beside the space's (`extra_arch_keys`), and `keras.applications`
nets for validating the latency model.

A spec names a `keras.applications` net (built with ``weights=None``:
nothing is downloaded), its width and its input size:

    mobilenet_a0.5@128        MobileNet, alpha 0.5, 128x128x3
    mobilenetv2_a0.35@96      MobileNetV2
    mobilenetv3small@96       MobileNetV3Small (``_min``: minimalistic)
    mobilenetv3large_min@160  MobileNetV3Large, minimalistic
    efficientnetb0@64         EfficientNetB0
    cnn@32                    three 3x3 convs with max pooling (a plain CNN)
    synth_s7@96               a random mobile net drawn from seed 7 (`synthetic`)

Every net has 1000 classes and its stock head (softmax included), as a
user would build it.
"""

from __future__ import annotations

import re
from typing import Sequence

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.model import footprint_factor
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.search_space import SearchSpace

FAMILIES = ("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large",
            "efficientnetb0", "cnn")
SYNTH = "synth"  # random mobile nets (`synthetic`): the in-net calibration's, not a family
# The default validation set: 14 nets, every family, widths 0.35 to 1.4,
# inputs 32 to 160.
DEFAULT_NETS = (
    "mobilenet_a0.25@128", "mobilenet_a0.5@96", "mobilenet_a1.0@64",
    "mobilenetv2_a0.35@128", "mobilenetv2_a0.5@96", "mobilenetv2_a1.0@64",
    "mobilenetv2_a1.4@32",
    "mobilenetv3small@96", "mobilenetv3small_min@128",
    "mobilenetv3large@64", "mobilenetv3large_min@160",
    "efficientnetb0@64", "efficientnetb0@32",
    "cnn@32",
)
# Nets kept apart for choosing between model variants, so that the
# default set above stays a test set (`--nets=tuning`).
TUNING_NETS = (
    "mobilenet_a0.75@80", "mobilenetv2_a0.75@112", "mobilenetv2_a1.3@48",
    "mobilenetv3small_a0.75@80", "mobilenetv3large_a0.75@96", "efficientnetb0@96", "cnn@64",
)
_SPEC = re.compile(r"^(?P<family>[a-z0-9]+?)(?:_a(?P<alpha>\d+(?:\.\d+)?))?(?P<min>_min)?"
                   r"(?:_s(?P<seed>\d+))?@(?P<size>\d+)$")


class ForeignNetError(PxnasError, ValueError):
    """A foreign-net spec is malformed; the message shows the grammar."""


def parse_spec(spec: str) -> tuple[str, float, bool, int]:
    """(family, alpha, minimalistic, input size) of a spec.

    Raises:
        ForeignNetError: an unknown family or a malformed spec.
    """
    m = _SPEC.match(spec.strip().lower())
    if (not m or m["family"] not in (*FAMILIES, SYNTH)
            or (m["family"] == SYNTH) != (m["seed"] is not None)):
        raise ForeignNetError(
            f"net {spec!r}: expected FAMILY[_aALPHA][_min]@SIZE with FAMILY one of "
            f"{', '.join(FAMILIES)} (e.g. mobilenetv2_a0.5@96), or synth_sSEED@SIZE")
    size = int(m["size"])
    if not 32 <= size <= 512:
        raise ForeignNetError(f"net {spec!r}: input size {size} is outside [32, 512]")
    return m["family"], float(m["alpha"] or 1.0), bool(m["min"]), size


def build(spec: str, batch_size: int = 1):
    """The Keras model of a spec at a fixed batch size (random weights)."""
    import keras

    family, alpha, minimalistic, size = parse_spec(spec)
    shape = (size, size, 3)
    apps = keras.applications
    if family == SYNTH:
        return synthetic(int(_SPEC.match(spec.strip().lower())["seed"]), size, batch_size)
    if family == "cnn":
        x = keras.Input(shape, batch_size=batch_size)
        y = x
        for width in (32, 64, 128):
            y = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(y)
            y = keras.layers.MaxPooling2D(2)(y)
        y = keras.layers.GlobalAveragePooling2D()(y)
        y = keras.layers.Dense(10, activation="softmax")(y)
        return keras.Model(x, y, name="cnn")
    if family == "mobilenet":
        model = apps.MobileNet(input_shape=shape, alpha=alpha, weights=None)
    elif family == "mobilenetv2":
        model = apps.MobileNetV2(input_shape=shape, alpha=alpha, weights=None)
    elif family == "mobilenetv3small":
        model = apps.MobileNetV3Small(input_shape=shape, alpha=alpha, weights=None,
                                      minimalistic=minimalistic)
    elif family == "mobilenetv3large":
        model = apps.MobileNetV3Large(input_shape=shape, alpha=alpha, weights=None,
                                      minimalistic=minimalistic)
    else:
        model = apps.EfficientNetB0(input_shape=shape, weights=None)
    x = keras.Input(batch_shape=(batch_size, *shape), name="x")
    return keras.Model(x, model(x), name=model.name)


# What `synthetic` draws from: the layers mobile nets are made of.
_ACTIVATIONS = ("relu", "relu6", "hard_swish", "swish")
_ELEMENTS = 64 * 24 * 24
_WIDTHS = (8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320)
# Seeds from here draw large nets, as wide and deep as the keras.applications ones: 12 to 28
# blocks, expanded widths of at most 1280, 3x3 and 5x5 depthwise convs only, no regular kxk
# convs (mobile nets run those only at their stem), a head of 1024-1536 channels, 1000 classes.
LARGE_SEED0 = footprint_factor.LARGE_SEED0


def synthetic(seed: int, size: int, batch_size: int = 1):
    """A random mobile net (Keras, random weights), the same for a seed:
    a 3x3 stride-2 stem, 4 to 16 blocks drawn from inverted residuals
    (expansion 1-6, kernel 3/5/7, squeeze-and-excitation or not, a residual
    add where shapes allow), depthwise-separable pairs, regular 3x3 / 5x5
    convs and 2x2 / 3x3 max or average pooling, then a 1x1 head conv, global
    pooling, a classifier of 10 to 1000 classes and softmax; each block
    with its own activation of ReLU, ReLU6, hard-swish and swish. Seeds
    from `LARGE_SEED0` draw large nets (see there).

    The table build times such nets whole to fit the op model inside nets
    (`pxnas_tf.latency.build.in_net`): they share the kernels of real
    mobile nets, not their architectures."""
    import keras
    import numpy as np

    rng = np.random.default_rng([seed, 21])
    layers = keras.layers
    large = seed >= LARGE_SEED0

    def act(y, name):
        return layers.Activation(name)(y)

    def pick(values):
        return values[int(rng.integers(len(values)))]

    x = keras.Input((size, size, 3), batch_size=batch_size)
    width = pick((8, 16, 24, 32))
    y = act(layers.Conv2D(width, 3, strides=2, padding="same")(x), pick(_ACTIVATIONS))
    spatial = -(-size // 2)
    for _ in range(int(rng.integers(12, 29) if large else rng.integers(4, 17))):
        kind = pick(("inverted", "inverted", "inverted", "separable", "pool") if large else
                    ("inverted", "inverted", "inverted", "separable", "conv", "pool"))
        # Wide layers at small maps, as in mobile nets: at most about
        # `_ELEMENTS` activations per layer after this block.
        stride = 2 if spatial > 4 and (rng.random() < 0.35 or width * spatial ** 2 > _ELEMENTS) \
            else 1
        room = max(16, _ELEMENTS // (-(-spatial // stride)) ** 2)
        out = pick([w for w in _WIDTHS if width // 2 <= w <= min(2 * width + 16, room)] or [16])
        a = pick(_ACTIVATIONS)
        if kind == "pool":
            pool = pick((layers.MaxPooling2D, layers.AveragePooling2D))
            y = pool(pick((2, 3)), strides=2, padding="same")(y)
            spatial = -(-spatial // 2)
            continue
        if kind == "conv" and width * out * spatial * spatial <= 4e6:
            y = act(layers.Conv2D(out, pick((3, 5)), strides=stride, padding="same")(y), a)
        elif kind == "separable":
            y = act(layers.DepthwiseConv2D(3, strides=stride, padding="same")(y), a)
            y = act(layers.Conv2D(out, 1)(y), a)
        else:
            inp = y
            expand = pick((1, 3, 4, 6))
            if large:
                expand = max(1, min(expand, 1280 // width))
            if expand > 1:
                y = act(layers.Conv2D(width * expand, 1)(y), a)
            y = act(layers.DepthwiseConv2D(pick((3, 5) if large else (3, 5, 7)), strides=stride,
                                           padding="same")(y), a)
            if rng.random() < 0.4:
                s = layers.GlobalAveragePooling2D(keepdims=True)(y)
                s = layers.Conv2D(max(8, width * expand // 4), 1, activation="relu")(s)
                s = layers.Conv2D(width * expand, 1, activation=pick(("sigmoid", "hard_sigmoid")))(s)
                y = layers.Multiply()([y, s])
            y = layers.Conv2D(out, 1)(y)
            if stride == 1 and out == width:
                y = layers.Add()([y, inp])
        width = out
        spatial = -(-spatial // stride)
    head = pick((1024, 1280, 1536)) if large else pick((256, 512, 1024, 1280))
    y = act(layers.Conv2D(head, 1)(y), pick(_ACTIVATIONS))
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(1000 if large else pick((10, 100, 1000)), activation="softmax")(y)
    return keras.Model(x, y, name=f"synth_s{seed}")


def extra_arch_keys(space: SearchSpace, names: Sequence[str]) -> list[str]:
    """The keys of extra nets to measure with a space's table: zoo names
    (``zoo`` for all of them) or arch files, rebuilt at the space's input
    shape and number of classes, so that whole nets outside the space can be
    predicted from measured layers.

    Raises:
        SpaceError: an unknown name or a malformed file.
    """
    from pxnas_tf.models import zoo

    wanted = []
    for name in names:
        wanted += zoo.list_names() if name == "zoo" else [name]
    keys = []
    for name in wanted:
        arch = zoo.resolve_arch(name, input_shape=list(space.input_shape),
                                num_classes=space.num_classes)
        keys += keys_lib.arch_keys(arch)
    return list(dict.fromkeys(keys))
