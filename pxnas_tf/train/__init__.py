"""Training derived nets: SGD Nesterov with warm-up + cosine, label
smoothing, weight decay on kernels, mixed precision, tf.distribute,
warm start from a supernet, checkpoints and resume.

    from pxnas_tf.train import TrainConfig, train
    result = train(arch, splits, "runs/net", TrainConfig(epochs=5))

The strategy comes from `pxnas_tf.distribute.make_strategy` (shared
with the search); warm starts from `pxnas_tf.train.warm_start.warm_start`.

Names are imported on first use (PEP 562), so that `pxnas_tf.models.weights`
(numpy only) can be used by the tf_keras QAT process without pulling Keras 3
in through this package.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "pxnas_tf.train.config",
    "TrainError": "pxnas_tf.train.config",
    "TrainResult": "pxnas_tf.train.trainer",
    "train": "pxnas_tf.train.trainer",
    "WarmupCosine": "pxnas_tf.train.schedules",
    "warmup_cosine": "pxnas_tf.train.schedules",
    "compile_model": "pxnas_tf.train.trainer",
    "training_model": "pxnas_tf.train.model_setup",
    "transfer_weights": "pxnas_tf.models.weights",
    "layer_weights": "pxnas_tf.models.weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pxnas_tf.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
