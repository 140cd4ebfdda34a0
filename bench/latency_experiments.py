"""The side experiments of bench/latency_accuracy.py, each measured with the
host runner: a table build timed from scratch, chains of residual blocks
(the context term), prefixes of zoo nets, chains of depthwise convs (time
and resident memory per op) and single depthwise kernels with and without
XNNPACK."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time


@dataclasses.dataclass(frozen=True)
class Host:
    """Where and how the experiments measure.

    Attributes:
        workdir: the benchmark's run folder (each experiment its own subfolder).
        space: the search space (preset name).
        threads: inference threads.
        xnnpack: LiteRT's XNNPACK delegate, or its builtin kernels.
        max_wait_s: how long one batch may wait for a quiet CPU.
    """

    workdir: str
    space: str = "proxyless_small"
    threads: int = 1
    xnnpack: bool = True
    max_wait_s: float = 3600.0

    def runner(self, xnnpack: bool | None = None):
        """A host runner with these settings (`xnnpack` overrides)."""
        from pxnas_tf.latency.measure.host_runner import HostRunner
        from pxnas_tf.latency.measure.runner import MeasureSettings

        return HostRunner(threads=self.threads,
                          xnnpack=self.xnnpack if xnnpack is None else xnnpack,
                          settings=MeasureSettings(max_wait_s=self.max_wait_s))


def fresh_build(host: Host, precision: str = "int8") -> dict:
    """Times a build of the whole space table from scratch: conversion of
    every block model and all passes (the "under 10 minutes" figure)."""
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.search_space import load_space

    folder = os.path.join(host.workdir, "fresh")
    shutil.rmtree(folder, ignore_errors=True)
    runner = host.runner()
    t0 = time.monotonic()
    report = build_table(load_space(host.space), runner,
                         os.path.join(folder, f"{precision}.json"), precision, progress=False)
    return {"precision": precision, "wall_s": time.monotonic() - t0,
            "convert_s": report.convert_s, "waited_s": runner.waited_s,
            "measured": report.measured, "entries": len(report.table),
            "unstable": len(report.unstable)}


def _lower_of_two_passes(host: Host, models) -> dict[str, float]:
    """{model name: ms}, each the lower of two passes of the host runner (the
    experiments' rule)."""
    runner = host.runner()
    best: dict[str, float] = {}
    for _ in range(2):
        for model, m in runner.measure(models):
            best[model.name] = min(best.get(model.name, float("inf")), m.value_ms)
    return best


def context_experiment(host: Host, precision: str = "int8") -> list[dict]:
    """Chains of 1, 2 and 4 identical residual MBConv blocks in one model:
    the time per block, to show when a block costs more inside a net than
    alone (the case no per-block table can capture)."""
    import keras

    from pxnas_tf.latency.measure.runner import BenchModel
    from pxnas_tf.layers import blocks
    from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

    folder = os.path.join(host.workdir, "context", precision)
    cases = [(7, 256, 1), (5, 256, 1), (7, 64, 4), (7, 24, 16)]
    models = []
    for kernel, channels, size in cases:
        for n in (1, 2, 4):
            name = f"k{kernel}_e6 {size}x{size}x{channels} x{n}"
            path = os.path.join(folder, f"k{kernel}_{size}_{channels}_{n}.tflite")
            if not os.path.exists(path):
                x0 = keras.Input((size, size, channels), batch_size=1)
                x = x0
                for i in range(n):
                    y = blocks.apply(blocks.mbconv_layers(channels, channels, kernel, 6, 1,
                                                          f"b{i}"), x)
                    x = keras.layers.Add(name=f"b{i}_add")([x, y])
                save_tflite(to_tflite(keras.Model(x0, x), precision, random_representative_data(
                    (size, size, channels))), path)
            models.append(BenchModel(name, path))
    best = _lower_of_two_passes(host, models)
    rows = []
    for kernel, channels, size in cases:
        per = [best[f"k{kernel}_e6 {size}x{size}x{channels} x{n}"] / n for n in (1, 2, 4)]
        rows.append({"block": f"k{kernel}_e6 at {size}x{size}x{channels}", "per_block_ms": per})
    return rows


PREFIX_NETS = ("zoo:mobilenet_v2", "zoo:proxyless_mobile")


def prefix_experiment(host: Host, table_path: str, precision: str = "int8") -> list[dict]:
    """Where a whole net's excess over its blocks arises: the first n layers
    of a zoo net as one model (n = 2, 4, 6, ...), each measured, against the
    sum of those layers' table entries."""
    import keras

    from pxnas_tf.latency.build import block_models
    from pxnas_tf.latency.build.validation import zoo_nets
    from pxnas_tf.latency.measure.runner import BenchModel
    from pxnas_tf.latency.model import keys as keys_lib
    from pxnas_tf.latency.model.table import LatencyTable
    from pxnas_tf.search_space import load_space
    from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

    table = LatencyTable.load(table_path)
    nets = {n.name: n for n in zoo_nets(load_space(host.space))}
    folder = os.path.join(host.workdir, "prefixes", precision)
    models, cases = [], []
    for name in PREFIX_NETS:
        keys = keys_lib.arch_keys(nets[name].arch)
        for n in sorted(set(range(2, len(keys), 2)) | {len(keys)}):
            path = os.path.join(folder, f"{name.split(':')[-1]}_{n}.tflite")
            shape = keys_lib.parse_key(keys[0]).input_shape
            if not os.path.exists(path):
                x0 = x = keras.Input(shape, batch_size=1)
                for i, key in enumerate(keys[:n]):  # each layer exactly as its block model
                    m = block_models.layer_model(key, (table.metadata.stem_kernel or 3))
                    x = keras.Model(m.inputs, m.outputs, name=f"layer{i}")(x)
                save_tflite(to_tflite(keras.Model(x0, x), precision,
                                      random_representative_data(shape)), path)
            models.append(BenchModel(f"{name} n={n}", path))
            cases.append((name, n, keys[n - 1], sum(table.value(k, "median") for k in keys[:n])))
    best = _lower_of_two_passes(host, models)
    return [{"net": name, "layers": n, "last": last, "table_sum_ms": total,
             "measured_ms": best[f"{name} n={n}"]} for name, n, last, total in cases]


FOOTPRINT_CHANNELS = 192
FOOTPRINT_COUNTS = (1, 4, 16)
_RSS_SCRIPT = """
import os, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
before = rss()
kw = {} if sys.argv[3] == '1' else {
    'experimental_op_resolver_type': OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2]), **kw)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d['index'], np.zeros(d['shape'], d['dtype']))
it.invoke(); it.invoke()
print(rss() - before)
"""


def resident_bytes(path: str, threads: int, xnnpack: bool = True) -> int:
    """How much resident memory loading and invoking `path` (LiteRT, with
    XNNPACK or its builtin kernels) adds to a fresh process: the runtime's
    packed weights and buffers."""
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, path, str(threads),
                          "1" if xnnpack else "0"], check=True, capture_output=True,
                         text=True).stdout
    return int(out.strip().splitlines()[-1])


def footprint_experiment(host: Host, precision: str = "int8") -> list[dict]:
    """n depthwise convs (k3 / k5 / k7, stride 1, `same`) in a chain at a
    1x1x192 map: time per op and resident memory per op as n grows. Shows
    how much memory the runtime gives each op (independent of the file
    size) and whether an op's time depends on how many others the net holds."""
    import keras

    from pxnas_tf.latency.measure.runner import BenchModel
    from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

    folder = os.path.join(host.workdir, "footprint", precision)
    shape = (1, 1, FOOTPRINT_CHANNELS)
    models = []
    for kernel in (3, 5, 7):
        for n in FOOTPRINT_COUNTS:
            path = os.path.join(folder, f"dw{kernel}_x{n}.tflite")
            if not os.path.exists(path):
                x0 = x = keras.Input(shape, batch_size=1)
                for i in range(n):
                    x = keras.layers.DepthwiseConv2D(kernel, padding="same", name=f"dw{i}")(x)
                save_tflite(to_tflite(keras.Model(x0, x), precision,
                                      random_representative_data(shape)), path)
            models.append((kernel, n, BenchModel(f"dw{kernel} x{n}", path)))
    best = _lower_of_two_passes(host, [b for _, _, b in models])
    return [{"kernel": kernel, "ops": n, "ms_per_op": best[b.name] / n,
             "file_bytes": os.path.getsize(b.path),
             "resident_bytes_per_op": resident_bytes(b.path, host.threads, host.xnnpack) / n}
            for kernel, n, b in models]


KERNEL_CASES = ((1, 1536), (4, 256), (16, 48))


def kernel_experiment(host: Host) -> list[dict]:
    """One depthwise conv alone (k3 / k5 / k7, stride 1, `same`), int8 and
    float32, with XNNPACK and with LiteRT's builtin kernels: the runtime's
    cost per kernel size, which the table has to capture and no MAC count
    does."""
    import keras

    from pxnas_tf.latency.measure.runner import BenchModel
    from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

    folder = os.path.join(host.workdir, "kernels")
    models = []
    for precision in ("int8", "float32"):
        for size, channels in KERNEL_CASES:
            for kernel in (3, 5, 7):
                name = f"{precision} dw k{kernel} {size}x{size}x{channels}"
                path = os.path.join(folder, f"{precision}_k{kernel}_{size}_{channels}.tflite")
                if not os.path.exists(path):
                    x0 = keras.Input((size, size, channels), batch_size=1)
                    x = keras.layers.DepthwiseConv2D(kernel, padding="same", use_bias=False)(x0)
                    save_tflite(to_tflite(keras.Model(x0, x), precision,
                                          random_representative_data((size, size, channels))),
                                path)
                models.append(BenchModel(name, path))
    rows = {m.name: {"name": m.name} for m in models}
    for xnnpack in (True, False):
        runner = host.runner(xnnpack)
        for model, m in runner.measure(models):
            rows[model.name]["xnnpack_ms" if xnnpack else "builtin_ms"] = m.value_ms
    return list(rows.values())
