"""In-net calibration: random mobile nets timed whole, so that the op model
learns what its ops cost inside a net rather than alone.

Single-op probes are timed back to back in models of their own: the op's
input, output and weights stay in the caches from one invoke to the next,
and nothing runs between. Inside a net every op finds its input just
written by the op before it, its weights evicted by the others, and its
output buffer cold; some kernels also run differently there (on the
2-vCPU EPYC of docs/benchmarks/latency_foreign.md regular int8 convs run
at 0.86 of their time alone).

So a build with `--probes` also times `NUM_NETS` synthetic nets whole
(`foreign_nets.synthetic`: random stems, inverted residuals with and
without squeeze-and-excitation, separable and regular convs, pooling and
classifier heads, at inputs of 32 to 160; seeds of their own, so none is a
net the validation tests), with the table's pass rule, and records each
one's ops (as op keys) and time; `NUM_LARGE` of them are as large as the
keras.applications nets. The op model (`op_model.fit_in_net`) fits one
factor per op family to these nets, by ridge regression towards 1, and the
footprint factor (`pxnas_tf.latency.model.footprint_factor`) to what is
left; whole-net predictions (`predictor.predict_ops`) apply them. A table built with fewer nets gets
the missing ones on its next build (`is_complete`).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import Callable

from pxnas_tf.latency.build import convert_pool, foreign_nets, tflite_ops
from pxnas_tf.latency.build.settings import (
    BuildSettings, best_run, measure_until_settled, needs_run,
)
from pxnas_tf.latency.measure.runner import BenchModel, Runner
from pxnas_tf.latency.model.ops import op_key
from pxnas_tf.tflite import save_tflite

FORMAT = "pxnas_tf.in_net/v2"  # v2: swish read as one op (v1 nets are re-read, not re-timed)
NUM_NETS = 64
NUM_LARGE = 16  # as large as the keras.applications nets: the footprint factor's range
SIZES = (32, 48, 64, 96, 128, 160)
SEED0 = 1000  # seeds of their own (the tests' and docs' examples use small ones)
METHOD = ("random mobile nets (foreign_nets.synthetic) timed whole; the op model's in-net "
          "factors (one per op family) are fit to them")
REFERENCE_KEYS = 16  # table keys timed again in the nets' passes (`drift`)
REFERENCE_MIN_MS = 0.02  # ... among those of at least this value (short ones are noisier)


def specs(n: int = NUM_NETS, large: int = NUM_LARGE) -> list[str]:
    """The synthetic nets' specs, ``synth_s<seed>@<size>`` with sizes in
    turn: `n` nets, then `large` ones (seeds from `foreign_nets.LARGE_SEED0`)."""
    return ([f"synth_s{SEED0 + i}@{SIZES[i % len(SIZES)]}" for i in range(n)]
            + [f"synth_s{foreign_nets.LARGE_SEED0 + i}@{SIZES[i % len(SIZES)]}"
               for i in range(large)])


def reference_keys(values: dict[str, float], n: int = REFERENCE_KEYS) -> list[str]:
    """Pure: `n` of the table's keys (key -> value, ms) timed again with the
    nets: evenly spaced over those of at least `REFERENCE_MIN_MS` sorted by
    value, so that small and large blocks and probes take part."""
    pool = sorted((v, k) for k, v in values.items() if v >= REFERENCE_MIN_MS)
    if len(pool) <= n:
        return [k for _, k in pool]
    return [pool[round(i * (len(pool) - 1) / (n - 1))][1] for i in range(n)]


def drift(reference: dict | None) -> float:
    """Pure: how much slower the machine ran while the nets were timed than
    while the table's keys were: the median, over the reference keys, of
    their lowest pass now over their lowest pass in the table (1.0 without
    any). The op model divides the nets' times by it (`op_model.in_net_nets`),
    so that its in-net factors compare times of one machine state."""
    ratios = [min(r["runs"]) / r["table_ms"] for r in (reference or {}).values()
              if r.get("runs") and r.get("table_ms", 0) > 0]
    return float(statistics.median(ratios)) if ratios else 1.0


def net_path(folder: str, spec: str, precision: str) -> str:
    """The model file of the random net `spec` in `folder` (``TABLE.models/PRECISION/in_net``)."""
    return os.path.join(folder, f"{spec.replace('@', '-')}-{precision}.tflite")


def is_complete(record: dict | None, n: int = NUM_NETS, large: int = NUM_LARGE) -> bool:
    """Whether `record` holds finished times of all of `specs(n, large)` (a
    table timed with fewer nets gets the rest on a rebuild)."""
    record = record or {}
    nets = record.get("nets") or {}
    return (bool(record.get("complete")) and record.get("format") == FORMAT
            and all("ms" in nets.get(s, {}) for s in specs(n, large)))


def convert_net(spec: str, precision: str, path: str) -> list[str]:
    """Converts the random net `spec` into `path` (atomically); its op keys
    in execution order (run in a worker process: `convert_pool`)."""
    content = tflite_ops.keras_to_tflite(foreign_nets.build(spec), precision)
    save_tflite(content, path)
    return [op_key(op) for op in tflite_ops.ops_of_tflite(content)]


def calibrate(runner: Runner, precision: str, folder: str, settings: BuildSettings,
              previous: dict | None, save: Callable[[dict], None],
              log: Callable[[str], None], n: int = NUM_NETS, large: int = NUM_LARGE,
              first_pass: bool = False,
              reference: dict[str, tuple[str, float]] | None = None) -> dict:
    """Converts (once, into `folder`) and times the synthetic nets whole,
    resuming the runs in `previous` and saving after each measurement.

    `reference`: table keys (key -> (its model file, its lowest pass in the
    table, ms)) timed again in the same passes as the nets, interleaved with
    them. The machine's speed drifts by several percent over minutes on a
    shared VM (the same models timed in two builds an hour apart: medians
    0.95-1.06 of each other), and the in-net factors are ratios of the nets'
    times to the op model's, which is fit on the keys timed earlier; the
    record's ``drift`` (`drift`) puts the two on one scale.

    A build times each net's first pass (`first_pass`) before its other
    calibrations and the rest after them, so that a net's passes lie
    minutes apart: passes seconds apart agree within a slow spell of a
    shared machine, and the lowest of them then is not the quiet machine's
    time. (A fresh int8 build of 2026-12-06 timed all passes within 3
    minutes: the nets' two passes agreed within 1.3% (median), 2% above
    the previous build's, while the validation nets measured later ran
    3.6% faster; every foreign net was then predicted 2-14% high.)

    Returns:
        The record: ``format``, ``method``, ``nets`` {spec: {``ops``: op
        keys in execution order, ``runs``, ``ms``}} (``ms`` once its passes
        are done), ``reference`` {key: {``runs``, ``table_ms``}} and
        ``drift`` (with `reference`).
    """
    os.makedirs(folder, exist_ok=True)
    record = {"format": FORMAT, "method": METHOD, "nets": dict((previous or {}).get("nets", {}))}
    reread = (previous or {}).get("format") != FORMAT  # an older reading of the same files
    nets = record["nets"]
    paths = {spec: net_path(folder, spec, precision) for spec in specs(n, large)}
    todo = [s for s, path in paths.items()
            if not os.path.isfile(path) or "ops" not in (nets.get(s) or {})]
    if todo:
        log(f"converting {len(todo)} random mobile nets")
    for spec, ops in zip(todo, convert_pool.run_all(
            convert_net, [(s, precision, paths[s]) for s in todo])):
        nets[spec] = {"ops": ops, "runs": list((nets.get(spec) or {}).get("runs", []))}
    if reread:
        for spec, path in paths.items():
            if spec not in todo:
                with open(path, "rb") as f:
                    nets[spec]["ops"] = [op_key(op) for op in tflite_ops.ops_of_tflite(f.read())]
    save(record)

    runs = {s: nets[s]["runs"] for s in paths}
    refs = {key: {"runs": list(((previous or {}).get("reference") or {}).get(key, {})
                               .get("runs", [])), "table_ms": table_ms}
            for key, (_, table_ms) in (reference or {}).items()}
    if refs:
        record["reference"] = refs
    for key, ref in refs.items():
        runs[f"ref:{key}"] = ref["runs"]
    model_paths = {**paths, **{f"ref:{key}": path for key, (path, _) in (reference or {}).items()}}
    if first_pass:
        settings = dataclasses.replace(settings, min_passes=1, max_passes=1)
    if any(needs_run(r, (), settings) for r in runs.values()):
        log(f"timing {len(paths)} random mobile nets whole for the op model "
            + ("(their first pass; the rest after the other calibrations)" if first_pass else
               f"({settings.min_passes}-{settings.max_passes} passes each)"))
    measure_until_settled(runner, runs, lambda s: BenchModel(s, model_paths[s]), settings,
                          lambda: save(record))
    for entry in nets.values():
        entry["ms"] = entry["runs"][best_run(entry["runs"])]
    if refs:
        record["drift"] = round(drift(refs), 6)
    save(record)
    return record
