"""Keras conv nets as lists of primitive TFLite ops with shapes: a walk over
the layers of any Keras functional model (see `pxnas_tf.latency.model.ops`
for the ops and what each costs nothing of)."""

from __future__ import annotations

import math

from pxnas_tf.latency.model.op_model import OpModel, OpPrediction
from pxnas_tf.latency.model.ops import Op, UnsupportedLayerError

_FREE = ("InputLayer", "BatchNormalization", "ReLU", "Dropout", "Flatten", "Reshape",
         "Identity", "SpatialDropout2D", "GaussianNoise", "ActivityRegularization")


_FREE_ACTIVATIONS = ("relu", "relu6", "linear", None)


SUPPORTED_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "ZeroPadding2D",
                    "AveragePooling2D", "MaxPooling2D", "GlobalAveragePooling2D",
                    "GlobalMaxPooling2D", "Add", "BatchNormalization", "ReLU",
                    "Activation(relu/relu6/linear)", "Dropout", "Flatten", "Reshape")


def _shape(t) -> tuple[int, ...]:
    shape = tuple(t.shape)[1:]
    if any(d is None for d in shape):
        raise UnsupportedLayerError(f"tensor {getattr(t, 'name', t)} has a dynamic shape "
                                    f"{tuple(t.shape)}; build the model with a fixed input shape")
    return tuple(int(d) for d in shape)


def _activation_name(layer) -> str | None:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


def _layer_ops(layer, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> list[Op]:
    import keras

    L = keras.layers
    name = type(layer).__name__
    if isinstance(layer, L.Conv2D) and not isinstance(layer, (L.DepthwiseConv2D,
                                                              L.SeparableConv2D)):
        if layer.groups != 1:
            raise UnsupportedLayerError(f"layer {layer.name!r}: grouped Conv2D (groups="
                                        f"{layer.groups}) has no latency model")
        _check_activation(layer)
        return [Op("conv", ins[0], out, max(layer.kernel_size), max(layer.strides))]
    if isinstance(layer, L.DepthwiseConv2D):
        _check_activation(layer)
        return [Op("dwconv", ins[0], out, max(layer.kernel_size), max(layer.strides))]
    if isinstance(layer, L.SeparableConv2D):
        _check_activation(layer)
        mid = (*out[:2], ins[0][-1] * layer.depth_multiplier)
        return [Op("dwconv", ins[0], mid, max(layer.kernel_size), max(layer.strides)),
                Op("conv", mid, out, 1, 1)]
    if isinstance(layer, L.Dense):
        _check_activation(layer)
        spatial = math.prod(ins[0][:-1]) if len(ins[0]) > 1 else 1
        if spatial == 1:
            return [Op("fc", (ins[0][-1],), (out[-1],))]
        return [Op("conv", (1, spatial, ins[0][-1]), (1, spatial, out[-1]), 1, 1)]
    if isinstance(layer, L.ZeroPadding2D):
        return [Op("pad", ins[0], out)]
    if isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)):
        return [Op("pool", ins[0], (ins[0][-1],), ins[0][0])]
    if isinstance(layer, (L.AveragePooling2D, L.MaxPooling2D)):
        return [Op("pool", ins[0], out, max(layer.pool_size), max(layer.strides))]
    if isinstance(layer, L.Add):
        return [Op("add", out, out)]
    if name in _FREE:
        return []
    if isinstance(layer, L.Activation) and _activation_name(layer) in _FREE_ACTIVATIONS:
        return []
    raise UnsupportedLayerError(
        f"cannot predict the latency of layer {layer.name!r} ({name}): supported layers are "
        f"{', '.join(SUPPORTED_LAYERS)}")


def _check_activation(layer) -> None:
    if _activation_name(layer) not in _FREE_ACTIVATIONS:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: fused activation {_activation_name(layer)!r} has no latency "
            "model (relu, relu6 and linear fuse into the op)")


def ops_of_keras_model(model) -> list[Op]:
    """The ops of a Keras functional or sequential model, in layer order
    (nested models are walked).

    Raises:
        UnsupportedLayerError: naming the first layer without a latency
            model, or a dynamic shape.
    """
    import keras

    ops: list[Op] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            ops += ops_of_keras_model(layer)
            continue
        for node in getattr(layer, "_inbound_nodes", []):
            ins = node.input_tensors
            ins = list(ins) if isinstance(ins, (list, tuple)) else [ins]
            outs = node.output_tensors
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            if isinstance(layer, keras.layers.InputLayer):
                continue
            ops += _layer_ops(layer, [_shape(t) for t in ins], _shape(outs[0]))
    return ops


def predict_keras_model(op_model: OpModel, model) -> OpPrediction:
    """A whole Keras conv net under the op model (one invoke: the per-invoke
    overhead is added once)."""
    return op_model.predict_ops(ops_of_keras_model(model), add_overhead=True)
