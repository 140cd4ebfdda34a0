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

Every net has 1000 classes and its stock head (softmax included), as a
user would build it.
"""

from __future__ import annotations

import re
from typing import Sequence

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.search_space import SearchSpace

FAMILIES = ("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large",
            "efficientnetb0", "cnn")
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
                   r"@(?P<size>\d+)$")


class ForeignNetError(PxnasError, ValueError):
    """A foreign-net spec is malformed; the message shows the grammar."""


def parse_spec(spec: str) -> tuple[str, float, bool, int]:
    """(family, alpha, minimalistic, input size) of a spec.

    Raises:
        ForeignNetError: an unknown family or a malformed spec.
    """
    m = _SPEC.match(spec.strip().lower())
    if not m or m["family"] not in FAMILIES:
        raise ForeignNetError(
            f"net {spec!r}: expected FAMILY[_aALPHA][_min]@SIZE with FAMILY one of "
            f"{', '.join(FAMILIES)} (e.g. mobilenetv2_a0.5@96)")
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
