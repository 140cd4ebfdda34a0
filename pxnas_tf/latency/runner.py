"""The one interface every latency runner implements, and the factory that
turns a ``--device`` string into a runner.

Devices:

    host                      this machine's CPU through the LiteRT interpreter
    linux:PATH                a local ``benchmark_model`` binary (e.g. a Raspberry Pi)
    adb                       the one Android phone attached over adb
    adb:SERIAL[,SERIAL...]    these phones (the work is spread over them)

A runner measures a batch of ``.tflite`` files and yields one
`Measurement` per file as soon as it has it, so that a caller can save
after every model.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Iterator, Sequence

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.measurement import Measurement


class RunnerError(PxnasError, ValueError):
    """A runner cannot run as asked (missing tool, no device, bad binary, a
    crash or timeout); the message names the cause and what to do."""


@dataclasses.dataclass(frozen=True)
class BenchModel:
    """One model file to measure.

    Attributes:
        name: what it is (a table key, ``"overhead"``, an arch name).
        path: the ``.tflite`` file on this machine.
    """

    name: str
    path: str


@dataclasses.dataclass(frozen=True)
class MeasureSettings:
    """How hard a runner tries.

    Attributes:
        warmup_runs: invokes before timing.
        runs: invokes per round (host: at least; it also fills `round_s`).
        round_s: host: target duration of one round.
        min_rounds: rounds before the stop rule is checked.
        max_rounds: rounds at most (then the result is flagged unstable).
        max_spread: relative spread of the quiet rounds' medians that counts
            as stable (0.02 = 2%).
        quiet_tol: rounds within this of the lowest median are quiet.
        min_quiet: quiet rounds needed.
        timeout_s: one tool invocation at most (benchmark_model runners).
        max_load: host and linux runners: a round during which the rest of
            the machine used more than this many CPUs is thrown away and run
            again (see `pxnas_tf.latency.load`).
        max_wait_s: how long, in all, one batch may wait for the machine to
            go quiet; after that contended rounds are kept and flagged.
    """

    warmup_runs: int = 20
    runs: int = 20
    round_s: float = 0.03
    min_rounds: int = 5
    max_rounds: int = 30
    max_spread: float = 0.02
    quiet_tol: float = 0.03
    min_quiet: int = 3
    timeout_s: float = 120.0
    max_load: float = 0.3
    max_wait_s: float = 300.0

    def __post_init__(self):
        for name in ("warmup_runs", "runs", "min_rounds", "max_rounds", "min_quiet"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "warmup_runs" else 1):
                raise ValueError(f"MeasureSettings.{name} must be a positive integer, got {value!r}")
        if self.max_rounds < self.min_rounds:
            raise ValueError(f"max_rounds ({self.max_rounds}) < min_rounds ({self.min_rounds})")
        if self.min_quiet > self.max_rounds:
            raise ValueError(f"min_quiet ({self.min_quiet}) > max_rounds ({self.max_rounds})")
        if self.max_wait_s < 0:
            raise ValueError(f"MeasureSettings.max_wait_s must be >= 0, got {self.max_wait_s!r}")
        for name in ("round_s", "max_spread", "quiet_tol", "timeout_s", "max_load"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MeasureSettings.{name} must be > 0, got {getattr(self, name)!r}")


class Runner(abc.ABC):
    """Measures TFLite models on one target."""

    #: ``"host"``, ``"linux"`` or ``"adb"``.
    kind: str = ""

    @abc.abstractmethod
    def metadata(self) -> dict[str, Any]:
        """Table metadata fields: device, runtime, runtime_version, threads,
        delegate, plus any runner-specific extras (affinity, governor, ...)."""

    @abc.abstractmethod
    def measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        """Measures every model of the batch, yielding each result as soon as
        it is known (order not guaranteed).

        Raises:
            RunnerError: when the target fails; results yielded before stay valid.
        """

    def resident_bytes(self, models: Sequence[BenchModel]) -> dict[str, int] | None:
        """{model name: resident memory (bytes) the runtime holds for it once
        loaded and invoked, the runtime's own share included}, or None where
        this target cannot tell (`pxnas_tf.latency.footprint`).

        Raises:
            RunnerError: when the target fails.
        """
        return None

    def close(self) -> None:
        """Releases devices, processes and files."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_device(device: str) -> tuple[str, list[str]]:
    """``"host"`` -> ("host", []); ``"adb:A,B"`` -> ("adb", ["A", "B"]);
    ``"linux:/path"`` -> ("linux", ["/path"]).

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
    raise RunnerError(
        f"unknown device {device!r}: expected 'host', 'adb', 'adb:SERIAL[,SERIAL...]' or "
        "'linux:PATH/TO/benchmark_model'")


def make_runner(device: str, *, threads: int = 1, xnnpack: bool = True,
                settings: MeasureSettings | None = None, benchmark_model: str | None = None,
                cpu_mask: str | None = None, use_gpu: bool = False, adb_path: str = "adb",
                adb_timeout_s: float = 20.0) -> Runner:
    """The runner for `device` (see the module docstring).

    Args:
        device: ``host``, ``linux:PATH``, ``adb`` or ``adb:SERIAL,...``.
        threads: inference threads.
        xnnpack: use the XNNPACK delegate (LiteRT's default on CPU).
        settings: warm-up, runs, rounds and stop rule.
        benchmark_model: for ``adb``: the Android ``benchmark_model`` binary
            on this machine (pushed to the phone).
        cpu_mask: CPU affinity as a hex mask (``taskset`` on the phone; on the
            host and linux, the measuring process is pinned to it).
        use_gpu: ``--use_gpu=true`` (benchmark_model runners only).
        adb_path: the adb executable.
        adb_timeout_s: timeout of one adb call that is not a benchmark.

    Raises:
        RunnerError: bad device string or flags that the runner cannot honour.
    """
    kind, args = parse_device(device)
    settings = settings or MeasureSettings()
    if threads < 1:
        raise RunnerError(f"--threads must be >= 1, got {threads}")
    if kind == "host":
        if use_gpu:
            raise RunnerError("the host runner measures the CPU only; --use_gpu needs "
                              "--device=adb:... or linux:PATH with a GPU-enabled benchmark_model")
        from pxnas_tf.latency.host_runner import HostRunner
        return HostRunner(threads=threads, xnnpack=xnnpack, settings=settings, cpu_mask=cpu_mask)
    if kind == "linux":
        from pxnas_tf.latency.benchmark_runner import LocalBenchmarkRunner
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