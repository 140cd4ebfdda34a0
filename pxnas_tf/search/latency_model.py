"""The latency model the search optimises against: a constant (stem, first
block, head, classifier) plus one number per candidate of every block.

Two sources: a measured lookup table (milliseconds, from
`pxnas_tf.latency`), or the MACs proxy (millions of MACs treated like a
latency) so that search works before a table exists.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from pxnas_tf.latency.model.metadata import table_problems
from pxnas_tf.latency.model.predictor import block_latency_matrix, check_table_covers, predict
from pxnas_tf.latency.model.table import LatencyTable
from pxnas_tf.models.profile import candidate_macs
from pxnas_tf.search.errors import SearchError
from pxnas_tf.search_space import SearchSpace


@dataclasses.dataclass(frozen=True)
class LatencyModel:
    """Latency of the fixed layers and of every candidate of every block.

    Attributes:
        constant: fixed layers' latency.
        blocks: per block, one value per candidate (candidate order; zero
            op = 0).
        unit: "ms" (table) or "MMACs" (proxy).
        source: the table file or "macs".
        table: the table (None for the proxy): `predict` quotes the whole
            prediction of a net from it.
        stat: the table statistic of `constant` and `blocks`.
    """

    constant: float
    blocks: tuple[tuple[float, ...], ...]
    unit: str
    source: str
    table: LatencyTable | None = dataclasses.field(default=None, compare=False, repr=False)
    stat: str | None = None

    @classmethod
    def from_table(cls, space: SearchSpace, path: str, stat: str | None = None,
                   precision: str | None = None) -> "LatencyModel":
        """From a latency table file (`stat`: default the table's own, as
        `pxnas_tf.latency.model.predictor.predict` uses).

        Raises:
            MissingKeysError: listing the keys of `space` the table lacks.
            SearchError: when `precision` is given and the table's differs.
        """
        table = LatencyTable.load(path)
        problems = table_problems(table.metadata, precision=precision or None)
        if problems:
            raise SearchError(
                f"latency table {path} does not fit the search's target (the table: "
                f"{', '.join(problems)}); use a table measured at {precision!r}")
        check_table_covers(space, table)
        stat = stat or table.default_stat
        matrix = block_latency_matrix(space, table, stat)
        return cls(float(matrix.constant_ms), tuple(tuple(float(x) for x in b) for b in matrix.blocks),
                   "ms", path, table, stat)

    @classmethod
    def from_macs(cls, space: SearchSpace) -> "LatencyModel":
        """The MACs proxy, in millions of MACs."""
        constant, per_block = candidate_macs(space)
        return cls(constant / 1e6, tuple(tuple(m / 1e6 for m in row) for row in per_block),
                   "MMACs", "macs")

    def bounds(self) -> tuple[float, float]:
        """(fastest, slowest) latency over all archs of the space."""
        return (self.constant + sum(min(b) for b in self.blocks),
                self.constant + sum(max(b) for b in self.blocks))

    def arch_latency(self, indices: Sequence[int]) -> float:
        """Latency of the arch choosing candidate indices[b] in block b."""
        return self.constant + sum(b[int(i)] for b, i in zip(self.blocks, indices))

    def predict(self, arch, indices: Sequence[int]) -> float:
        """The whole prediction of `arch` (candidate `indices`), with the
        table terms the per-block form leaves out; the per-block sum for the
        MACs proxy."""
        if self.table is None:
            return self.arch_latency(indices)
        return predict(arch, self.table, stat=self.stat).total_ms

    def expected(self, probs: Sequence[Sequence[float]]) -> float:
        """E[LAT] under per-block probabilities (numpy)."""
        return self.constant + sum(float(np.dot(p, b)) for p, b in zip(probs, self.blocks))

    def check_target(self, target: float, loss: str) -> None:
        """Refuses a target outside [fastest, slowest] (saying both), and a
        mul#log loss where log latency could be <= 0.

        Raises:
            SearchError
        """
        fastest, slowest = self.bounds()
        if not fastest <= target <= slowest:
            side = "below the fastest" if target < fastest else "above the slowest"
            raise SearchError(
                f"target latency {target:g} {self.unit} is {side} arch of the space: the "
                f"fastest arch takes {fastest:.4g} {self.unit} and the slowest "
                f"{slowest:.4g} {self.unit} ({self.source}); pick a target in between")
        if loss == "mul#log" and (fastest <= 1.0 or target <= 1.0):
            raise SearchError(
                f"loss mul#log takes log(latency), which needs latencies > 1 {self.unit}; the "
                f"fastest arch takes {fastest:.4g} and the target is {target:g}: use "
                "--loss=abs#target or --loss=add#linear")

    def check_space(self, space: SearchSpace) -> None:
        """Refuses a model built for another space (block count / candidates)."""
        blocks = space.blocks()
        if len(blocks) != len(self.blocks) or any(
                len(b.candidates) != len(row) for b, row in zip(blocks, self.blocks)):
            raise SearchError(f"latency model from {self.source} does not fit space "
                              f"{space.name!r} (blocks or candidates differ)")

    def to_dict(self) -> dict:
        fastest, slowest = self.bounds()
        return {"unit": self.unit, "source": self.source, "constant": self.constant,
                "fastest": fastest, "slowest": slowest}
