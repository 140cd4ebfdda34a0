"""Runners by device string: ``host``, ``tf:cpu|tf:gpu[:N]``, ``linux:PATH``
and plugin kinds (``adb:SERIAL``, registered by android_bench through an
entry point)."""

from __future__ import annotations

from pxnas_tf.latency.measure.benchmark_runner import LocalBenchmarkRunner
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.measure.runner import MeasureSettings, Runner, RunnerError
from pxnas_tf.latency.measure.tf_runner import DEFAULT_BATCH, TFRunner, parse_tf_device


def parse_device(device: str) -> tuple[str, list[str]]:
    """``"host"`` -> ("host", []); ``"adb:A,B"`` -> ("adb", ["A", "B"]);
    ``"linux:/path"`` -> ("linux", ["/path"]); ``"tf:gpu:1"`` -> ("tf", ["gpu:1"]).

    Raises:
        RunnerError: for anything else, listing the valid forms.
    """
    text = (device or "").strip()
    kind, _, rest = text.partition(":")
    if kind == "host" and not rest:
        return "host", []
    if kind == "adb":
        serials = [s.strip() for s in rest.split(",") if s.strip()] if rest else []
        if len(set(serials)) != len(serials):
            raise RunnerError(f"--device={device!r} names a serial twice")
        return "adb", serials
    if kind == "linux" and rest:
        return "linux", [rest]
    if kind == "tf":
        parse_tf_device(rest)
        return "tf", [rest.strip().lower()]
    raise RunnerError(
        f"unknown device {device!r}: expected 'host', 'adb', 'adb:SERIAL[,SERIAL...]', "
        "'linux:PATH/TO/benchmark_model', 'tf:cpu' or 'tf:gpu[:N]'")


def make_runner(device: str, *, threads: int = 1, xnnpack: bool = True,
                settings: MeasureSettings | None = None, benchmark_model: str | None = None,
                cpu_mask: str | None = None, use_gpu: bool = False, adb_path: str = "adb",
                adb_timeout_s: float = 20.0, precision: str = "float32",
                tf_batch: int = DEFAULT_BATCH, tf_xla: bool = False) -> Runner:
    """The runner for `device` (see the module docstring).

    Args:
        device: ``host``, ``tf:cpu``, ``tf:gpu[:N]``, ``linux:PATH``, ``adb`` or
            ``adb:SERIAL,...``.
        threads: inference threads (tf: TensorFlow's intra-op threads).
        xnnpack: use the XNNPACK delegate (LiteRT's default on CPU).
        settings: warm-up, runs, rounds and stop rule.
        benchmark_model: for ``adb``: the Android ``benchmark_model`` binary
            on this machine (pushed to the phone).
        cpu_mask: CPU affinity as a hex mask (``taskset`` on the phone; on the
            host and linux, the measuring process is pinned to it).
        use_gpu: ``--use_gpu=true`` (benchmark_model runners only).
        adb_path: the adb executable.
        adb_timeout_s: timeout of one adb call that is not a benchmark.
        precision: tf: the precision the Keras models run in (``float32``, or
            ``fp16`` for mixed float16 on a GPU); the other runners take the
            precision of their model files.
        tf_batch: tf: the inference batch size.
        tf_xla: tf: compile the graph with XLA.

    Raises:
        RunnerError: bad device string or flags that the runner cannot honour.
    """
    kind, args = parse_device(device)
    settings = settings or MeasureSettings()
    if threads is not None and threads < 1:
        raise RunnerError(f"--threads must be >= 1, got {threads}")
    if kind == "host":
        if use_gpu:
            raise RunnerError("the host runner measures the CPU only; --use_gpu needs "
                              "--device=adb:... or linux:PATH with a GPU-enabled benchmark_model")
        return HostRunner(threads=threads, xnnpack=xnnpack, settings=settings, cpu_mask=cpu_mask)
    if kind == "tf":
        for flag, given in (("--cpu_mask", cpu_mask), ("--use_gpu", use_gpu),
                            ("--noxnnpack", not xnnpack)):
            if given:
                raise RunnerError(f"{flag} is a LiteRT setting; --device={device} times the "
                                  "TensorFlow runtime (tf:gpu for the GPU, --tf_xla for XLA)")
        return TFRunner(args[0], batch=tf_batch, xla=tf_xla, precision=precision,
                        threads=threads, settings=settings)
    if kind == "linux":
        return LocalBenchmarkRunner(args[0], threads=threads, xnnpack=xnnpack, settings=settings,
                                    cpu_mask=cpu_mask, use_gpu=use_gpu)
    if not benchmark_model:
        raise RunnerError("--device=adb needs --benchmark_model=PATH: the Android benchmark_model "
                          "binary on this machine (e.g. TF's android_aarch64_benchmark_model); it "
                          "is pushed to /data/local/tmp")
    return plugin_runner("adb")(benchmark_model, serials=args, threads=threads, xnnpack=xnnpack,
                                settings=settings, cpu_mask=cpu_mask, use_gpu=use_gpu,
                                adb=adb_path, adb_timeout_s=adb_timeout_s)


RUNNER_PLUGINS = "pxnas_tf.runners"


def plugin_runner(kind: str):
    """The runner class registered under `kind` in the ``pxnas_tf.runners``
    entry-point group (setup.py registers ``adb``: the `android_bench`
    package, which sits above pxnas_tf and is found only through this
    registry).

    Raises:
        RunnerError: if no installed package registers `kind`.
    """
    from importlib import metadata

    for entry in metadata.entry_points(group=RUNNER_PLUGINS):
        if entry.name == kind:
            return entry.load()
    raise RunnerError(f"no runner is registered for --device={kind}:...; it comes with the "
                      f"android_bench package of the pxnas_tf source: install the checkout with "
                      f"`make install` (or `pip install -e .`)")
