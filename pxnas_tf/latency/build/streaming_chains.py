"""Measuring the weight-streaming curve of a target: chains of 1x1 convs
whose weights go from half of L2 to beyond the last-level cache, converted
to TFLite and timed (the model it feeds: `pxnas_tf.latency.model.streaming`)."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Sequence

from pxnas_tf.latency.measure.runner import BenchModel
from pxnas_tf.latency.model.streaming import (
    BYTES_PER_WEIGHT, DEFAULT_CHANNELS, FORMAT, curve_lengths,
)
from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

PASSES = 2  # the lowest of two passes, as for the keys


def calibration_models(precision: str, lengths: Sequence[int], folder: str,
                       channels: int = DEFAULT_CHANNELS) -> dict[str, str]:
    """Writes the single-layer and chain ``.tflite`` models (reused when
    there); returns {"single": path, "chain_N": path for N in `lengths`}."""

    os.makedirs(folder, exist_ok=True)
    out = {}
    for name, n in [("single", 1)] + [(f"chain_{n}", n) for n in lengths]:
        path = os.path.join(folder, f"streaming_chain_{precision}_c{channels}_n{n}.tflite")
        if not os.path.isfile(path):
            import keras
            x = inputs = keras.Input((1, 1, channels), batch_size=1)
            for _ in range(n):
                x = keras.layers.Conv2D(channels, 1)(x)
            model = keras.Model(inputs, x)
            save_tflite(to_tflite(model, precision, random_representative_data(
                (1, 1, channels))), path)
        out[name] = path
    return out


def measure_streaming(runner, precision: str, caches: dict[str, int],
                      folder: str | None = None, channels: int = DEFAULT_CHANNELS,
                      max_bytes: int | None = None, passes: int = PASSES) -> dict[str, Any]:
    """Measures the weight-streaming curve on `runner` (see the module doc of
    `pxnas_tf.latency.model.streaming`): chains of `curve_lengths` layers and
    one layer alone, timed together in `passes` passes (each model's lowest
    kept, as for the table's keys); each chain's extra time over its layers
    alone is a point of the curve. `max_bytes`: the most weights a net the
    table predicts can hold (None: any net, as for a table with probes).

    Raises:
        ValueError: no L2 size is known (the model needs it).
    """

    if not caches.get("L2"):
        raise ValueError("the target's L2 cache size is unknown, so the weight-streaming model "
                         "cannot be used")
    lengths = curve_lengths(caches, precision, channels, max_bytes)
    folder = folder or tempfile.mkdtemp(prefix="pxnas_streaming_")
    paths = calibration_models(precision, lengths, folder, channels)
    times: dict[str, float] = {}
    for _ in range(passes):
        for model, m in runner.measure([BenchModel(k, v) for k, v in paths.items()]):
            value = m.median_ms if m.median_ms is not None else m.mean_ms
            times[model.name] = min(value, times.get(model.name, value))
    per_layer = channels * channels * BYTES_PER_WEIGHT[precision]
    curve = [[n * per_layer, round(max(0.0, times[f"chain_{n}"] - n * times["single"]), 6)]
             for n in lengths]
    top_bytes, top_extra = curve[-1]
    return {"format": FORMAT, "ms_per_mb": top_extra / (top_bytes / 1e6),
            "l2_bytes": caches["L2"], "caches": dict(caches), "channels": channels,
            "curve": curve, "max_bytes": max_bytes, "single_ms": times["single"],
            "chain_ms": {str(n): times[f"chain_{n}"] for n in lengths}}
