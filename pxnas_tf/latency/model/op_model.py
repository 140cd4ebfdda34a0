"""A fitted per-op latency model: predicts layers and nets the table lacks.

Every table entry is a block of primitive ops (`pxnas_tf.latency.model.ops`).
Each op type (and, for depthwise convs, each kernel and stride, whose
kernels differ a lot on CPUs) gets a small linear cost model on shape
features, and a block costs the sum over its ops:

    t(block) = sum_{op in block} theta_{g(op)} . phi_{g(op)}(op)

    group g (`op_features`)        features phi
    conv1x1, gemv, convkxk, stem   1, MACs, MACs16, MACs64, input elements, output
      (gemv: 1x1 at <= 4 pixels;     elements, OUT64, output pixels, weights
      stem: k > 1 on <= 4            (gemv: and weights past L2, weights of a
      input channels)                one-pixel product in half tiles)
    gconv (grouped)                1, MACs, output elements, output pixels
    dw{k}_s{s}                     1, MACs, MACs16, output elements, output pixels, weights
    fc                             1, MACs, weights past L2, weights in half tiles
    pool (global)                  input elements
    avgpool, maxpool               1, window elements, output elements, output pixels
    add, mul, add_b, mul_b (broadcasting), add_s, mul_s (a constant number),
    concat, pad, hswish, swish, sigmoid,
    softmax, act, reshape, quantize  1, output elements, output pixels

MACs16 and MACs64 count the output channels rounded up to a multiple of 16
and of 64 (OUT64: output pixels x channels rounded to 64): CPU kernels work
on whole vectors and tiles of output channels (16 int8 lanes x 4 in AVX-512
VNNI, 16 floats in AVX-512, 4 x 4 in NEON), so a 72-channel int8 1x1 conv
on this host costs about as much as a 128-channel one. `weights` is what
every invoke reads once whatever the spatial size; it dominates at 1x1 or
2x2 feature maps. Output pixels carry a per-pixel cost that large feature
maps of few channels expose (a 64x64x16 -> 16 int8 conv: 13 ns a pixel).

Because t is linear in all theta together, the coefficients are fit
jointly from every table entry: the space's blocks and, in tables built
with `--probes`, single-op probes of every op type
(`pxnas_tf.latency.build.probes`); non-negative least squares on relative
errors (each row divided by its measured time plus `REL_FLOOR_MS`), so that
10 us blocks count as much as 2 ms ones.

Uncertainty: the leave-one-out RMS relative error of the fit (entries that
alone hold some op group are left out of it); a prediction of t ms carries
+/- that fraction of t. A group the table never saw borrows the nearest
seen one's coefficients and doubles the uncertainty; the prediction says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Sequence

import numpy as np

from pxnas_tf import fileio
from pxnas_tf.latency.model import footprint_factor, reread, streaming
from pxnas_tf.latency.model.op_features import (
    FEATURES, factor_family, feature_family, features, group_of,
)
from pxnas_tf.latency.model.ops import FUSES_PAD, Op, costed, ops_of_key
from pxnas_tf.latency.model.table import LatencyTable, LatencyTableError

FORMAT = "pxnas_tf.latency_op_model/v1"
EXTRAPOLATION_FACTOR = 2.0
REL_FLOOR_MS = 0.002
# Ridge penalty of the in-net factors, chosen on the tuning nets of both
# precisions (docs/benchmarks/latency_foreign.md). Leave-one-out over the
# random nets chose penalties 100x smaller, whose factors swung between
# families that always come together there (swish's LOGISTIC and MUL) and
# missed EfficientNetB0, which pairs them otherwise, by 90%.
IN_NET_RIDGE = 0.1


class OpModelError(LatencyTableError):
    """The op model cannot be fit or used as asked."""


def _dw_kernel_stride(group: str) -> tuple[int, int]:
    k, s = group[2:].split("_s")
    return int(k), int(s)


@dataclasses.dataclass(frozen=True)
class OpPrediction:
    """A prediction with its uncertainty.

    Attributes:
        ms: predicted latency.
        std_ms: one-sigma uncertainty (leave-one-out relative RMS x ms,
            doubled where coefficients were borrowed).
        extrapolated: groups that had no data and borrowed coefficients.
    """

    ms: float
    std_ms: float
    extrapolated: tuple[str, ...] = ()


@dataclasses.dataclass
class OpModel:
    """Fitted coefficients per group.

    Attributes:
        coef: group -> coefficients in `FEATURES` order (ms per unit).
        rows: group -> how many table entries contained that group.
        fit_rel_rmse: RMS relative error on the entries it was fit on.
        loo_rel_rmse: leave-one-out RMS relative error (the uncertainty).
        overhead_ms: per-invoke overhead added once per net.
        stem_kernel: kernel of the table's stem keys.
        table_digest: digest of the entries it was fit on (staleness check).
        metadata: the table's compat metadata (device, threads, ...).
        in_net: the in-net factors (`fit_in_net`): family -> factor on its
            ops' time inside a whole net; empty without an in-net calibration.
        in_net_ridge: the ridge penalty they were fit with.
        footprint_per_mb, footprint_from_mb: the footprint factor
            (`footprint_factor`) on a whole net's ops; 0: none.
        l2_weights: weights that fill L2 at the table's precision (the
            ``weights_past_l2`` feature; 0: caches unknown).
        reread_per_mb: ms per MB of one-pixel products' weights that a
            whole net reads from beyond L2 (`pxnas_tf.latency.model.reread`); 0:
            none.
    """

    coef: dict[str, list[float]]
    rows: dict[str, int]
    fit_rel_rmse: float
    loo_rel_rmse: float
    overhead_ms: float = 0.0
    stem_kernel: int = 3
    table_digest: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)
    in_net: dict[str, float] = dataclasses.field(default_factory=dict)
    in_net_ridge: float = 0.0
    footprint_per_mb: float = 0.0
    footprint_from_mb: float = 0.0
    l2_weights: int = 0
    reread_per_mb: float = 0.0

    # Prediction -------------------------------------------------------------

    def _coef_for(self, group: str) -> tuple[np.ndarray, bool]:
        if group in self.coef:
            return np.asarray(self.coef[group]), False
        if group.startswith("dw"):
            k, s = _dw_kernel_stride(group)
            seen = [g for g in self.coef if g.startswith("dw")]
            if seen:
                def distance(g):
                    gk, gs = _dw_kernel_stride(g)
                    return (abs(gk - k), gs != s)
                return np.asarray(self.coef[min(seen, key=distance)]), True
        if group == "stem" and "convkxk" in self.coef:
            return np.asarray(self.coef["convkxk"]), True
        if group in ("convkxk", "gemv") and "conv1x1" in self.coef:
            extra = len(FEATURES[group]) - len(self.coef["conv1x1"])  # gemv: past L2 at 0
            return np.concatenate([self.coef["conv1x1"], np.zeros(extra)]), True
        raise OpModelError(
            f"the table has no measurement of {group!r} ops to predict them from; rebuild it "
            "with kernel probes (`pxnas latency build ... --probes`), which measures every op "
            "type real conv nets use")

    def predict_ops(self, ops: Sequence[Op], add_overhead: bool = True, in_net: bool = False
                    ) -> OpPrediction:
        """Latency of a sequence of ops run as one model; `in_net`: as the
        ops of a whole net (each scaled by its family's in-net factor, all by
        the footprint factor), not as a table entry."""
        total, borrowed = 0.0, []
        for op in costed(ops):
            coef, extrapolated = self._coef_for(group_of(op))
            factor = self.in_net.get(factor_family(op), 1.0) if in_net else 1.0
            total += factor * float(coef @ features(op, self.l2_weights))
            if extrapolated:
                borrowed.append(group_of(op))
        if in_net and self.footprint_per_mb:
            mb = streaming.footprint_bytes(ops, self.metadata.get("precision") or "float32") / 1e6
            total *= footprint_factor.factor(mb, self.footprint_per_mb, self.footprint_from_mb)
        if in_net:
            total += self.reread_ms(ops)
        if add_overhead:
            total += self.overhead_ms
        factor = EXTRAPOLATION_FACTOR if borrowed else 1.0
        return OpPrediction(total, total * self.loo_rel_rmse * factor,
                            tuple(dict.fromkeys(borrowed)))

    def reread_ms(self, ops: Sequence[Op]) -> float:
        """What a whole net of `ops` spends reading its one-pixel products'
        weights from beyond L2 (`reread.reread_bytes`; 0 without a fitted rate)."""
        if not self.reread_per_mb:
            return 0.0
        precision = self.metadata.get("precision") or "float32"
        return self.reread_per_mb * reread.reread_bytes(ops, precision, self.l2_weights) / 1e6

    def predict_key(self, key: str) -> OpPrediction:
        """A table key's latency as a table entry would hold it (net of the
        per-invoke overhead)."""
        return self.predict_ops(ops_of_key(key, self.stem_kernel), add_overhead=False)

    # Files ------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": FORMAT, "coef": self.coef, "rows": self.rows,
                "features": {g: list(FEATURES[feature_family(g)]) for g in self.coef},
                "fit_rel_rmse": self.fit_rel_rmse, "loo_rel_rmse": self.loo_rel_rmse,
                "overhead_ms": self.overhead_ms, "stem_kernel": self.stem_kernel,
                "table_digest": self.table_digest, "metadata": self.metadata,
                "in_net": self.in_net, "in_net_ridge": self.in_net_ridge,
                "footprint_per_mb": self.footprint_per_mb,
                "footprint_from_mb": self.footprint_from_mb, "l2_weights": self.l2_weights,
                "reread_per_mb": self.reread_per_mb}

    def save(self, path: str) -> None:
        fileio.atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> "OpModel":
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise OpModelError(f"cannot read op model {path!r}: {e}") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise OpModelError(f"{path}: not an op model (expected format {FORMAT!r})")
        try:
            return cls(coef={g: [float(x) for x in c] for g, c in d["coef"].items()},
                       rows={g: int(n) for g, n in d["rows"].items()},
                       fit_rel_rmse=float(d["fit_rel_rmse"]),
                       loo_rel_rmse=float(d["loo_rel_rmse"]),
                       overhead_ms=float(d.get("overhead_ms", 0.0)),
                       stem_kernel=int(d.get("stem_kernel", 3)),
                       table_digest=str(d.get("table_digest", "")),
                       metadata=dict(d.get("metadata", {})),
                       in_net={f: float(v) for f, v in d.get("in_net", {}).items()},
                       in_net_ridge=float(d.get("in_net_ridge", 0.0)),
                       footprint_per_mb=float(d.get("footprint_per_mb", 0.0)),
                       footprint_from_mb=float(d.get("footprint_from_mb", 0.0)),
                       l2_weights=int(d.get("l2_weights", 0)),
                       reread_per_mb=float(d.get("reread_per_mb", 0.0)))
        except (KeyError, TypeError, ValueError) as e:
            raise OpModelError(f"{path}: malformed op model ({e})") from None


# Fitting --------------------------------------------------------------------------

def _design(rows_ops: Sequence[Sequence[Op]], l2_weights: int = 0
            ) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The design matrix: one row per entry, one column per (group, feature)."""
    groups = sorted({group_of(op) for ops in rows_ops for op in ops})
    columns = [(g, i) for g in groups for i in range(len(FEATURES[feature_family(g)]))]
    index = {c: j for j, c in enumerate(columns)}
    a = np.zeros((len(rows_ops), len(columns)))
    for r, ops in enumerate(rows_ops):
        for op in costed(ops):
            g = group_of(op)
            for i, v in enumerate(features(op, l2_weights)):
                a[r, index[(g, i)]] += v
    return a, columns


def _nnls_relative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin_{theta >= 0} sum ((a theta - y) / (y + floor))^2, with
    scaled columns: relative errors, except that entries below `REL_FLOOR_MS`
    (single element-wise ops of a microsecond, whose timing noise is of
    their own size) count as much as one of that size."""
    from scipy.optimize import nnls

    d = y + REL_FLOOR_MS
    w = a / d[:, None]
    scale = np.abs(w).max(axis=0)
    scale[scale == 0] = 1.0
    theta, _ = nnls(w / scale, y / d, maxiter=50 * a.shape[1])
    return theta / scale


def fit_ops(rows_ops: Sequence[Sequence[Op]], times_ms: Sequence[float], l2_weights: int = 0
            ) -> tuple[dict[str, list[float]], dict[str, int], float, float]:
    """Pure fit: (coef by group, rows by group, fit RMS rel. error, LOO RMS
    rel. error); `l2_weights` as in `features`.

    Raises:
        OpModelError: with fewer than 3 rows.
    """
    y = np.asarray(times_ms, dtype=np.float64)
    if len(rows_ops) < 3 or np.any(y <= 0):
        raise OpModelError(f"need at least 3 entries with positive latency to fit an op model, "
                           f"got {len(rows_ops)}")
    a, columns = _design(rows_ops, l2_weights)
    theta = _nnls_relative(a, y)
    fit_rel = float(np.sqrt(np.mean(((a @ theta) - y) ** 2 / y ** 2)))
    loo = []
    used = a != 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        if np.any(used[i] & ~used[keep].any(axis=0)):
            continue  # the only entry with some op group: nothing to predict it from
        t = _nnls_relative(a[keep], y[keep])
        loo.append((a[i] @ t - y[i]) / y[i])
    loo_rel = float(np.sqrt(np.mean(np.square(loo)))) if loo else float("nan")
    coef: dict[str, list[float]] = {}
    for (g, _), value in zip(columns, theta):
        coef.setdefault(g, []).append(float(value))
    rows = {g: int(sum(any(group_of(op) == g for op in ops) for ops in rows_ops)) for g in coef}
    return coef, rows, fit_rel, loo_rel


def in_net_nets(table: LatencyTable, large: bool | None = None
                ) -> list[tuple[list[Op], float, float]]:
    """The in-net calibration's nets (`large`: only the large ones, or only
    the others): ops, measured time and streaming term; [] if unfinished.
    The times are divided by the record's ``drift`` (how much slower the
    machine ran then than while the table's keys were timed;
    `pxnas_tf.latency.build.in_net.drift`), so they are on the keys' scale."""
    record = table.metadata.in_net or {}
    if not record.get("complete"):
        return []
    meta = table.metadata
    scale = float(record.get("drift") or 1.0)
    out = []
    for spec, entry in record.get("nets", {}).items():
        if "ms" not in entry or large not in (None, footprint_factor.is_large(spec)):
            continue
        ops = [op for key in entry["ops"] for op in ops_of_key(key)]
        footprint = streaming.footprint_bytes(ops, meta.precision or "float32")
        out.append((ops, float(entry["ms"]) / scale,
                    streaming.streaming_ms(footprint, meta.weight_streaming)))
    return out


def fit_in_net(model: OpModel, nets: Sequence[tuple[Sequence[Op], float, float]],
               penalty: float = IN_NET_RIDGE) -> dict[str, float]:
    """In-net factors: what an op family's predicted time is multiplied by
    inside a whole net (pure).

    Probes time each op alone; inside a net an op can cost more or less
    (int8 regular convs: 0.86 on the EPYC of docs/benchmarks/latency_foreign.md).
    Each net of `nets` (ops, measured ms, streaming ms) is a row

        (ms - overhead - S - sum_f P_f) / ms = sum_f d_f P_f / ms

    with P_f the model's time of the net's ops of family f (`factor_family`)
    and S its streaming term (its own calibration); the factors 1 + d come
    from ridge regression towards 1 with `penalty`, and are at least 0.

    Returns:
        family -> factor, or {} with fewer than 8 nets.
    """
    if len(nets) < 8:
        return {}
    families = sorted({factor_family(op) for ops, _, _ in nets for op in ops})
    x = np.zeros((len(nets), len(families)))
    y = np.zeros(len(nets))
    for i, (ops, ms, stream) in enumerate(nets):
        parts = dict.fromkeys(families, 0.0)
        for op in costed(ops):
            coef, _ = model._coef_for(group_of(op))
            parts[factor_family(op)] += float(coef @ features(op, model.l2_weights))
        x[i] = [parts[f] / ms for f in families]
        y[i] = (ms - model.overhead_ms - stream - sum(parts.values())) / ms
    d = np.linalg.solve(x.T @ x + penalty * np.eye(len(families)), x.T @ y)
    return {f: max(0.0, 1.0 + float(v)) for f, v in zip(families, d)}


def table_digest(table: LatencyTable, stat: str) -> str:
    """A digest of the table's keys and values and of the model's features
    (to spot a stale op model)."""
    record = table.metadata.in_net or {}
    nets = record.get("nets", {})
    text = json.dumps([[k, table.value(k, stat)] for k in sorted(table.keys())]
                      + [FEATURES, FUSES_PAD, REL_FLOOR_MS, IN_NET_RIDGE,
                         footprint_factor.FROM_LLC_SHARE, reread.GROUPS,
                         {s: e.get("ms") for s, e in sorted(nets.items())},
                         record.get("drift")], sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def table_overhead_ms(table: LatencyTable) -> float:
    """The per-invoke overhead a built table recorded (the smallest over its
    input shapes), 0 for tables without one (published YAML)."""
    values = (table.metadata.overhead or {}).get("ms") or {}
    numbers = [float(v) for v in values.values() if isinstance(v, (int, float))]
    return min(numbers) if numbers else 0.0


def fit_table(table: LatencyTable, stat: str | None = None, keys: Sequence[str] | None = None
              ) -> OpModel:
    """Fits the op model on the entries of `table` (all, or `keys`) whose key
    kinds decompose into ops (stem, MBConv, head conv, logits); with all of
    them, also its in-net factors on the whole nets of its in-net
    calibration (`fit_in_net`).

    Raises:
        OpModelError: too few usable entries.
    """
    stat = stat or table.default_stat
    stem_kernel = int(table.metadata.stem_kernel or 3)
    rows, times = [], []
    for key in (keys if keys is not None else table.keys()):
        try:
            ops = ops_of_key(key, stem_kernel)
        except ValueError:
            continue
        value = table.value(key, stat)
        if value > 0:
            rows.append(ops)
            times.append(value)
    l2 = (table.metadata.caches or {}).get("L2") or 0
    l2_weights = int(l2) // streaming.BYTES_PER_WEIGHT.get(table.metadata.precision or "", 4)
    coef, counts, fit_rel, loo_rel = fit_ops(rows, times, l2_weights)
    compat = {k: v for k, v in table.metadata.to_dict().items()
              if k in ("device", "threads", "precision", "delegate", "space", "runtime")}
    model = OpModel(coef, counts, fit_rel, loo_rel, table_overhead_ms(table), stem_kernel,
                    table_digest(table, stat), compat, l2_weights=l2_weights)
    if keys is None:
        try:
            nets = in_net_nets(table)
            model.in_net = fit_in_net(model, in_net_nets(table, large=False))
            model.in_net_ridge = IN_NET_RIDGE if model.in_net else 0.0
            precision = table.metadata.precision or "float32"
            if model.in_net:
                model.reread_per_mb = reread.fit(
                    [(reread.reread_bytes(ops, precision, l2_weights) / 1e6, ms,
                      model.predict_ops(ops, in_net=True).ms + stream)
                     for ops, ms, stream in nets])
            from_mb = footprint_factor.threshold_mb(table.metadata.caches)
            if model.in_net and from_mb is not None:
                model.footprint_from_mb = from_mb
                rows = []
                for ops, ms, stream in nets:  # the re-read term is not scaled: keep it apart
                    whole, again = model.predict_ops(ops, add_overhead=False, in_net=True).ms, \
                        model.reread_ms(ops)
                    rows.append((whole - again, model.overhead_ms + stream + again, ms,
                                 streaming.footprint_bytes(ops, precision) / 1e6))
                model.footprint_per_mb = footprint_factor.fit(rows, from_mb)
        except OpModelError:
            pass  # a net holds an op the table never measured: no factors
    return model


def op_model_path(table_path: str) -> str:
    """``TABLE.opmodel.json`` beside the table."""
    return os.path.splitext(table_path)[0] + ".opmodel.json"


def load_or_fit(table: LatencyTable, table_path: str | None = None) -> OpModel:
    """The op model saved beside the table if it matches the table's
    entries; else a fresh fit (saved there when the table has a path)."""
    path = op_model_path(table_path) if table_path else None
    stat = table.default_stat
    if path and os.path.exists(path):
        try:
            model = OpModel.load(path)
            if model.table_digest == table_digest(table, stat):
                return model
        except OpModelError:
            pass
    model = fit_table(table, stat)
    if path and not table_path.endswith((".yaml", ".yml")):
        try:
            model.save(path)
        except OSError:
            pass  # a read-only folder: the fit is cheap, use it without caching it
    return model
