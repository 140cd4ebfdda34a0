"""The one interface every latency runner implements, and the factory that
turns a ``--device`` string into a runner.

Devices:

    host                      this machine's CPU through the LiteRT interpreter
    tf:cpu, tf:gpu[:N]        the TensorFlow runtime (Keras models in graph mode, batched)
    linux:PATH                a local ``benchmark_model`` binary (e.g. a Raspberry Pi)
    adb                       the one Android phone attached over adb
    adb:SERIAL[,SERIAL...]    these phones (the work is spread over them)

A runner measures a batch of models (``.tflite`` files, or Keras models
for the tf runner) and yields one
`Measurement` per file as soon as it has it, so that a caller can save
after every model.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Iterator, Sequence

from pxnas_tf.errors import PxnasError
from pxnas_tf.latency.measure.measurement import Measurement


class RunnerError(PxnasError, ValueError):
    """A runner cannot run as asked (missing tool, no device, bad binary, a
    crash or timeout); the message names the cause and what to do."""


@dataclasses.dataclass(frozen=True)
class BenchModel:
    """One model file to measure.

    Attributes:
        name: what it is (a table key, ``"overhead"``, an arch name).
        path: the ``.tflite`` file on this machine (``""`` where only `keras`
            is given).
        keras: for runners of ``model_format`` ``"keras"`` (the tf runner):
            a function of the batch size that builds the Keras model.
    """

    name: str
    path: str
    keras: Callable[[int], Any] | None = dataclasses.field(default=None, compare=False)


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
            the machine used more than this many CPUs (one tick of the
            counters forgiven) is thrown away and run again (see
            `pxnas_tf.latency.measure.cpu_load`).
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
    """Measures models (TFLite files, or Keras models: `model_format`) on one target."""

    #: ``"host"``, ``"linux"``, ``"adb"`` or ``"tf"``.
    kind: str = ""
    #: what it times: ``"tflite"`` files (`BenchModel.path`) or ``"keras"``
    #: models (`BenchModel.keras`, built at the runner's `batch`).
    model_format: str = "tflite"
    #: the inference batch size the runner times at.
    batch: int = 1

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
        this target cannot tell (`pxnas_tf.latency.measure.footprint`).

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


