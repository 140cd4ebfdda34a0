"""Search spaces as data.

A search space is a JSON document (see `SearchSpace` for every field):

    {
      "name": "proxyless_imagenet",
      "input_shape": [224, 224, 3],
      "num_classes": 1000,
      "stem": {"width": 32, "kernel": 3, "stride": 2},
      "first_block": {"width": 16, "op": "k3_e1"},
      "stages": [{"width": 24, "blocks": 4, "stride": 2}, ...],
      "candidates": ["k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6"],
      "zero_op": true,
      "head_width": 1280,
      "width_mult": 1.0
    }

A stage may carry its own "candidates" list. The zero op is a candidate only
where a block has stride 1 and equal input and output widths (the blocks after
the first of a stage). Widths are scaled by `width_mult` and rounded with
`make_divisible(c, 8)`; the head width is scaled only when `width_mult > 1`,
as in MobileNetV2 and ProxylessNAS.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from pxnas_tf.errors import PxnasError
from pxnas_tf.search_space import grammar

_PRESET_DIR = os.path.join(os.path.dirname(__file__), "presets")


class SpaceError(PxnasError, ValueError):
    """A search-space or arch document is malformed; the message names the
    source, the field and what was expected."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Rounds `value` to the nearest multiple of `divisor`, never dropping
    below 90% of `value` (the MobileNet rule)."""
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def hidden_width(in_channels: int, expand: float) -> int:
    """Hidden width of an inverted bottleneck: round(in * expand)."""
    return int(round(in_channels * expand))


def conv_out_size(size: int, kernel: int, stride: int) -> int:
    """Output size of a conv with symmetric padding kernel // 2 (the
    original's padding, used by every conv here)."""
    pad = kernel // 2
    return (size + 2 * pad - kernel) // stride + 1


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: `blocks` blocks of width `width`; the first has `stride`."""

    width: int
    blocks: int
    stride: int
    candidates: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """A searchable block with its concrete shapes (after width_mult)."""

    index: int  # 0-based among searchable blocks
    stage: int
    in_channels: int
    out_channels: int
    stride: int
    in_size: tuple[int, int]  # (H, W) of the block input
    out_size: tuple[int, int]
    candidates: tuple[str, ...]  # includes "zero" where allowed

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A ProxylessNAS-style search space.

    Attributes:
        name: preset or user name.
        input_shape: (H, W, C) of one image.
        num_classes: classifier outputs.
        stem_width, stem_kernel, stem_stride: the first conv (BN, ReLU6).
        first_block_width, first_block_op: the fixed first MBConv (stride 1).
        stages: the searchable stages.
        candidates: ops of every searchable block (unless a stage overrides).
        zero_op: add the zero op where the block has a residual connection.
        head_width: the 1x1 conv before global pooling.
        width_mult: multiplier for all widths (head only when > 1).
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    stages: tuple[Stage, ...]
    candidates: tuple[str, ...] = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
    zero_op: bool = True
    stem_width: int = 32
    stem_kernel: int = 3
    stem_stride: int = 2
    first_block_width: int = 16
    first_block_op: str = "k3_e1"
    head_width: int = 1280
    width_mult: float = 1.0

    # Derived shapes -------------------------------------------------------

    def scaled(self, width: int) -> int:
        return make_divisible(width * self.width_mult, 8)

    @property
    def stem_channels(self) -> int:
        return self.scaled(self.stem_width)

    @property
    def first_block_channels(self) -> int:
        return self.scaled(self.first_block_width)

    @property
    def head_channels(self) -> int:
        if self.width_mult > 1.0:
            return self.scaled(self.head_width)
        return self.head_width

    @property
    def stem_out_size(self) -> tuple[int, int]:
        h, w, _ = self.input_shape
        k, s = self.stem_kernel, self.stem_stride
        return conv_out_size(h, k, s), conv_out_size(w, k, s)

    @property
    def last_channels(self) -> int:
        return self.scaled(self.stages[-1].width) if self.stages else self.first_block_channels

    def blocks(self) -> list[BlockSpec]:
        """All searchable blocks in order, with their shapes and candidates."""
        specs = []
        in_ch, size = self.first_block_channels, self.stem_out_size
        for si, stage in enumerate(self.stages):
            out_ch = self.scaled(stage.width)
            ops = tuple(stage.candidates or self.candidates)
            for bi in range(stage.blocks):
                stride = stage.stride if bi == 0 else 1
                out_size = tuple(conv_out_size(x, 3, stride) for x in size)  # odd k: same
                residual = stride == 1 and in_ch == out_ch
                cands = ops + ((grammar.ZERO,) if (self.zero_op and residual) else ())
                specs.append(BlockSpec(len(specs), si, in_ch, out_ch, stride, size, out_size, cands))
                in_ch, size = out_ch, out_size
        return specs

    @property
    def num_blocks(self) -> int:
        return sum(s.blocks for s in self.stages)

    @property
    def feature_size(self) -> tuple[int, int]:
        blocks = self.blocks()
        return blocks[-1].out_size if blocks else self.stem_out_size

    def num_archs(self) -> int:
        return math.prod(len(b.candidates) for b in self.blocks())

    def replace(self, **changes: Any) -> "SearchSpace":
        """A copy with fields changed (validated)."""
        return space_from_dict({**self.to_dict(), **_flatten_changes(changes)}, source=self.name)

    # Serialization --------------------------------------------------------

    def to_dict(self) -> dict:
        stages = []
        for s in self.stages:
            d = {"width": s.width, "blocks": s.blocks, "stride": s.stride}
            if s.candidates:
                d["candidates"] = list(s.candidates)
            stages.append(d)
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "stem": {"width": self.stem_width, "kernel": self.stem_kernel, "stride": self.stem_stride},
            "first_block": {"width": self.first_block_width, "op": self.first_block_op},
            "stages": stages,
            "candidates": list(self.candidates),
            "zero_op": self.zero_op,
            "head_width": self.head_width,
            "width_mult": self.width_mult,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _flatten_changes(changes: dict) -> dict:
    """Maps dataclass-style keyword changes onto the JSON layout."""
    out = dict(changes)
    stem = {}
    for key in ("stem_width", "stem_kernel", "stem_stride"):
        if key in out:
            stem[key[len("stem_"):]] = out.pop(key)
    if stem:
        out["stem"] = stem
    first = {}
    if "first_block_width" in out:
        first["width"] = out.pop("first_block_width")
    if "first_block_op" in out:
        first["op"] = out.pop("first_block_op")
    if first:
        out["first_block"] = first
    if "stages" in out:
        out["stages"] = [
            dataclasses.asdict(s) if isinstance(s, Stage) else s for s in out["stages"]
        ]
    return out


# Validation helpers -----------------------------------------------------------

def field_error(source: str, field: str, expected: str, got: Any) -> SpaceError:
    return SpaceError(f"{source}: field '{field}': expected {expected}, got {got!r}")


def _int(d: dict, key: str, source: str, field: str, minimum: int = 1, default=None) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise field_error(source, field, f"an integer >= {minimum}", value)
    return value


def _ops(value: Any, source: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise field_error(source, field, "a non-empty list of ops such as ['k3_e3', 'k5_e6']", value)
    ops = []
    for i, op in enumerate(value):
        try:
            spec = grammar.decode_op(op)
        except ValueError as e:
            raise SpaceError(f"{source}: field '{field}[{i}]': {e}") from None
        if spec.is_zero:
            raise SpaceError(
                f"{source}: field '{field}[{i}]': 'zero' is not listed among candidates; "
                "set \"zero_op\": true to allow it where a block has a residual connection"
            )
        ops.append(spec.name)
    if len(set(ops)) != len(ops):
        raise field_error(source, field, "distinct ops", value)
    return tuple(ops)


_SPACE_KEYS = {
    "name", "input_shape", "num_classes", "stem", "first_block", "stages",
    "candidates", "zero_op", "head_width", "width_mult", "description",
}


def space_from_dict(d: dict, source: str = "<search space>") -> SearchSpace:
    """Validates a search-space document and builds the `SearchSpace`.

    Raises:
        SpaceError: naming `source`, the field and what was expected.
    """
    if not isinstance(d, dict):
        raise SpaceError(f"{source}: expected a JSON object, got {type(d).__name__}")
    unknown = set(d) - _SPACE_KEYS
    if unknown:
        raise SpaceError(
            f"{source}: unknown field(s) {sorted(unknown)}; valid fields are {sorted(_SPACE_KEYS)}"
        )
    name = d.get("name", os.path.splitext(os.path.basename(source))[0])
    shape = d.get("input_shape")
    if (
        not isinstance(shape, (list, tuple)) or len(shape) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in shape)
    ):
        raise field_error(source, "input_shape", "[height, width, channels] of positive integers", shape)
    num_classes = _int(d, "num_classes", source, "num_classes")
    stem = d.get("stem", {})
    if not isinstance(stem, dict):
        raise field_error(source, "stem", "an object {width, kernel, stride}", stem)
    stem_width = _int(stem, "width", source, "stem.width", default=32)
    stem_kernel = _int(stem, "kernel", source, "stem.kernel", default=3)
    if stem_kernel % 2 == 0:
        raise field_error(source, "stem.kernel", "an odd kernel size", stem_kernel)
    stem_stride = _int(stem, "stride", source, "stem.stride", default=2)
    first = d.get("first_block", {})
    if not isinstance(first, dict):
        raise field_error(source, "first_block", "an object {width, op}", first)
    first_width = _int(first, "width", source, "first_block.width", default=16)
    try:
        first_op = grammar.decode_op(first.get("op", "k3_e1"))
    except ValueError as e:
        raise SpaceError(f"{source}: field 'first_block.op': {e}") from None
    if first_op.is_zero:
        raise field_error(source, "first_block.op", "an MBConv op (the first block is fixed)", "zero")
    raw_stages = d.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise field_error(source, "stages", "a non-empty list of {width, blocks, stride}", raw_stages)
    stages = []
    for i, s in enumerate(raw_stages):
        f = f"stages[{i}]"
        if not isinstance(s, dict):
            raise field_error(source, f, "an object {width, blocks, stride}", s)
        extra = set(s) - {"width", "blocks", "stride", "candidates"}
        if extra:
            raise field_error(source, f, "only width, blocks, stride, candidates", sorted(extra))
        cands = s.get("candidates")
        stages.append(Stage(
            width=_int(s, "width", source, f + ".width"),
            blocks=_int(s, "blocks", source, f + ".blocks"),
            stride=_int(s, "stride", source, f + ".stride"),
            candidates=None if cands is None else _ops(cands, source, f + ".candidates"),
        ))
    candidates = _ops(d.get("candidates", list(SearchSpace.candidates)), source, "candidates")
    zero_op = d.get("zero_op", True)
    if not isinstance(zero_op, bool):
        raise field_error(source, "zero_op", "true or false", zero_op)
    head_width = _int(d, "head_width", source, "head_width", default=1280)
    width_mult = d.get("width_mult", 1.0)
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise field_error(source, "width_mult", "a positive number", width_mult)
    space = SearchSpace(
        name=str(name), input_shape=tuple(shape), num_classes=num_classes, stages=tuple(stages),
        candidates=candidates, zero_op=zero_op, stem_width=stem_width, stem_kernel=stem_kernel,
        stem_stride=stem_stride, first_block_width=first_width, first_block_op=first_op.name,
        head_width=head_width, width_mult=float(width_mult),
    )
    if min(space.feature_size) < 1:
        raise SpaceError(f"{source}: input_shape {list(shape)} is too small for the strides of this space")
    return space


def list_presets() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(_PRESET_DIR) if f.endswith(".json"))


def load_space(name_or_path: str | dict | SearchSpace, **overrides: Any) -> SearchSpace:
    """Loads a preset by name, a JSON file by path, or a dict; applies overrides.

    Raises:
        SpaceError: for an unknown name (listing the presets) or a malformed file.
    """
    if isinstance(name_or_path, SearchSpace):
        space = name_or_path
    elif isinstance(name_or_path, dict):
        space = space_from_dict(name_or_path)
    else:
        path = str(name_or_path)
        if not (path.endswith(".json") or os.sep in path or os.path.exists(path)):
            preset = os.path.join(_PRESET_DIR, path + ".json")
            if not os.path.exists(preset):
                raise SpaceError(
                    f"unknown search space {path!r}: valid names are {list_presets()}, "
                    "or pass the path of a JSON file"
                )
            path = preset
        if not os.path.exists(path):
            raise SpaceError(f"search-space file {path!r} does not exist")
        space = space_from_dict(read_json(path), source=path)
    return space.replace(**overrides) if overrides else space


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise SpaceError(f"{path}: not valid JSON ({e})") from None
