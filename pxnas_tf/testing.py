"""The test harness: tiny search spaces and archs, in-memory data, a
keras-hub-style round trip for custom layers, and the bench scripts as
modules. Used by tests/ (and by tests' subprocess scripts); it sits at the
top of the package's layers, beside the CLI.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from pxnas_tf.search import SearchData
from pxnas_tf.search_space import Arch, load_space

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Spaces and archs ----------------------------------------------------------------

def tiny16_space_dict(classes: int = 4, channels: int = 1, name: str = "tiny16") -> dict:
    """A 16x16 space: stride-1 stem 8 wide, first block 8, a stage of two
    8-wide blocks (stride 2) and one of a 16-wide block (stride 2), head
    32; candidates k3_e3 and k5_e6."""
    return {
        "name": name, "input_shape": [16, 16, channels], "num_classes": classes,
        "stem": {"width": 8, "kernel": 3, "stride": 1},
        "first_block": {"width": 8, "op": "k3_e1"},
        "stages": [{"width": 8, "blocks": 2, "stride": 2}, {"width": 16, "blocks": 1, "stride": 2}],
        "candidates": ["k3_e3", "k5_e6"], "head_width": 32,
    }


def tiny16_arch(classes: int = 4, channels: int = 1) -> Arch:
    """The arch of the 16x16 space with a skipped block: k3_e3, zero, k5_e6."""
    return Arch(load_space(tiny16_space_dict(classes, channels)), ("k3_e3", "zero", "k5_e6"),
                "tiny_arch")


# Search spaces and data -------------------------------------------------------------


def tiny_space(candidates=("k3_e3", "k5_e6"), size: int = 8, classes: int = 4, blocks: int = 2,
               zero_op: bool = True, name: str = "tiny"):
    """A 1-stage space: stem 8 wide, first block 8, one stage of `blocks`
    8-wide stride-1 blocks (all with residual, so the zero op is allowed
    from the first), head 16."""
    return load_space({
        "name": name, "input_shape": [size, size, 1], "num_classes": classes,
        "stem": {"width": 8, "kernel": 3, "stride": 1},
        "first_block": {"width": 8, "op": "k3_e1"},
        "stages": [{"width": 8, "blocks": blocks, "stride": 1}],
        "candidates": list(candidates), "zero_op": zero_op, "head_width": 16,
    })


def arrays(n: int, size: int = 8, classes: int = 4, seed: int = 0):
    """Learnable toy images: class c has a bright square at corner c."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype("int32")
    images = rng.normal(0, 0.3, (n, size, size, 1)).astype("float32")
    h = size // 2
    for i, c in enumerate(labels):
        r, col = divmod(int(c) % 4, 2)
        images[i, r * h:(r + 1) * h, col * h:(col + 1) * h, 0] += 1.5
    return images, labels


def tiny_data(n_train: int = 64, n_arch: int = 32, batch: int = 8, size: int = 8,
              classes: int = 4, seed: int = 0, steps_per_epoch: int | None = None) -> SearchData:
    """SearchData over in-memory arrays, reshuffled every epoch in an order
    that is a stateless function of (seed, epoch): the same whatever
    TensorFlow's global seed was when the data was made (a `shuffle` seed is
    combined with it, so two calls around a `set_random_seed` would differ)."""
    def ds(n, s):
        x, y = arrays(n, size, classes, s)
        x, y = tf.constant(x), tf.constant(y)
        orders = tf.data.Dataset.counter().map(
            lambda epoch: tf.random.experimental.stateless_shuffle(
                tf.range(n), seed=tf.stack([tf.cast(s, tf.int64), epoch])))
        return (orders.unbatch().map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
                .batch(batch, drop_remainder=True))
    x, y = arrays(n_arch, size, classes, seed + 1)
    arch_eval = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return SearchData(train=ds(n_train, seed), arch=ds(n_arch, seed + 1), arch_eval=arch_eval,
                      steps_per_epoch=steps_per_epoch or n_train // batch, batch_size=batch,
                      name="toy", input_shape=(size, size, 1), num_classes=classes,
                      sizes={"train": n_train, "arch": n_arch})


# For `pxnas search` runs on Fashion-MNIST resized to 8x8 (10 classes).
TINY_SPACE = {
    "name": "tiny10", "input_shape": [8, 8, 1], "num_classes": 10,
    "stem": {"width": 8, "kernel": 3, "stride": 1}, "first_block": {"width": 8, "op": "k3_e1"},
    "stages": [{"width": 8, "blocks": 2, "stride": 1}], "candidates": ["k3_e3", "k5_e3"],
    "zero_op": True, "head_width": 16}


def search_args(space_file, workdir, *extra):
    return ["-m", "pxnas_tf.cli.main", "search", f"--space={space_file}", "--dataset=fashion_mnist",
            "--image_size=8", "--train_limit=128", "--holdout_size=64", "--batch_size=16",
            f"--workdir={workdir}", "--warmup_epochs=1", "--epochs=2", "--arch_delay_epochs=0",
            "--arch_every=2", "--loss=add#linear", "--target_latency=0.06", "--arch_lr=0.05",
            "--noprogress", *extra]


# Custom layers ---------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="pxnas_tf.testing")
class LayerProbe(keras.Model):
    """A model around one layer, calling `method` with JSON-able keyword
    arguments (`tensors` names the ones to pass as tensors), so that layers
    without a plain `call(x)` save and load inside a `.keras` file too."""

    def __init__(self, layer, method: str = "call", kwargs: dict | None = None,
                 tensors: tuple[str, ...] = (), **base):
        super().__init__(**base)
        self.layer = layer
        self.method, self.kwargs, self.tensors = method, dict(kwargs or {}), tuple(tensors)

    def call(self, x):
        kwargs = {k: tf.constant(v) if k in self.tensors else v for k, v in self.kwargs.items()}
        if self.method == "call":
            return self.layer(x, **kwargs)
        if not self.layer.built:  # a method other than __call__ does not build the layer
            self.layer.build(tuple(x.shape))
        return getattr(self.layer, self.method)(x, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"layer": keras.saving.serialize_keras_object(self.layer),
                       "method": self.method, "kwargs": self.kwargs,
                       "tensors": list(self.tensors)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)


def check_layer_round_trip(layer, inputs, folder: str, method: str = "call",
                           kwargs: dict | None = None, tensors: tuple[str, ...] = ()) -> np.ndarray:
    """keras-hub-style checks of a custom layer, each of which can fail:

    1. it runs on `inputs` and gives the shape `compute_output_shape` says;
    2. `get_config` -> `from_config` gives a layer with the same config that,
       given the same weights, computes the same output;
    3. inside a model saved to `folder`/probe.keras and loaded back, the
       same output again.

    Returns the output."""
    probe = LayerProbe(layer, method, kwargs, tensors)
    out = np.asarray(probe(inputs))
    if hasattr(layer, "compute_output_shape"):
        expected = tuple(layer.compute_output_shape(tuple(inputs.shape)))
        assert tuple(out.shape) == expected, (out.shape, expected)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone_probe = LayerProbe(clone, method, kwargs, tensors)
    clone_probe(inputs)  # builds it
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone_probe(inputs)), out, rtol=1e-6, atol=1e-6)
    path = os.path.join(folder, "probe.keras")
    probe.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), out, rtol=1e-6, atol=1e-6)
    return out


# Bench scripts --------------------------------------------------------------------

def load_bench(name: str):
    """bench/NAME.py of this checkout as a module (the bench scripts are not
    part of the installed package)."""
    module_name = f"bench.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = os.path.join(REPO, "bench", f"{name}.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the bench scripts come with the source checkout")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
