"""TensorBoard scalars without the tensorboard package.

`tf.summary.scalar` lives in the tensorboard package, which TensorFlow does
not install. The scalar plugin reads any summary tagged with its plugin
name, so writing the value with core `tf.summary.write` and that metadata
gives the same event files (view them with `pip install tensorboard`).
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

_METADATA = summary_pb2.SummaryMetadata()
_METADATA.plugin_data.plugin_name = "scalars"
_METADATA_BYTES = _METADATA.SerializeToString()


def scalar(name: str, value: float, step: int | None = None) -> None:
    """Writes one scalar to the default summary writer (a no-op without one)."""
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                     metadata=_METADATA_BYTES)
