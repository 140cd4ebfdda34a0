"""Reading a TFLite flatbuffer without running it: operators with their
tensor types, input / output quantization, and custom metadata entries.

Uses the schema module that ships with ai-edge-litert (the runtime), so no
extra dependency is needed. Only the first subgraph is inspected (the
models exported here have one).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pxnas_tf.errors import PxnasError

_FILE_IDENTIFIER = b"TFL3"
# Buffers hold weights that kernels read in place: keep the converter's
# 16-byte alignment when re-packing.
_BUFFER_ALIGNMENT = 16
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


class TFLiteFileError(PxnasError, ValueError):
    """The bytes are not a TFLite flatbuffer."""


@dataclasses.dataclass(frozen=True)
class OpInfo:
    """One operator of a TFLite graph.

    Attributes:
        index: position in execution order.
        name: builtin name (``CONV_2D``) or the custom code.
        input_types: tensor type names of the inputs (optional inputs skipped).
        output_types: tensor type names of the outputs.
    """

    index: int
    name: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    @property
    def float_types(self) -> tuple[str, ...]:
        """The float tensor types the op reads or writes."""
        return tuple(t for t in self.input_types + self.output_types if t in FLOAT_TYPES)


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: shape, type and (for integer tensors) the
    affine quantization ``real = scale * (q - zero_point)``."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_model(content: bytes) -> schema.ModelT:
    """Unpacks a flatbuffer into the schema's object API.

    Raises:
        TFLiteFileError: when `content` is not a TFLite model.
    """
    if len(content) < 8 or content[4:8] != _FILE_IDENTIFIER:
        raise TFLiteFileError("not a TFLite flatbuffer (missing the 'TFL3' file identifier)")
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAs(bytearray(content), 0))
    except Exception as e:  # a truncated buffer raises struct / index errors
        raise TFLiteFileError(f"malformed TFLite flatbuffer: {e}") from None


def write_model(model: schema.ModelT) -> bytes:
    """Packs the object API back into flatbuffer bytes (16-byte aligned
    buffers, as the converter writes them)."""
    for buffer in model.buffers or []:
        buffer.__class__ = _AlignedBufferT
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


class _AlignedBufferT(schema.BufferT):
    """A `BufferT` whose data vector starts on a 16-byte boundary."""

    def Pack(self, builder):  # noqa: N802 (the schema's method name)
        data = None
        if self.data is not None:
            payload = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            builder.vectorNumElems = len(payload)
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def op_name(model: schema.ModelT, opcode_index: int) -> str:
    """The builtin name (``CONV_2D``) or custom code of an operator code."""
    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return (code.customCode or b"CUSTOM").decode() if isinstance(code.customCode, bytes) \
            else str(code.customCode or "CUSTOM")
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _type_names(subgraph, indices: Iterable[int]) -> tuple[str, ...]:
    if indices is None:
        return ()
    return tuple(_TYPE_NAMES[subgraph.tensors[i].type] for i in indices if i >= 0)


def list_ops(content: bytes | schema.ModelT) -> list[OpInfo]:
    """Operators of the first subgraph in execution order."""
    model = content if isinstance(content, schema.ModelT) else read_model(content)
    graph = model.subgraphs[0]
    return [OpInfo(i, op_name(model, op.opcodeIndex), _type_names(graph, op.inputs),
                   _type_names(graph, op.outputs))
            for i, op in enumerate(graph.operators or [])]


def op_counts(ops: Iterable[OpInfo]) -> dict[str, int]:
    """Op name -> how many times it occurs, in order of first occurrence."""
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return counts


def non_integer_ops(ops: Iterable[OpInfo]) -> list[OpInfo]:
    """The ops of a graph that read or write a float tensor: in a full-int8
    model there must be none (a DEQUANTIZE -> float op -> QUANTIZE detour is
    what the converter leaves where an op has no int8 kernel)."""
    return [op for op in ops if op.float_types]


def _tensor_info(model: schema.ModelT, index: int) -> TensorInfo:
    tensor = model.subgraphs[0].tensors[index]
    q = tensor.quantization
    scale = zero_point = None
    if q is not None and q.scale is not None and len(q.scale) == 1:
        scale, zero_point = float(q.scale[0]), int(q.zeroPoint[0])
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
    return TensorInfo(name, shape, _TYPE_NAMES[tensor.type], scale, zero_point)


def io_tensors(content: bytes | schema.ModelT) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """(inputs, outputs) of the first subgraph."""
    model = content if isinstance(content, schema.ModelT) else read_model(content)
    graph = model.subgraphs[0]
    return ([_tensor_info(model, i) for i in graph.inputs],
            [_tensor_info(model, i) for i in graph.outputs])


def metadata_entries(content: bytes | schema.ModelT) -> dict[str, bytes]:
    """Every entry of the model's ``metadata`` table: name -> buffer bytes
    (the converter's own ``min_runtime_version`` and
    ``CONVERSION_METADATA`` included)."""
    model = content if isinstance(content, schema.ModelT) else read_model(content)
    out = {}
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
        data = model.buffers[entry.buffer].data
        out[name] = b"" if data is None else np.asarray(data, dtype=np.uint8).tobytes()
    return out


def set_metadata_entry(content: bytes, name: str, data: bytes) -> bytes:
    """A copy of the model with metadata entry `name` holding `data`
    (replacing an entry of the same name)."""
    model = read_model(content)
    model.metadata = [m for m in (model.metadata or [])
                      if (m.name.decode() if isinstance(m.name, bytes) else m.name) != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8).copy()
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return write_model(model)
