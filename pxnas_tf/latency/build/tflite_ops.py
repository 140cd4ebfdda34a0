"""Whole nets as primitive ops, read from their converted TFLite graph.

The converter decides what a net runs: it folds batch norm into convs,
fuses ReLU / ReLU6 into the op before them, turns a Keras ``hard_swish``
into one HARD_SWISH op and ``swish`` into LOGISTIC + MUL, and a global
average pool into MEAN. Reading the ops back from the flatbuffer follows
those choices exactly, for a Keras model (converted here at the table's
precision) and for a user's own ``.tflite`` file alike. One pattern is
read as one op: a MUL of a tensor by its own LOGISTIC, x * sigmoid(x), is
a `swish` (int8 XNNPACK runs the pair in the time of the LOGISTIC alone;
its probes time the pair).

Every op is listed, RESHAPE too (it costs an invoke of its own); a builtin
op outside `SUPPORTED_OPS` is refused with its name.
"""

from __future__ import annotations

import dataclasses
import math

from pxnas_tf.latency.model.ops import Op, UnsupportedLayerError
from pxnas_tf.tflite.file import op_name, read_model

_SAME_SHAPE = {"HARD_SWISH": "hswish", "LOGISTIC": "sigmoid", "TANH": "sigmoid",
               "SOFTMAX": "softmax", "RELU": "act", "RELU6": "act", "RELU_N1_TO_1": "act",
               "LEAKY_RELU": "act", "PRELU": "act", "QUANTIZE": "quantize",
               "DEQUANTIZE": "quantize", "RESHAPE": "reshape", "SQUEEZE": "reshape"}
_BINARY = {"ADD": "add", "SUB": "add", "MUL": "mul", "DIV": "mul"}
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "PAD", "PADV2", "CONCATENATION", *_BINARY, *_SAME_SHAPE)


def _shape(graph, index: int) -> tuple[int, ...]:
    shape = graph.tensors[index].shape
    dims = tuple(int(d) for d in (shape if shape is not None else ()))
    if dims and dims[0] == 1 and len(dims) > 1:
        dims = dims[1:]
    return dims


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W, C) for images, (C,) for vectors; other ranks as (1, N, C)."""
    if len(shape) in (1, 3):
        return shape
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    return (1, math.prod(shape[:-1]), shape[-1]) if shape else (1,)


def _op(name: str, op, graph) -> Op | None:
    inputs = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
    outputs = list(op.outputs if op.outputs is not None else [])
    x = _hwc(_shape(graph, inputs[0])) if inputs else (1,)
    y = _hwc(_shape(graph, outputs[0])) if outputs else (1,)
    opts = op.builtinOptions
    if name == "CONV_2D":
        kernel = _shape(graph, inputs[1])  # (Cout, kh, kw, Cin / groups)
        groups = max(1, x[-1] // max(1, int(kernel[-1])))
        return Op("conv", x, y, int(kernel[1]), int(opts.strideH), groups)
    if name == "DEPTHWISE_CONV_2D":
        kernel = _shape(graph, inputs[1])  # (kh, kw, Cout) once the leading 1 is dropped
        return Op("dwconv", x, y, int(kernel[0]), int(opts.strideH))
    if name == "FULLY_CONNECTED":
        rows = math.prod(x[:-1]) if len(x) > 1 else 1
        if rows == 1:
            return Op("fc", (x[-1],), (y[-1],))
        return Op("conv", (1, rows, x[-1]), (1, rows, y[-1]), 1, 1)
    if name == "MEAN":
        return Op("pool", x, (x[-1],), x[0])
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return Op("avgpool" if name.startswith("AVERAGE") else "maxpool", x, y,
                  int(opts.filterHeight), int(opts.strideH))
    if name in ("PAD", "PADV2"):
        return Op("pad", x, y)
    if name == "CONCATENATION":
        return Op("concat", x, y)
    if name in _BINARY:
        shapes = [_shape(graph, i) for i in inputs[:2]]
        sizes = sorted(math.prod(s) for s in shapes)
        scalar = len(sizes) == 2 and sizes[0] == 1 < sizes[1]
        broadcast = len(sizes) == 2 and sizes[0] != sizes[1] and not scalar
        return Op(_BINARY[name], y, y, broadcast=broadcast, scalar=scalar)
    if name in _SAME_SHAPE:
        return Op(_SAME_SHAPE[name], x, y)
    return None


def ops_of_tflite(content: bytes) -> list[Op]:
    """The ops of a TFLite model's first subgraph, in execution order.

    Raises:
        TFLiteFileError: the bytes are not a TFLite model.
        UnsupportedLayerError: an op without a latency model (named, with
            the supported ones listed).
    """
    model = read_model(content)
    graph = model.subgraphs[0]
    ops: list[Op] = []
    sigmoid_of: dict[int, tuple[int, int]] = {}  # LOGISTIC output -> (its input, op position)
    for op in graph.operators or []:
        name = op_name(model, op.opcodeIndex)
        parsed = _op(name, op, graph)
        if parsed is None:
            raise UnsupportedLayerError(
                f"the TFLite graph has a {name} op, which has no latency model; supported ops "
                f"are {', '.join(SUPPORTED_OPS)}")
        inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        if name == "LOGISTIC" and op.outputs is not None and len(op.outputs):
            sigmoid_of[int(op.outputs[0])] = (inputs[0], len(ops))
        swish = _swish_partner(name, inputs, sigmoid_of) if not parsed.broadcast else None
        if swish is not None and ops[swish].type == "sigmoid":
            ops[swish] = dataclasses.replace(ops[swish], type="swish")
            continue
        ops.append(parsed)
    return ops


def _swish_partner(name: str, inputs: list[int], sigmoid_of: dict[int, tuple[int, int]]
                   ) -> int | None:
    """The position of the LOGISTIC that a MUL of x by sigmoid(x) pairs with."""
    if name != "MUL" or len(inputs) != 2:
        return None
    for a, b in (inputs, inputs[::-1]):
        if a in sigmoid_of and sigmoid_of[a][0] == b:
            return sigmoid_of[a][1]
    return None


def keras_to_tflite(model, precision: str) -> bytes:
    """A Keras model rebuilt with a batch-1 input and converted as a table of
    `precision` measures its nets (int8: calibrated on random images, which
    is all latency needs)."""
    import keras

    from pxnas_tf.tflite import random_representative_data, to_tflite

    shape = tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        raise UnsupportedLayerError(
            f"model {model.name!r} has input shape {model.input_shape}; rebuild it with a fixed "
            "image size (e.g. input_shape=(96, 96, 3))")
    if model.input_shape[0] != 1:
        x = keras.Input(batch_shape=(1, *shape), name="x")
        model = keras.Model(x, model(x), name=model.name)
    return to_tflite(model, precision, random_representative_data(shape))


def ops_of_keras_model(model, precision: str = "float32") -> list[Op]:
    """The ops a Keras model runs once converted at `precision`."""
    return ops_of_tflite(keras_to_tflite(model, precision))

