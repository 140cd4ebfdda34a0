"""Tiny spaces and in-memory data shared by the search tests."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pxnas_tf.search import SearchData
from pxnas_tf.search_space import load_space


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
