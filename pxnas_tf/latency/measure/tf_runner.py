"""The tf runner: Keras models in the TensorFlow runtime, on this machine's
CPU (``tf:cpu``) or one of its GPUs (``tf:gpu``, ``tf:gpu:N``), batched.

What a TensorFlow server runs: the Keras model of every `BenchModel`
(`BenchModel.keras`, built at the runner's batch size, default 8 as the
paper measured its GPU net) is called in graph mode (``tf.function``,
optionally compiled by XLA), in float32 or, on a GPU, under Keras'
``mixed_float16`` policy (float16 compute, float32 variables). One invoke
is one call of the function on a fixed random input held on the device;
on a GPU the clock stops once the device has finished
(``tf.test.experimental.sync_devices``), not when the kernels are queued.

The measurement hygiene is the host runner's
(`pxnas_tf.latency.measure.host_runner.measure_interleaved`): a first call
that traces (and compiles) the function, warm-up, interleaved rounds,
rounds during which other processes kept the CPUs busy thrown away and run
again, the quiet-round statistics and stop rule of
`pxnas_tf.latency.measure.measurement`. The table build adds the
lowest-pass rule on top, as for every runner.

The speed of a shared machine drifts by 10% and more over minutes, the same
for every model (a net timed 5.1 ms in one batch and 5.7-5.8 ms in three
later ones, with no other process running here): the lowest-pass rule
cannot undo a phase that lasts through all of a model's passes. So every
`measure` call also times a fixed *reference* net (`reference_model`)
interleaved with the models, and scales their times by
``reference_ms / the reference's time in this call``: times as at the
machine speed the reference was first measured at. A table records its
``reference_ms`` (the first batch of its build), and whatever is compared
with it (validation, the demo's timing of a trained net) is scaled to that
same value, so that drift between the build and the check cancels.

The table records ``runner: tf``, the device's name, ``batch``, ``xla``
and the precision; `pxnas_tf.latency.model.metadata.compat_differences`
refuses to mix tables that differ in any of them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterator, Sequence

import numpy as np

from pxnas_tf import fileio
from pxnas_tf.latency.measure.host_runner import cpu_description, measure_interleaved
from pxnas_tf.latency.measure.measurement import Measurement
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings, Runner, RunnerError
from pxnas_tf.search_space import load_arch

DEFAULT_BATCH = 8
REFERENCE = "reference"
# precision -> the Keras dtype policy the models are built under
POLICIES = {"float32": "float32", "fp16": "mixed_float16"}


def parse_tf_device(text: str) -> tuple[str, int]:
    """``"cpu"`` -> ("cpu", 0); ``"gpu"`` -> ("gpu", 0); ``"gpu:1"`` -> ("gpu", 1)
    (what follows ``tf:`` in ``--device``).

    Raises:
        RunnerError: for anything else.
    """
    kind, _, index = (text or "").strip().lower().partition(":")
    if kind == "cpu" and not index:
        return "cpu", 0
    if kind == "gpu" and (not index or index.isdigit()):
        return "gpu", int(index or 0)
    raise RunnerError(f"unknown device 'tf:{text}': expected tf:cpu, tf:gpu or tf:gpu:N "
                      "(N: the GPU's index, from 0)")


def tf_version() -> str:
    import tensorflow as tf
    return tf.__version__


def _gpu_name(gpu) -> str:
    import tensorflow as tf
    try:
        details = tf.config.experimental.get_device_details(gpu)
    except Exception:  # older builds / odd drivers: the name is enough
        details = {}
    name = details.get("device_name") or gpu.name
    cc = details.get("compute_capability")
    return f"{name} (compute {cc[0]}.{cc[1]})" if cc else name


def _set_threads(threads: int) -> None:
    """Intra-op threads = `threads`, inter-op threads = 1 (one op at a time,
    as the other runners); TensorFlow takes them only before it starts.

    Raises:
        RunnerError: TensorFlow already runs with other thread counts.
    """
    import tensorflow as tf
    cfg = tf.config.threading
    if (cfg.get_intra_op_parallelism_threads() == threads
            and cfg.get_inter_op_parallelism_threads() == 1):
        return
    try:
        cfg.set_intra_op_parallelism_threads(threads)
        cfg.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        raise RunnerError(
            f"--threads={threads}: TensorFlow has already started in this process with "
            f"{cfg.get_intra_op_parallelism_threads() or 'its default'} intra-op threads and "
            "cannot change them; create the tf runner before anything runs in TensorFlow "
            "(pass threads=None to keep TensorFlow's setting)") from None


def reference_model(batch: int):
    """The fixed net timed beside every batch of models to follow the
    machine's speed: two inverted-residual blocks at 14x14x32 (float32,
    about the cost of a table entry)."""
    import keras

    L = keras.layers
    x = inputs = keras.Input((14, 14, 32), batch_size=batch, name="x")
    for i in range(2):
        y = L.Conv2D(96, 1, use_bias=False, name=f"r{i}_expand")(x)
        y = L.ReLU(6.0, name=f"r{i}_relu_a")(L.BatchNormalization(name=f"r{i}_bn_a")(y))
        y = L.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"r{i}_dw")(y)
        y = L.ReLU(6.0, name=f"r{i}_relu_b")(L.BatchNormalization(name=f"r{i}_bn_b")(y))
        y = L.BatchNormalization(name=f"r{i}_bn_c")(
            L.Conv2D(32, 1, use_bias=False, name=f"r{i}_project")(y))
        x = L.Add(name=f"r{i}_add")([x, y])
    return keras.Model(inputs, x, name=REFERENCE)


class _TimedKeras:
    """One Keras model, its graph function and input on the device, and its
    rounds (the interface `measure_interleaved` drives)."""

    def __init__(self, model: BenchModel, runner: "TFRunner"):
        import keras
        import tensorflow as tf

        if model.keras is None:
            raise RunnerError(f"the tf runner times Keras models, and {model.name!r} comes as a "
                              f"file only ({model.path!r}); the table build and validation "
                              "hand it Keras models: measure with them")
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(POLICIES[runner.precision])
        try:
            with tf.device(runner.tf_device):
                net = model.keras(runner.batch)
                rng = np.random.default_rng(0)
                self.inputs = [tf.constant(rng.standard_normal(
                    (runner.batch, *[int(d) for d in x.shape[1:]])).astype(np.float32))
                    for x in net.inputs]
        finally:
            keras.config.set_dtype_policy(previous)
        inputs = self.inputs[0] if len(self.inputs) == 1 else self.inputs
        self.net = net  # keeps the variables alive
        self.fn = tf.function(lambda x: net(x, training=False), jit_compile=runner.xla,
                              autograph=False)
        self.args = (inputs,)
        self.device = runner.tf_device
        self.sync = tf.test.experimental.sync_devices if runner.gpu else (lambda: None)
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # one function per model: not the retracing it warns of
        try:
            with tf.device(self.device):
                self.fn(*self.args)  # trace (and compile) before anything is timed
                self.sync()
        except (tf.errors.OpError, ValueError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RunnerError(f"TensorFlow cannot run {model.name!r} on {runner.device_string} "
                              f"(batch {runner.batch}, xla={runner.xla}): {first}") from None
        finally:
            logger.setLevel(level)
        self.model = model
        self.rounds: list[np.ndarray] = []
        self.invokes_per_round = 1
        self.contended_rounds = 0

    def invoke(self, n: int) -> np.ndarray:
        """Times `n` back-to-back calls (ms)."""
        import tensorflow as tf

        fn, args, sync, clock = self.fn, self.args, self.sync, time.perf_counter_ns
        out = np.empty(n, dtype=np.int64)
        with tf.device(self.device):
            for i in range(n):
                t0 = clock()
                fn(*args)
                sync()
                out[i] = clock() - t0
        return out / 1e6


class TFRunner(Runner):
    """Keras models in the TensorFlow runtime (graph mode), batched.

    Args:
        device: ``"cpu"``, ``"gpu"`` or ``"gpu:N"`` (what follows ``tf:``).
        batch: inference batch size.
        xla: compile the graph function with XLA (``jit_compile=True``).
        precision: ``float32``, or ``fp16`` (Keras ``mixed_float16``; GPU only).
        threads: TensorFlow's intra-op threads (inter-op: 1); None keeps
            TensorFlow's own setting (it can be set only before TensorFlow
            starts in the process).
        settings: warm-up, rounds, stop rule and load gate.
        reference_ms: the reference net's time that results are scaled to
            (a table's ``reference_ms``); None: its time in the first
            `measure` call (kept in the attribute of that name).

    Raises:
        RunnerError: no such GPU, a precision the target does not run, or
            thread counts TensorFlow can no longer take.
    """

    kind = "tf"
    model_format = "keras"

    def __init__(self, device: str = "cpu", batch: int = DEFAULT_BATCH, xla: bool = False,
                 precision: str = "float32", threads: int | None = 1,
                 settings: MeasureSettings | None = None, reference_ms: float | None = None):
        kind, index = parse_tf_device(device)
        self.gpu = kind == "gpu"
        self.device_string = f"tf:{kind}" + (f":{index}" if self.gpu and index else "")
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise RunnerError(f"--tf_batch must be an integer >= 1, got {batch!r}")
        if precision not in POLICIES:
            raise RunnerError(f"--device={self.device_string} times float32 or fp16 (Keras "
                              f"mixed_float16) models, not {precision!r}: pass "
                              "--precision=float32" + (" or fp16" if self.gpu else ""))
        if precision == "fp16" and not self.gpu:
            raise RunnerError(f"--device={self.device_string} --precision=fp16: mixed float16 "
                              "is a GPU precision (a CPU emulates float16 math slowly); pass "
                              "--precision=float32, or --device=tf:gpu")
        if threads is not None and threads < 1:
            raise RunnerError(f"--threads must be >= 1, got {threads}")
        try:
            import tensorflow as tf
        except ImportError as e:
            raise RunnerError(f"the tf runner needs TensorFlow ({e}); pip install "
                              "tensorflow") from None
        if self.gpu:
            gpus = tf.config.list_physical_devices("GPU")
            if index >= len(gpus):
                found = (f"finds {len(gpus)} GPU(s) (indices 0-{len(gpus) - 1})" if gpus
                         else "finds no GPU on this machine")
                raise RunnerError(
                    f"--device={self.device_string}: TensorFlow {tf.__version__} {found}; "
                    + ("pass an index below that" if gpus else
                       "run on a machine with an NVIDIA GPU and its driver, with "
                       "`pip install tensorflow[and-cuda]`, or measure this CPU with "
                       "--device=tf:cpu"))
            self.device_name = _gpu_name(gpus[index])
            self.tf_device = f"/GPU:{index}"
        else:
            self.device_name = cpu_description()
            self.tf_device = "/CPU:0"
        if threads is not None:
            _set_threads(threads)
        self.batch, self.xla, self.precision, self.threads = batch, xla, precision, threads
        self.settings = settings or MeasureSettings()
        self.reference_ms = reference_ms
        self.discarded_rounds = 0  # thrown away because the machine was busy
        self.waited_s = 0.0  # paused waiting for a quiet machine

    def metadata(self) -> dict[str, Any]:
        uname = platform.uname()
        kind = "gpu" if self.gpu else "cpu"
        return {
            "device": f"tf:{kind}: {self.device_name}",
            "runtime": "tensorflow (graph mode" + (", xla)" if self.xla else ")"),
            "runtime_version": tf_version(),
            "threads": self.threads,
            "precision": self.precision,
            "runner": "tf",
            "os": f"{uname.system} {uname.release}",
            "batch": self.batch,
            "xla": self.xla,
            **({"host_cpu": cpu_description()} if self.gpu else {}),
        }

    def measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        """Times `models` interleaved with the reference net and yields them
        scaled to `reference_ms` (see the module docstring), once all are done."""
        timed = [_TimedKeras(m, self) for m in models]
        reference = _TimedKeras(BenchModel(REFERENCE, "", keras=reference_model), self)
        results = list(measure_interleaved([*timed, reference], self.settings, self))
        now = next(m for model, m in results if model is reference.model).value_ms
        if self.reference_ms is None:
            self.reference_ms = now
        factor = self.reference_ms / now
        for model, m in results:
            if model is not reference.model:
                yield model, m.scaled(factor)


# Timing saved nets in a process of their own ------------------------------------

def time_keras_files(files: dict[str, str], device: str = "cpu", *, threads: int | None = 1,
                     batch: int = DEFAULT_BATCH, xla: bool = False, precision: str = "float32",
                     settings: dict | None = None,
                     reference_ms: float | None = None) -> dict[str, dict]:
    """Times `files` side by side with the tf runner: ``.keras`` models, or
    arch ``.json`` files built at `batch` (latency does not depend on the
    weights). TensorFlow takes thread counts only before it starts: call
    it in a fresh process (`time_keras_files_in_child`) unless threads=None.
    `reference_ms`: a table's, to compare the times with its predictions.

    Returns:
        name -> {"median_ms", "mean_ms", "std_ms", "invokes", "rounds",
        "flags", "device", "batch"} (ms per batch).
    """
    with TFRunner(device, batch=batch, xla=xla, precision=precision, threads=threads,
                  settings=MeasureSettings(**(settings or {})),
                  reference_ms=reference_ms) as runner:
        name = runner.metadata()["device"]
        models = [BenchModel(key, path, keras=_keras_builder(path)) for key, path in files.items()]
        return {m.name: {"median_ms": r.value_ms, "mean_ms": r.mean_ms, "std_ms": r.std_ms,
                         "invokes": r.count, "rounds": r.rounds, "flags": list(r.flags),
                         "device": name, "batch": batch}
                for m, r in runner.measure(models)}


def time_keras_files_in_child(files: dict[str, str], device: str = "cpu", *, threads: int = 1,
                              batch: int = DEFAULT_BATCH, xla: bool = False,
                              precision: str = "float32", settings: dict | None = None,
                              reference_ms: float | None = None,
                              timeout_s: float | None = None) -> dict[str, dict]:
    """`time_keras_files` in a fresh Python process, so that the timing gets
    its thread counts whatever this process has run in TensorFlow.

    Raises:
        RunnerError: the child failed (its last error line is named).
    """
    request = {"files": files, "device": device, "threads": threads, "batch": batch,
               "xla": xla, "precision": precision, "settings": settings or {},
               "reference_ms": reference_ms}
    with tempfile.TemporaryDirectory(prefix="pxnas_tf_timing_") as tmp:
        req, res = os.path.join(tmp, "request.json"), os.path.join(tmp, "result.json")
        with open(req, "w", encoding="utf-8") as f:
            json.dump(request, f)
        proc = subprocess.run([sys.executable, "-m", __name__, req, res], capture_output=True,
                              text=True, timeout=timeout_s)
        if proc.returncode != 0 or not os.path.exists(res):
            lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
            raise RunnerError(f"timing {', '.join(files)} on tf:{device} failed: "
                              + (lines[-1] if lines else f"exit status {proc.returncode}"))
        with open(res, encoding="utf-8") as f:
            return json.load(f)


def _keras_builder(path: str):
    """Batch size -> the Keras model of `path` (a saved model keeps its
    free batch dimension; an arch is built at the batch)."""
    if path.endswith(".json"):
        def build(batch: int):
            from pxnas_tf.models import build_model
            return build_model(load_arch(path), batch_size=batch)
    else:
        def build(batch: int):
            import keras
            return keras.saving.load_model(path, compile=False)
    return build


def _child(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        request = json.load(f)
    files = request.pop("files")
    device = request.pop("device")
    try:
        out = time_keras_files(files, device, **request)
    except RunnerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fileio.atomic_write_json(argv[2], out)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv))
