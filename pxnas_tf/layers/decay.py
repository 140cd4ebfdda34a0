"""Which variables weight decay applies to (conv, depthwise and dense
kernels by default), shared by the mixed ops and the supernet."""

from __future__ import annotations

import keras

_DECAYED_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def decay_variables(layer: keras.layers.Layer, include_bn_bias: bool = False) -> list:
    """The variables weight decay applies to inside `layer`: conv, depthwise
    and dense kernels; with `include_bn_bias` every trainable variable."""
    if include_bn_bias:
        return list(layer.trainable_variables)
    out = []
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        if isinstance(sub, _DECAYED_LAYERS):
            out.append(sub.kernel)
    return out
