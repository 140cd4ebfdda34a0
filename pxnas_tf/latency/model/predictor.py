"""The latency model's one predictor, and its additive form for the search.

`predict` is the number every part of the tool quotes for a net (search
summaries, derive, the demo, export verification, `pxnas latency
predict|validate`):

    LAT(net) = sum over layers of LAT(layer)          (zero op: 0)
               + streaming(bytes the net touches)     (where the table measured a curve)
               + context(buffer-heavy layers, rest)   (where the table calibrated one)

with LAT(layer) the table's entry for the layer's key, or the op model's
prediction where the table lacks the key (a net outside the table's space;
a net of op-model layers only also gets the per-invoke overhead the stem
entry would have carried). See docs/latency_model.md.

The search needs a form that is linear in the op probabilities p_bj of
candidate j in block b:

    E[LAT] = constant_ms + sum_b sum_j p_bj * lat_bj

where `block_latency_matrix` gives constant_ms and lat_bj from the same
table entries. It leaves out the streaming and context terms (neither is a
sum over blocks); `predict` of the derived net reports the whole.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from pxnas_tf.latency.model import context as context_lib
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model import streaming
from pxnas_tf.latency.model.op_model import OpModel
from pxnas_tf.latency.model.ops import Op
from pxnas_tf.latency.model.table import LatencyTable, MissingKeysError
from pxnas_tf.search_space import Arch, SearchSpace

MAX_LISTED = 10


@dataclasses.dataclass(frozen=True)
class LayerLatency:
    """One layer's share of an arch's latency.

    Attributes:
        name: ``"stem"``, ``"first_block"``, ``"blocks.<i>"``, ``"head_conv"``, ``"logits"``.
        op: the block's op, None for stem, head conv and logits.
        key: the table key, None for a zero op.
        ms: its latency (0.0 for a zero op).
        source: ``"table"``, ``"op_model"`` or ``"zero"``.
    """

    name: str
    op: str | None
    key: str | None
    ms: float
    source: str = "table"


@dataclasses.dataclass(frozen=True)
class LatencyEstimate:
    """An arch's predicted latency with its per-layer breakdown.

    Attributes:
        total_ms: the prediction: the layers, plus `overhead_ms`,
            `streaming_ms` and `context_ms`.
        layers: every layer in network order.
        stat: the table statistic used (``"mean"`` or ``"median"``).
        std_ms: the op model's uncertainty (0 where every layer is a table
            entry).
        overhead_ms: the per-invoke overhead, added only when no layer came
            from the table (table entries carry it in the stem's).
        streaming_ms: the weight-streaming term (`model.streaming`).
        context_ms: the context term (`model.context`).
    """

    total_ms: float
    layers: tuple[LayerLatency, ...]
    stat: str = "mean"
    std_ms: float = 0.0
    overhead_ms: float = 0.0
    streaming_ms: float = 0.0
    context_ms: float = 0.0

    @property
    def layers_ms(self) -> float:
        """The additive part: the sum over layers (what the search's
        per-block form adds up)."""
        return float(sum(layer.ms for layer in self.layers))

    @property
    def source(self) -> str:
        """Where the number comes from: "table", "op_model" or
        "table+op_model", then "+streaming" / "+context" where those terms
        apply."""
        kinds = {layer.source for layer in self.layers} - {"zero"}
        out = "table+op_model" if kinds == {"table", "op_model"} else (kinds.pop() if kinds
                                                                       else "table")
        out += "+streaming" if self.streaming_ms else ""
        return out + ("+context" if self.context_ms else "")

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


def predict(arch: Arch, table: LatencyTable, op_model: OpModel | None = None,
            stat: str | None = None, context: bool = True) -> LatencyEstimate:
    """The latency of `arch` on the table's target (see the module doc).

    Args:
        arch: any arch (of the table's space or not).
        table: the target's table.
        op_model: predicts the layers the table lacks (None: they are an
            error).
        stat: ``"mean"`` or ``"median"``; default: the table's own
            (`LatencyTable.default_stat`: the median for tables this project
            builds, the mean for the published YAML).
        context: add the context term where the table calibrated one.

    Raises:
        MissingKeysError: keys the table lacks, without an op model.
    """
    stat = stat or table.default_stat
    layers, missing = [], []
    std = 0.0
    for layer in keys_lib.arch_layers(arch):
        if layer.key is None:
            layers.append(LayerLatency(layer.name, layer.op, None, 0.0, "zero"))
        elif layer.key in table:
            layers.append(LayerLatency(layer.name, layer.op, layer.key,
                                       table.value(layer.key, stat), "table"))
        elif op_model is not None:
            p = op_model.predict_key(layer.key)
            std += p.std_ms  # errors of one fit are correlated: add linearly
            layers.append(LayerLatency(layer.name, layer.op, layer.key, p.ms, "op_model"))
        else:
            missing.append(layer.key)
    if missing:
        raise missing_keys_error(missing, table, arch.space)
    sources = {layer.source for layer in layers}
    overhead = op_model.overhead_ms if op_model is not None and "table" not in sources else 0.0
    meta = table.metadata
    precision = meta.precision or "float32"
    stem_kernel = meta.stem_kernel or 3
    keys = [layer.key for layer in layers if layer.key is not None]
    stream = 0.0
    if meta.weight_streaming:  # weights, activations and the layers' buffers: one term
        buffers = context_lib.buffers_bytes(keys, meta.footprint, precision, stem_kernel)
        stream = streaming.streaming_ms(
            streaming.keys_footprint_bytes(keys, precision, stem_kernel) + buffers,
            meta.weight_streaming, buffers)
    ctx = 0.0
    if context and (meta.context or {}).get("groups"):
        ctx = context_lib.context_ms(keys, meta.footprint, meta.context, precision,
                                     stem_kernel)
    total = float(sum(layer.ms for layer in layers)) + overhead + stream + ctx
    return LatencyEstimate(total, tuple(layers), stat, std, overhead, stream, ctx)


def predict_ops(ops: Sequence[Op], table: LatencyTable, op_model: OpModel) -> LatencyEstimate:
    """The latency of a whole net given as its TFLite ops (a net outside any
    space: a Keras model or a ``.tflite`` file, read by
    `pxnas_tf.latency.build.tflite_ops`): the op model's sum over the ops,
    each with its family's in-net factor (`op_model.fit_in_net`), and its
    re-read term (`pxnas_tf.latency.model.reread`), the per-invoke overhead
    and the streaming term of the net's footprint. The
    context term is calibrated on table keys only and is left out."""
    p = op_model.predict_ops(ops, add_overhead=False, in_net=True)
    meta = table.metadata
    stream = 0.0
    if meta.weight_streaming:
        stream = streaming.streaming_ms(
            streaming.footprint_bytes(ops, meta.precision or "float32"), meta.weight_streaming)
    layer = LayerLatency("ops", None, None, p.ms, "op_model")
    total = p.ms + op_model.overhead_ms + stream
    return LatencyEstimate(total, (layer,), table.default_stat, p.std_ms, op_model.overhead_ms,
                           stream, 0.0)


def block_latency_matrix(space: SearchSpace, table: LatencyTable, stat: str | None = None
                         ) -> LatencyMatrix:
    """The constant part and per-block candidate latencies of `space`
    (`stat` as in `predict`).

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
