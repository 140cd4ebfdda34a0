"""The model that trains: the derived net with dropout, weight decay as L2
on the kernels, and the chosen precision.

The derived-net builder knows nothing about training; weight decay and a
float32 classifier (for mixed precision) are added by rewriting the
model's config, which keeps them in the saved `.keras` file as stock Keras
settings.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import tensorflow as tf

from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch
from pxnas_tf.train.config import TrainConfig

# Layer class -> its kernel regularizer argument.
_KERNEL_ARGS = {"Conv2D": "kernel_regularizer", "DepthwiseConv2D": "depthwise_regularizer",
                "Dense": "kernel_regularizer"}
_EXTRA_ARGS = {"Conv2D": ("bias_regularizer",), "DepthwiseConv2D": ("bias_regularizer",),
               "Dense": ("bias_regularizer",),
               "BatchNormalization": ("gamma_regularizer", "beta_regularizer")}
CLASSIFIER = "logits"


def resolve_precision(precision: str, strategy: tf.distribute.Strategy | None = None) -> str:
    """The Keras dtype policy for `precision` ("auto": mixed_float16 on GPUs
    of compute capability >= 7.0, mixed_bfloat16 under a TPU strategy,
    float32 otherwise, e.g. on CPUs)."""
    if precision != "auto":
        return precision
    if strategy is not None and "TPU" in type(strategy).__name__:
        return "mixed_bfloat16"
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return "mixed_float16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Sets the global Keras dtype policy, restoring the previous one."""
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def with_weight_decay(config: dict, weight_decay: float, decay_bn_bias: bool = False,
                      float32_layers: tuple[str, ...] = ()) -> dict:
    """A functional-model config with L2 regularizers added.

    Args:
        config: `model.get_config()` (not modified).
        weight_decay: PyTorch-style decay; the L2 factor is half of it.
        decay_bn_bias: also regularize biases and BN gammas / betas.
        float32_layers: layer names forced to the float32 policy.
    """
    l2 = keras.regularizers.serialize(keras.regularizers.L2(weight_decay / 2.0))
    layers = []
    for layer in config["layers"]:
        layer = {**layer, "config": dict(layer["config"])}
        cls, cfg = layer["class_name"], layer["config"]
        if weight_decay > 0 and cls in _KERNEL_ARGS:
            cfg[_KERNEL_ARGS[cls]] = l2
        if weight_decay > 0 and decay_bn_bias:
            for arg in _EXTRA_ARGS.get(cls, ()):
                if arg != "bias_regularizer" or cfg.get("use_bias", True):
                    cfg[arg] = l2
        if cfg.get("name") in float32_layers:
            cfg["dtype"] = "float32"
        layers.append(layer)
    return {**config, "layers": layers}


def training_model(arch: Arch, config: TrainConfig, policy: str = "float32") -> keras.Model:
    """The derived net of `arch` as it trains: dropout before the classifier,
    L2 weight decay, layers in `policy` and a float32 classifier."""
    with dtype_policy(policy):
        model = build_model(arch, dropout=config.dropout)
        mixed = policy.startswith("mixed")
        new_config = with_weight_decay(model.get_config(), config.weight_decay,
                                       config.decay_bn_bias, (CLASSIFIER,) if mixed else ())
        trained = keras.Model.from_config(new_config)
    trained.set_weights(model.get_weights())
    return trained


def decayed_weight_names(model: keras.Model) -> list[str]:
    """Paths of the variables that carry an L2 regularizer."""
    return [v.path for v in model.trainable_variables if getattr(v, "regularizer", None)]
