"""Latency of architectures from a lookup table.

    LAT(arch) = LAT(stem) + LAT(first block) + LAT(head conv) + LAT(logits)
                + sum over searchable blocks of LAT(chosen op)       (zero op: 0)

and, for the differentiable search, with p_bj the probability of candidate j
in block b,

    E[LAT] = constant_ms + sum_b sum_j p_bj * lat_bj

where `block_latency_matrix` gives constant_ms and lat_bj.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from pxnas_tf.latency import keys as keys_lib
from pxnas_tf.latency.table import LatencyTable, MissingKeysError
from pxnas_tf.search_space.space import Arch, SearchSpace

MAX_LISTED = 10


@dataclasses.dataclass(frozen=True)
class LayerLatency:
    """One layer's share of an arch's latency.

    Attributes:
        name: ``"stem"``, ``"first_block"``, ``"blocks.<i>"``, ``"head_conv"``, ``"logits"``.
        op: the block's op, None for stem, head conv and logits.
        key: the table key, None for a zero op.
        ms: its latency (0.0 for a zero op).
    """

    name: str
    op: str | None
    key: str | None
    ms: float


@dataclasses.dataclass(frozen=True)
class LatencyEstimate:
    """An arch's predicted latency with its per-layer breakdown.

    Attributes:
        total_ms: the sum over `layers`.
        layers: every layer in network order.
        stat: the table statistic used (``"mean"`` or ``"median"``).
    """

    total_ms: float
    layers: tuple[LayerLatency, ...]
    stat: str = "mean"

    def __float__(self) -> float:
        return self.total_ms

    def by_name(self) -> dict[str, float]:
        """Layer name -> ms."""
        return {layer.name: layer.ms for layer in self.layers}


class LatencyMatrix(NamedTuple):
    """Table latencies laid out for E[LAT] = constant_ms + sum_b p_b . blocks[b].

    Attributes:
        constant_ms: stem + first block + head conv + logits.
        blocks: per searchable block, the latency of each candidate in the
            block's candidate order (float64, zero op = 0.0).
    """

    constant_ms: float
    blocks: list[np.ndarray]


def missing_keys_error(keys: Sequence[str], table: LatencyTable, space: SearchSpace
                       ) -> MissingKeysError:
    """The error for keys of `space` that `table` lacks: lists up to
    `MAX_LISTED` of them and says how to build a table for the space."""
    missing = list(dict.fromkeys(keys))
    listed = "\n  ".join(missing[:MAX_LISTED])
    more = f"\n  ... and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
    built_for = table.metadata.space
    hint = (f" (it was built for space {built_for!r})"
            if built_for and built_for != space.name else "")
    return MissingKeysError(
        f"latency table {table.name}{hint} lacks {len(missing)} key(s) needed by search space "
        f"{space.name!r}:\n  {listed}{more}\n"
        f"Build a table for this space on the target with `pxnas latency build --space={space.name}` "
        "(or use a table measured for the same shapes).",
        missing,
    )


def _lookup(table: LatencyTable, keys: Sequence[str], space: SearchSpace, stat: str | None
            ) -> dict:
    stat = stat or table.default_stat
    missing = [k for k in keys if k not in table]
    if missing:
        raise missing_keys_error(missing, table, space)
    return {k: table.value(k, stat) for k in dict.fromkeys(keys)}


def expected_latency(arch: Arch, table: LatencyTable, stat: str | None = None
                     ) -> LatencyEstimate:
    """Latency of `arch` from `table`: stem + first block + head conv + logits
    + the chosen op of every searchable block (zero op: 0 ms).

    `stat`: ``"mean"`` or ``"median"``; default: the table's own
    (`LatencyTable.default_stat`: the median for tables this project builds,
    the mean for the published YAML).

    Raises:
        MissingKeysError: listing the keys the table lacks.
    """
    layers = keys_lib.arch_layers(arch)
    values = _lookup(table, [layer.key for layer in layers if layer.key is not None],
                     arch.space, stat)
    out = tuple(LayerLatency(layer.name, layer.op, layer.key,
                             0.0 if layer.key is None else values[layer.key])
                for layer in layers)
    return LatencyEstimate(float(sum(layer.ms for layer in out)), out, stat or table.default_stat)


def block_latency_matrix(space: SearchSpace, table: LatencyTable, stat: str | None = None
                         ) -> LatencyMatrix:
    """The constant part and per-block candidate latencies of `space`
    (`stat` as in `expected_latency`).

    Raises:
        MissingKeysError: listing the keys the table lacks (all of the space's
            keys are checked at once).
    """
    fixed = [layer.key for layer in keys_lib.fixed_layers(space)]
    per_block = keys_lib.block_candidate_keys(space)
    in_order = fixed[:2] + [k for ks in per_block for k in ks if k is not None] + fixed[2:]
    values = _lookup(table, in_order, space, stat)
    constant = float(sum(values[k] for k in fixed))
    blocks = [np.array([0.0 if k is None else values[k] for k in ks], dtype=np.float64)
              for ks in per_block]
    return LatencyMatrix(constant, blocks)


def expected_latency_from_probs(matrix: LatencyMatrix, probs: Sequence[Sequence[float]]) -> float:
    """E[LAT] = constant + sum_b sum_j p_bj * lat_bj (numpy, for checks and
    reports; the search computes the same in TensorFlow)."""
    if len(probs) != len(matrix.blocks):
        raise ValueError(f"expected {len(matrix.blocks)} probability vectors (one per block), "
                         f"got {len(probs)}")
    total = matrix.constant_ms
    for b, (p, lat) in enumerate(zip(probs, matrix.blocks)):
        p = np.asarray(p, dtype=np.float64)
        if p.shape != lat.shape:
            raise ValueError(f"block {b}: expected {lat.shape[0]} probabilities, got {p.shape}")
        total += float(p @ lat)
    return total


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How a table covers a space's keys.

    Attributes:
        missing: keys the space needs that the table lacks.
        unused: keys of the table no arch of the space needs.
    """

    missing: tuple[str, ...]
    unused: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def table_coverage(space: SearchSpace, table: LatencyTable) -> Coverage:
    """Compares the keys of `space` with those of `table`."""
    needed = keys_lib.space_keys(space)
    wanted = set(needed)
    return Coverage(tuple(k for k in needed if k not in table),
                    tuple(k for k in table.keys() if k not in wanted))


def check_table_covers(space: SearchSpace, table: LatencyTable) -> None:
    """Raises `MissingKeysError` unless `table` has every key of `space`."""
    coverage = table_coverage(space, table)
    if coverage.missing:
        raise missing_keys_error(coverage.missing, table, space)
