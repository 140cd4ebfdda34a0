"""Latency-table keys: the published ProxylessNAS / once-for-all grammar.

One key names one layer at its concrete shapes; fields are joined by ``-``,
each field after the first is ``name:value``, shapes are ``HxWxC``:

    Conv-input:224x224x3-output:112x112x32
        the stem conv (its kernel and stride are implied by the shapes)
    expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0
        one MBConv block including its residual add (``idskip:1`` where the
        block has one: stride 1 and equal input and output widths)
    Conv_1-input:7x7x320-output:7x7x1280
        the 1x1 head conv
    Logits-input:7x7x1280-output:1000
        global average pool + classifier

Expand ratios print as integers when integral (``expand:6``), otherwise in
the shortest exact form (``expand:4.5``). Other layer kinds and extra fields
(once-for-all's MobileNetV3 keys add ``-se:0-hs:1``) are parsed and kept,
so a table may carry them, but this project's spaces produce only the four
kinds above.

The zero op has no key: a skipped block costs 0 ms.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from pxnas_tf.errors import PxnasError
from pxnas_tf.search_space import grammar
from pxnas_tf.search_space.arch import Arch
from pxnas_tf.search_space.space import BlockSpec, SearchSpace, conv_out_size

STEM = "Conv"
MBCONV = "expanded_conv"
HEAD = "Conv_1"
LOGITS = "Logits"

# Fields every key of a known kind must have, in the order they are printed.
_REQUIRED = {
    STEM: ("input", "output"),
    HEAD: ("input", "output"),
    LOGITS: ("input", "output"),
    MBCONV: ("input", "output", "expand", "kernel", "stride", "idskip"),
}
_SHAPE_RANK = {STEM: (3, 3), HEAD: (3, 3), LOGITS: (3, 1), MBCONV: (3, 3)}

_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*):(?P<value>[^:\s]+)$")
_SHAPE = re.compile(r"^\d+(?:x\d+)*$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


class LatencyKeyError(PxnasError, ValueError):
    """A latency-table key does not follow the grammar; the message quotes
    the key and says which part is wrong."""


@dataclasses.dataclass(frozen=True)
class LayerKey:
    """The fields of one key.

    Attributes:
        kind: layer kind, e.g. ``"expanded_conv"``.
        input_shape: e.g. ``(112, 112, 16)``.
        output_shape: e.g. ``(56, 56, 24)``; ``(1000,)`` for logits.
        expand, kernel, stride, idskip: MBConv fields (None for other kinds).
        extra: further ``(name, value)`` fields, in key order.
    """

    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    expand: int | float | None = None
    kernel: int | None = None
    stride: int | None = None
    idskip: bool | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return format_key(self)


# Formatting -------------------------------------------------------------------

def format_expand(expand: float) -> str:
    """``6`` for 6 or 6.0, ``4.5`` for 4.5."""
    value = float(expand)
    return str(int(value)) if value.is_integer() else repr(value)


def format_shape(shape: Iterable[int]) -> str:
    """``(7, 7, 320)`` -> ``"7x7x320"``."""
    return "x".join(str(int(x)) for x in shape)


def format_key(key: LayerKey) -> str:
    """The key string of `key` (inverse of `parse_key`)."""
    parts = [key.kind, f"input:{format_shape(key.input_shape)}",
             f"output:{format_shape(key.output_shape)}"]
    if key.expand is not None:
        parts.append(f"expand:{format_expand(key.expand)}")
    if key.kernel is not None:
        parts.append(f"kernel:{key.kernel}")
    if key.stride is not None:
        parts.append(f"stride:{key.stride}")
    if key.idskip is not None:
        parts.append(f"idskip:{int(key.idskip)}")
    parts.extend(f"{name}:{value}" for name, value in key.extra)
    return "-".join(parts)


def conv_key(in_hwc: Iterable[int], out_hwc: Iterable[int]) -> str:
    """Stem conv key."""
    return format_key(LayerKey(STEM, tuple(in_hwc), tuple(out_hwc)))


def mbconv_key(in_hwc: Iterable[int], out_hwc: Iterable[int], expand: float, kernel: int,
               stride: int, idskip: bool) -> str:
    """MBConv block key (``expanded_conv-...``)."""
    return format_key(LayerKey(MBCONV, tuple(in_hwc), tuple(out_hwc), expand, kernel, stride,
                               bool(idskip)))


def head_conv_key(in_hwc: Iterable[int], out_hwc: Iterable[int]) -> str:
    """1x1 head conv key (``Conv_1-...``)."""
    return format_key(LayerKey(HEAD, tuple(in_hwc), tuple(out_hwc)))


def logits_key(in_hwc: Iterable[int], num_classes: int) -> str:
    """Global pool + classifier key (``Logits-...``)."""
    return format_key(LayerKey(LOGITS, tuple(in_hwc), (int(num_classes),)))


# Parsing ----------------------------------------------------------------------

def _bad(key: str, problem: str) -> LatencyKeyError:
    return LatencyKeyError(
        f"malformed latency key {key!r}: {problem}; expected e.g. "
        "'expanded_conv-input:56x56x24-output:28x28x40-expand:3-kernel:5-stride:2-idskip:0' "
        "or 'Conv-input:224x224x3-output:112x112x32'"
    )


def _int_field(key: str, name: str, value: str) -> int:
    if not value.isdigit():
        raise _bad(key, f"field '{name}' must be a non-negative integer, got {value!r}")
    return int(value)


def parse_key(key: str) -> LayerKey:
    """Splits a key string into its fields.

    Raises:
        LatencyKeyError: quoting the key and naming the malformed part.
    """
    if not isinstance(key, str) or not key.strip():
        raise LatencyKeyError(f"malformed latency key {key!r}: expected a non-empty string")
    if key != key.strip():
        raise _bad(key, "leading or trailing whitespace")
    kind, *parts = key.split("-")
    if not _KIND.match(kind):
        raise _bad(key, f"layer kind {kind!r} is not a name")
    fields: dict[str, str] = {}
    for part in parts:
        match = _FIELD.match(part)
        if not match:
            raise _bad(key, f"field {part!r} is not 'name:value'")
        if match["name"] in fields:
            raise _bad(key, f"field '{match['name']}' appears twice")
        fields[match["name"]] = match["value"]
    for name in ("input", "output"):
        if name not in fields:
            raise _bad(key, f"missing field '{name}'")
        if not _SHAPE.match(fields[name]):
            raise _bad(key, f"field '{name}' must be a shape such as 7x7x320, got {fields[name]!r}")
    in_shape = tuple(int(x) for x in fields.pop("input").split("x"))
    out_shape = tuple(int(x) for x in fields.pop("output").split("x"))
    if kind in _REQUIRED:
        missing = [f for f in _REQUIRED[kind] if f not in ("input", "output") and f not in fields]
        if missing:
            raise _bad(key, f"a '{kind}' key needs field(s) {missing}")
        in_rank, out_rank = _SHAPE_RANK[kind]
        if len(in_shape) != in_rank or len(out_shape) != out_rank:
            raise _bad(key, f"a '{kind}' key has a rank-{in_rank} input and a rank-{out_rank} "
                            f"output, got {len(in_shape)} and {len(out_shape)}")
    if 0 in in_shape or 0 in out_shape:
        raise _bad(key, "shapes must be positive")
    expand = kernel = stride = idskip = None
    if "expand" in fields:
        text = fields.pop("expand")
        if not _NUMBER.match(text) or float(text) <= 0:
            raise _bad(key, f"field 'expand' must be a positive number, got {text!r}")
        value = float(text)
        expand = int(value) if value.is_integer() else value
    if "kernel" in fields:
        kernel = _int_field(key, "kernel", fields.pop("kernel"))
        if kernel < 1 or (kernel % 2 == 0 and kind == MBCONV):
            raise _bad(key, f"field 'kernel' must be a positive odd number, got {kernel}")
    if "stride" in fields:
        stride = _int_field(key, "stride", fields.pop("stride"))
        if stride < 1:
            raise _bad(key, "field 'stride' must be >= 1")
    if "idskip" in fields:
        text = fields.pop("idskip")
        if text not in ("0", "1"):
            raise _bad(key, f"field 'idskip' must be 0 or 1, got {text!r}")
        idskip = text == "1"
    return LayerKey(kind, in_shape, out_shape, expand, kernel, stride, idskip,
                    tuple(fields.items()))


def normalize_key(key: str) -> str:
    """The canonical spelling of `key` (e.g. ``expand:6.0`` -> ``expand:6``).

    Raises:
        LatencyKeyError: if `key` is malformed.
    """
    return format_key(parse_key(key))


# Keys of a search space ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LayerRef:
    """One layer of a network and its key.

    Attributes:
        name: ``"stem"``, ``"first_block"``, ``"blocks.<i>"``, ``"head_conv"`` or ``"logits"``.
        op: the block's op string (``"k5_e3"``, ``"zero"``), None for fixed layers.
        key: the table key; None for the zero op (it costs nothing).
    """

    name: str
    op: str | None
    key: str | None


def stem_key(space: SearchSpace) -> str:
    """Key of the stem conv of `space`."""
    h, w = space.stem_out_size
    return conv_key(space.input_shape, (h, w, space.stem_channels))


def first_block_key(space: SearchSpace) -> str:
    """Key of the fixed first MBConv (stride 1, after the stem)."""
    op = grammar.decode_op(space.first_block_op)
    h, w = space.stem_out_size
    cin, cout = space.stem_channels, space.first_block_channels
    return mbconv_key((h, w, cin), (h, w, cout), op.expand, op.kernel, 1, cin == cout)


def block_key(block: BlockSpec, op: str) -> str | None:
    """Key of candidate `op` in searchable `block`; None for the zero op.

    Raises:
        ValueError: if `op` is not an op string.
    """
    spec = grammar.decode_op(op)
    if spec.is_zero:
        return None
    return mbconv_key((*block.in_size, block.in_channels), (*block.out_size, block.out_channels),
                      spec.expand, spec.kernel, block.stride, block.residual)


def head_key(space: SearchSpace) -> str:
    """Key of the 1x1 head conv."""
    h, w = space.feature_size
    return head_conv_key((h, w, space.last_channels), (h, w, space.head_channels))


def classifier_key(space: SearchSpace) -> str:
    """Key of global pool + classifier."""
    h, w = space.feature_size
    return logits_key((h, w, space.head_channels), space.num_classes)


def fixed_layers(space: SearchSpace) -> list[LayerRef]:
    """The layers every arch of `space` has: stem, first block, head conv, logits."""
    return [
        LayerRef("stem", None, stem_key(space)),
        LayerRef("first_block", grammar.decode_op(space.first_block_op).name, first_block_key(space)),
        LayerRef("head_conv", None, head_key(space)),
        LayerRef("logits", None, classifier_key(space)),
    ]


def block_candidate_keys(space: SearchSpace) -> list[list[str | None]]:
    """Per searchable block, the key of every candidate in candidate order
    (None for the zero op)."""
    return [[block_key(b, op) for op in b.candidates] for b in space.blocks()]


def space_keys(space: SearchSpace) -> list[str]:
    """Every distinct key any arch of `space` can need, in network order:
    stem, first block, the candidates of each block, head conv, logits."""
    fixed = fixed_layers(space)
    ordered = [fixed[0].key, fixed[1].key]
    ordered += [k for keys in block_candidate_keys(space) for k in keys if k is not None]
    ordered += [fixed[2].key, fixed[3].key]
    return list(dict.fromkeys(ordered))


def arch_layers(arch: Arch) -> list[LayerRef]:
    """Every layer of `arch` in network order, with its key (None for a zero op)."""
    stem, first, head, logits = fixed_layers(arch.space)
    blocks = [LayerRef(f"blocks.{b.index}", op, block_key(b, op))
              for b, op in zip(arch.space.blocks(), arch.ops)]
    return [stem, first, *blocks, head, logits]


def arch_keys(arch: Arch) -> list[str]:
    """The keys of the layers `arch` runs (zero ops left out), in network order;
    a key repeats when two blocks have the same shapes and op."""
    return [layer.key for layer in arch_layers(arch) if layer.key is not None]


def stem_stride(in_size: int, out_size: int, kernel: int) -> int:
    """The stride that maps `in_size` to `out_size` with a `kernel` conv padded
    k // 2 (the stem key does not spell it).

    Raises:
        LatencyKeyError: if no stride does.
    """
    for stride in range(1, in_size + 1):
        if conv_out_size(in_size, kernel, stride) == out_size:
            return stride
    raise LatencyKeyError(f"no stride maps size {in_size} to {out_size} with a {kernel}x{kernel} "
                          "conv padded k // 2")
