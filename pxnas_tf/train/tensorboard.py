"""Epoch metrics to TensorBoard event files.

Keras' TensorBoard callback needs the tensorboard package, which TensorFlow
does not install; `pxnas_tf.summaries.scalar` writes the same scalar
events with core TensorFlow, so runs are viewable with `tensorboard
--logdir WORKDIR/tensorboard` wherever it is installed.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pxnas_tf.summaries import scalar


def tag(metric: str) -> str:
    """"val_accuracy" -> "validation/accuracy", "loss" -> "train/loss",
    "learning_rate" -> "train/learning_rate"."""
    if metric.startswith("val_"):
        return "validation/" + metric[len("val_"):]
    return "train/" + metric


class ScalarLogger(keras.callbacks.Callback):
    """Writes every epoch-end metric as a scalar at step = epoch (1-based).

    Args:
        log_dir: the event-file folder.
    """

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default():
            for name, value in (logs or {}).items():
                scalar(tag(name), float(value), step=epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
