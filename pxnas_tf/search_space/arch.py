"""Architectures as data: one op chosen per searchable block of a space.

The JSON document of an arch (`Arch`):

    {"format": "pxnas_tf.arch/v1", "name": "...",
     "space": "proxyless_small" | {...search space...},
     "ops": ["k3_e3", "zero", ...],          # one per searchable block
     "arch_string": "k3_e3,zero|..."}        # informative, same content
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from typing import Sequence

from pxnas_tf import fileio
from pxnas_tf.search_space import grammar
from pxnas_tf.search_space.space import (
    SearchSpace, SpaceError, field_error, load_space, read_json, space_from_dict,
)

ARCH_FORMAT = "pxnas_tf.arch/v1"


@dataclasses.dataclass(frozen=True)
class Arch:
    """One op chosen per searchable block of `space`.

    The JSON document:

        {"format": "pxnas_tf.arch/v1", "name": "...",
         "space": "proxyless_small" | {...search space...},
         "ops": ["k3_e3", "zero", ...],          # one per searchable block
         "arch_string": "k3_e3,zero|..."}        # informative, same content

    Either "ops" or "arch_string" is enough when reading.
    """

    space: SearchSpace
    ops: tuple[str, ...]
    name: str = ""

    def __post_init__(self):
        validate_ops(self.space, self.ops)

    @property
    def arch_string(self) -> str:
        stage_ops, i = [], 0
        for stage in self.space.stages:
            stage_ops.append(list(self.ops[i:i + stage.blocks]))
            i += stage.blocks
        return grammar.encode_arch_string(stage_ops)

    def to_dict(self, inline_space: bool = True) -> dict:
        return {
            "format": ARCH_FORMAT,
            "name": self.name,
            "space": self.space.to_dict() if inline_space else self.space.name,
            "ops": list(self.ops),
            "arch_string": self.arch_string,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str) -> None:
        """Writes the arch JSON atomically (temporary file, then rename)."""
        fileio.atomic_write_text(path, self.to_json() + "\n")


def validate_ops(space: SearchSpace, ops: Sequence[str], source: str = "arch") -> tuple[str, ...]:
    """Checks one op per block, each among that block's candidates.

    Returns the canonical op strings.
    """
    blocks = space.blocks()
    if len(ops) != len(blocks):
        raise SpaceError(
            f"{source}: field 'ops': expected {len(blocks)} ops (one per searchable block of "
            f"space {space.name!r}), got {len(ops)}"
        )
    canonical = []
    for block, op in zip(blocks, ops):
        try:
            name = grammar.decode_op(op).name
        except ValueError as e:
            raise SpaceError(f"{source}: field 'ops[{block.index}]': {e}") from None
        if name not in block.candidates:
            why = (" (zero is allowed only where stride is 1 and input and output widths match)"
                   if name == grammar.ZERO else "")
            raise SpaceError(
                f"{source}: field 'ops[{block.index}]' (stage {block.stage}): op {op!r} is not a "
                f"candidate of this block{why}; candidates are {list(block.candidates)}"
            )
        canonical.append(name)
    return tuple(canonical)


def arch_from_dict(d: dict, source: str = "<arch>", space: SearchSpace | None = None) -> Arch:
    """Builds an `Arch` from its JSON document; `space` overrides the document's."""
    if not isinstance(d, dict):
        raise SpaceError(f"{source}: expected a JSON object, got {type(d).__name__}")
    if space is None:
        if "space" not in d:
            raise SpaceError(f"{source}: field 'space': missing (a preset name or a space object)")
        s = d["space"]
        try:
            space = space_from_dict(s, source=f"{source}:space") if isinstance(s, dict) else load_space(s)
        except SpaceError as e:
            raise SpaceError(f"{source}: field 'space': {e}") from None
    if "ops" in d:
        ops = d["ops"]
        if not isinstance(ops, list):
            raise field_error(source, "ops", "a list of op strings", ops)
    elif "arch_string" in d:
        try:
            ops = [op for stage in grammar.decode_arch_string(d["arch_string"]) for op in stage]
        except ValueError as e:
            raise SpaceError(f"{source}: field 'arch_string': {e}") from None
    else:
        raise SpaceError(f"{source}: missing field 'ops' (or 'arch_string')")
    return Arch(space, validate_ops(space, ops, source), str(d.get("name", "")))


def load_arch(path: str, space: SearchSpace | str | None = None) -> Arch:
    """Reads an arch JSON file (or a zoo name is resolved by `models.zoo`)."""
    if not os.path.exists(path):
        raise SpaceError(f"arch file {path!r} does not exist")
    if space is not None and not isinstance(space, SearchSpace):
        space = load_space(space)
    return arch_from_dict(read_json(path), source=path, space=space)


def random_archs(space: SearchSpace, num: int, seed: int = 0) -> list[Arch]:
    """`num` distinct random archs of `space` (uniform op per block), named
    ``random_000``...; fewer if the space has fewer archs."""
    rng = random.Random(seed)
    blocks = space.blocks()
    seen, out = set(), []
    attempts = 0
    while len(out) < min(num, space.num_archs()) and attempts < 100 * max(num, 1):
        attempts += 1
        ops = tuple(rng.choice(b.candidates) for b in blocks)
        if ops not in seen:
            seen.add(ops)
            out.append(Arch(space, ops, f"random_{len(out):03d}"))
    return out
