"""Calibrating the context term: the resident memory of every block model
(`record_footprints`), and chains of copies of one block model timed on
the target (the model they feed: `pxnas_tf.latency.model.context`)."""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from pxnas_tf.latency.build import block_models
from pxnas_tf.latency.build.settings import BuildSettings, needs_run
from pxnas_tf.latency.measure import footprint as footprint_lib
from pxnas_tf.latency.measure.runner import BenchModel
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.context import (
    CHAIN_COPIES, FORMAT, MIN_BUFFER_BYTES, c_range, calibration_keys, chain_copies, chain_points,
    fit,
)
from pxnas_tf.latency.model.ops import OP_KIND
from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite


def chain_models(key: str, precision: str, folder: str,
                 copies: Sequence[int] = CHAIN_COPIES) -> dict[int, str]:
    """Writes (or reuses) the chain models of `key`: {copies: path}."""
    import hashlib

    import keras

    from pxnas_tf.layers import blocks

    k = keys_lib.parse_key(key)
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
    os.makedirs(folder, exist_ok=True)
    out = {}
    for n in copies:
        path = os.path.join(folder, f"chain-{digest}-x{n}.tflite")
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            x = inputs = keras.Input(k.input_shape, batch_size=1)
            for i in range(n):
                y = blocks.apply(blocks.mbconv_layers(k.input_shape[2], k.output_shape[2],
                                                      k.kernel, k.expand, k.stride, f"b{i}"), x)
                x = keras.layers.Add(name=f"b{i}_add")([x, y])
            save_tflite(to_tflite(keras.Model(inputs, x), precision,
                                  random_representative_data(k.input_shape)), path)
        out[n] = path
    return out


def measure_context(runner, keys: Sequence[str], footprint: dict, precision: str,
                    caches: dict[str, int], folder: str, stem_kernel: int = 3,
                    min_passes: int = 2, max_passes: int = 4, agree_tol: float = 0.03,
                    previous: dict | None = None, log=lambda text: None,
                    save=lambda info: None, weight_streaming: dict | None = None
                    ) -> dict[str, Any]:
    """Calibrates the context term on `runner` (see the module doc): for
    every group of `keys` with a buffer-heavy residual block not calibrated
    in `previous` yet, the chain models of its calibration key, timed under
    the table's pass rule (at least `min_passes` passes, more while the two
    lowest disagree by more than `agree_tol`, at most `max_passes`; the
    lowest kept), and the fit (net of the chains' streaming term under
    `weight_streaming`, the table's calibration; None: none).

    A pass times the pending chains of every group, so a group's passes lie
    minutes apart and a slow spell of the machine (a neighbour streaming
    memory: DRAM-bound chains then run 20-30% slower for minutes on a shared
    VM) does not settle a whole group at once. The runs so far are handed to
    `save` after every measurement (under ``"pending"``) and taken up again from
    `previous`, so a killed calibration resumes where it stopped.

    Returns the whole record (`previous`'s groups kept); without any such
    block it has no groups and a note says why."""

    info = dict(previous or {})
    info.setdefault("format", FORMAT)
    groups = dict(info.get("groups") or {})
    todo = {g: ke for g, ke in calibration_keys(keys, footprint, precision, stem_kernel).items()
            if g not in groups}
    rule = BuildSettings(min_passes=min_passes, max_passes=max_passes, agree_tol=agree_tol)
    pending = dict(info.get("pending") or {})
    paths: dict[str, dict[int, str]] = {}
    runs: dict[str, dict[int, list[float]]] = {}
    for group, (key, _) in sorted(todo.items()):
        paths[group] = chain_models(key, precision, folder,
                                    chain_copies(float(footprint["bytes"][key]), caches))
        old = pending.get(group) or {}
        same = old.get("key") == key
        runs[group] = {n: list((old.get("runs") or {}).get(str(n), [])) if same else []
                       for n in paths[group]}
    if todo:
        log(f"context term: chains of {len(todo)} group(s): {', '.join(sorted(todo))}")
    while True:
        batch = [BenchModel(f"{g}/x{n}", paths[g][n]) for g in sorted(todo)
                 for n in paths[g] if needs_run(runs[g][n], (), rule)]
        if not batch:
            break
        for model, m in runner.measure(batch):
            group, n = model.name.rsplit("/x", 1)
            runs[group][int(n)].append(m.value_ms)
            info["pending"] = {g: {"key": todo[g][0],
                                   "runs": {str(c): list(v) for c, v in runs[g].items()}}
                               for g in todo}
            save(info)
    for group, (key, e) in sorted(todo.items()):
        times = {n: min(v) for n, v in runs[group].items()}
        f_key = float(footprint["bytes"][key])
        points = chain_points(key, times, f_key, float(e), weight_streaming, precision,
                              stem_kernel)
        rate, c = fit(points, float(e), *c_range(caches))
        groups[group] = {"key": key, "buffer_bytes": int(e), "footprint_bytes": int(f_key),
                         "chain_ms": {str(n): times[n] for n in sorted(times)},
                         "chain_runs": {str(n): runs[group][n] for n in sorted(runs[group])},
                         "points": [list(p) for p in points], "rate_ms_per_mb": rate,
                         "c_bytes": c}
    info.pop("pending", None)
    info["groups"] = groups
    info["min_buffer_bytes"] = MIN_BUFFER_BYTES
    if groups:
        info["default"] = max(groups, key=lambda g: groups[g]["buffer_bytes"])
        info.pop("note", None)
    else:
        info["note"] = (f"no residual block of the table holds >= {MIN_BUFFER_BYTES >> 10} KiB "
                        "of buffers beyond its weights: nothing to price")
    return info


def record_footprints(runner, keys: Sequence[str], record: dict | None, precision: str,
                      models_dir: str, stem_kernel: int,
                      log: Callable[[str], None]) -> dict | None:
    """The resident memory of every key's block model, net of the identity
    model of its input shape (`pxnas_tf.latency.measure.footprint`), added
    to `record` (the table's ``footprint``) for the keys it lacks.

    Returns:
        The updated record, or None when there is nothing to record (all
        keys have one, or the target said before that it cannot tell).
    """
    record = record or {"format": footprint_lib.FORMAT, "method": footprint_lib.METHOD,
                        "bytes": {}, "overhead": {}}
    if record.get("unsupported"):
        return None
    todo = [k for k in keys  # probes are measured for time only
            if k not in record["bytes"] and not k.startswith(OP_KIND + "-")]
    if not todo:
        return None
    shapes = {k: block_models.input_shape_of(k) for k in todo}
    overheads = {keys_lib.format_shape(s): block_models.overhead_name(s)
                 for s in shapes.values()}
    names = todo + [name for shape, name in overheads.items()
                    if shape not in record["overhead"]]
    log(f"recording the resident memory of {len(names)} block models")
    found = runner.resident_bytes([
        BenchModel(n, block_models.ensure_model_file(n, precision, models_dir, stem_kernel))
        for n in names])
    if found is None:
        record["unsupported"] = True  # this target cannot tell; do not ask again
        log("the target does not report memory: no footprints, no context term")
        return record
    for shape, name in overheads.items():
        if name in found:
            record["overhead"][shape] = int(found[name])
    for key in todo:
        base = record["overhead"].get(keys_lib.format_shape(shapes[key]), 0)
        record["bytes"][key] = max(0, int(found[key]) - int(base))
    return record
