"""Candidate operations and their string grammar.

This module is the one decoder of op strings. Grammar (case-insensitive):

    k{K}_e{E}        MBConv with a KxK depthwise kernel and expand ratio E,
                     e.g. ``k3_e6``, ``k7_e3``. E may be fractional (``k3_e4.5``).
    zero             the zero op: the block is skipped (identity in a derived
                     net, because it is only allowed where the block has a
                     residual connection).

The original ProxylessNAS names are accepted as aliases and normalised:
``3x3_MBConv6`` -> ``k3_e6``, ``Zero`` / ``zero`` -> ``zero``.
"""

from __future__ import annotations

import dataclasses
import re

ZERO = "zero"

_CANONICAL = re.compile(r"^k(?P<k>\d+)_e(?P<e>\d+(?:\.\d+)?)$")
_ORIGINAL = re.compile(r"^(?P<k>\d+)x(?P=k)_mbconv(?P<e>\d+(?:\.\d+)?)$")


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One candidate op of a block.

    Attributes:
        kernel: depthwise kernel size (odd), 0 for the zero op.
        expand: expand ratio of the inverted bottleneck, 0 for the zero op.
    """

    kernel: int
    expand: float

    @property
    def is_zero(self) -> bool:
        return self.kernel == 0

    @property
    def name(self) -> str:
        return encode_op(self)


ZERO_OP = OpSpec(0, 0)


def _format_expand(expand: float) -> str:
    return str(int(expand)) if float(expand).is_integer() else repr(float(expand))


def encode_op(op: OpSpec) -> str:
    """Returns the canonical op string of `op`."""
    if op.is_zero:
        return ZERO
    return f"k{op.kernel}_e{_format_expand(op.expand)}"


def decode_op(text: str) -> OpSpec:
    """Parses an op string (canonical or original ProxylessNAS name).

    Raises:
        ValueError: naming the string and the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f"op must be a string such as 'k3_e6' or 'zero', got {text!r}")
    s = text.strip().lower()
    if s in (ZERO, "zeroop", "zero_op", "skip"):
        return ZERO_OP
    match = _CANONICAL.match(s) or _ORIGINAL.match(s)
    if not match:
        raise ValueError(
            f"unknown op {text!r}: expected 'k{{kernel}}_e{{expand}}' (e.g. 'k5_e3'), "
            "an original name such as '5x5_MBConv3', or 'zero'"
        )
    kernel, expand = int(match["k"]), float(match["e"])
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"op {text!r}: kernel must be a positive odd number, got {kernel}")
    if expand < 1:
        raise ValueError(f"op {text!r}: expand ratio must be >= 1, got {expand:g}")
    return OpSpec(kernel, int(expand) if expand.is_integer() else expand)


# Arch strings ---------------------------------------------------------------
#
# An architecture's compact form lists the chosen op of every searchable
# block, blocks separated by ',' and stages by '|':
#
#     "k5_e3,k3_e3,zero,zero|k7_e3,k3_e3,k5_e3,k5_e3|..."
#
# The fixed first block is not part of the string (it is not searched).
# Whitespace is ignored.

STAGE_SEP = "|"
BLOCK_SEP = ","


def encode_arch_string(stage_ops: list[list[str]]) -> str:
    """Joins per-stage lists of op strings into the compact arch string."""
    return STAGE_SEP.join(
        BLOCK_SEP.join(encode_op(decode_op(op)) for op in ops) for ops in stage_ops
    )


def decode_arch_string(text: str) -> list[list[str]]:
    """Splits a compact arch string into per-stage lists of canonical ops.

    Raises:
        ValueError: if the string is empty or holds an unknown op.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("arch string is empty: expected e.g. 'k3_e3,zero|k5_e6'")
    stages = []
    for i, part in enumerate("".join(text.split()).split(STAGE_SEP)):
        if not part:
            raise ValueError(f"arch string {text!r}: stage {i} is empty")
        stages.append([encode_op(decode_op(op)) for op in part.split(BLOCK_SEP)])
    return stages
