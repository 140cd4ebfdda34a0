"""The host runner: this machine's CPU through the LiteRT interpreter.

Every model of a batch gets its own interpreter (``ai_edge_litert``,
`num_threads`, XNNPACK on by default or off with
``BUILTIN_WITHOUT_DEFAULT_DELEGATES``), is warmed up, and is then timed in
interleaved rounds: one round of model A, one of model B, ..., so that a
burst of load from another process lands on all of them instead of skewing
one. A round is `settings.runs` or more back-to-back ``invoke()`` calls
(enough to fill `settings.round_s`), each timed with
``time.perf_counter_ns``; the input is set once, before timing, so only
inference is measured. A round during which other processes kept the
machine busy (`pxnas_tf.latency.measure.cpu_load`) is thrown away and run again after
a pause (kept and flagged ``contended`` once `settings.max_wait_s` is
spent). A model stops once its quiet rounds agree (see
`pxnas_tf.latency.measure.measurement`) or after `settings.max_rounds` rounds, then
flagged unstable.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from typing import Any, Iterator, Sequence

import numpy as np

from pxnas_tf.latency.measure.caches import cpu_caches
from pxnas_tf.latency.measure.cpu_load import LoadMonitor
from pxnas_tf.latency.measure.footprint import FootprintError, resident_bytes
from pxnas_tf.latency.measure.measurement import CONTENDED, Measurement, is_stable, summarize_rounds
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings, Runner, RunnerError

MAX_INVOKES_PER_ROUND = 2000
REWARM_INVOKES = 2
LOAD_PAUSE_S = 0.2


def cpu_model_name() -> str:
    """The CPU model from /proc/cpuinfo (else `platform.processor()`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


# The widest vector extension first: XNNPACK picks its kernels by these, so two
# hosts with the same model name but different extensions time differently
# (the int8 kernels most of all: VNNI dot products).
_ISA_ORDER = ("avx512_vnni", "avx512f", "avx_vnni", "avx2", "avx", "sse4_2", "asimddp", "asimd")


def cpu_isa(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The widest SIMD extension that /proc/cpuinfo lists, e.g. ``"avx512_vnni"``
    (``""`` when the file or its flags line is missing)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                name = line.split(":", 1)[0].strip().lower()
                if name in ("flags", "features"):
                    flags = set(line.split(":", 1)[1].split())
                    return next((isa for isa in _ISA_ORDER if isa in flags), "")
    except OSError:
        pass
    return ""


def cpu_description() -> str:
    """``"AMD EPYC (x86_64, 2 CPUs, avx512_vnni)"``: what a table's device names."""
    parts = [platform.uname().machine, f"{os.cpu_count()} CPUs", cpu_isa()]
    return f"{cpu_model_name()} ({', '.join(p for p in parts if p)})"


def parse_cpu_mask(mask: str) -> set[int]:
    """``"0x3"`` / ``"3"`` (hex, as ``taskset`` takes it) -> {0, 1}.

    Raises:
        RunnerError: if it is not a non-zero hex number.
    """
    try:
        value = int(mask, 16)
    except (TypeError, ValueError):
        value = 0
    if value <= 0:
        raise RunnerError(f"--cpu_mask={mask!r} is not a CPU mask: give a non-zero hex number such "
                          "as 0x1 (CPU 0) or f0 (CPUs 4-7), as taskset takes it")
    return {i for i in range(value.bit_length()) if value >> i & 1}


def litert_version() -> str:
    try:
        from importlib.metadata import version
        return version("ai-edge-litert")
    except Exception:  # not installed as a distribution
        return "unknown"


class _Timed:
    """One model's interpreter and its rounds."""

    def __init__(self, model: BenchModel, threads: int, xnnpack: bool):
        from ai_edge_litert import interpreter as litert
        if not os.path.isfile(model.path):
            raise RunnerError(f"model file {model.path!r} does not exist")
        resolver = (litert.OpResolverType.AUTO if xnnpack
                    else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            self.interp = litert.Interpreter(model_path=model.path, num_threads=threads,
                                             experimental_op_resolver_type=resolver)
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise RunnerError(f"LiteRT cannot load {model.path!r} ({model.name}): {e}; "
                              "re-create the model file (delete it and run again)") from None
        rng = np.random.default_rng(0)
        for detail in self.interp.get_input_details():
            shape, dtype = detail["shape"], detail["dtype"]
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                data = rng.integers(max(info.min, -100), min(info.max, 100), size=shape)
            else:
                data = rng.standard_normal(shape)
            self.interp.set_tensor(detail["index"], data.astype(dtype))
        self.model = model
        self.rounds: list[np.ndarray] = []
        self.invokes_per_round = 1
        self.contended_rounds = 0

    def invoke(self, n: int) -> np.ndarray:
        """Times `n` back-to-back invokes (ms)."""
        invoke, clock = self.interp.invoke, time.perf_counter_ns
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            t0 = clock()
            invoke()
            out[i] = clock() - t0
        return out / 1e6


class HostRunner(Runner):
    """LiteRT on this machine's CPU.

    Args:
        threads: interpreter threads.
        xnnpack: keep LiteRT's default XNNPACK delegate.
        settings: warm-up, rounds and stop rule.
        cpu_mask: pin the measuring process to these CPUs (hex mask).
    """

    kind = "host"

    def __init__(self, threads: int = 1, xnnpack: bool = True,
                 settings: MeasureSettings | None = None, cpu_mask: str | None = None):
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError as e:
            raise RunnerError(f"the host runner needs ai_edge_litert ({e}); "
                              "pip install ai-edge-litert") from None
        self.threads = threads
        self.xnnpack = xnnpack
        self.settings = settings or MeasureSettings()
        self.cpu_mask = cpu_mask
        self.cpus = parse_cpu_mask(cpu_mask) if cpu_mask else None
        self.discarded_rounds = 0  # thrown away because the machine was busy
        self.waited_s = 0.0  # paused waiting for a quiet machine
        if self.cpus is not None and hasattr(os, "sched_getaffinity"):
            available = os.sched_getaffinity(0)
            if not self.cpus & available:
                raise RunnerError(f"--cpu_mask={cpu_mask} selects CPUs {sorted(self.cpus)}, none "
                                  f"of which this process may use ({sorted(available)})")

    def metadata(self) -> dict[str, Any]:
        uname = platform.uname()
        return {
            "device": f"host: {cpu_description()}",
            "runtime": "litert interpreter (python)",
            "runtime_version": litert_version(),
            "threads": self.threads,
            "delegate": "xnnpack" if self.xnnpack else "none",
            "runner": "host",
            "os": f"{uname.system} {uname.release}",
            "cpu_mask": self.cpu_mask,
            "caches": cpu_caches(),
        }

    def resident_bytes(self, models: Sequence[BenchModel]) -> dict[str, int]:
        """Anonymous resident memory each model adds to a fresh process
        (`pxnas_tf.latency.measure.footprint.resident_bytes`)."""
        try:
            found = resident_bytes([m.path for m in models], self.threads, self.xnnpack)
        except FootprintError as e:
            raise RunnerError(str(e)) from None
        return {m.name: found[m.path] for m in models}

    def measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        saved = None
        if self.cpus is not None and hasattr(os, "sched_setaffinity"):
            saved = os.sched_getaffinity(0)
            os.sched_setaffinity(0, self.cpus)
        try:
            yield from self._measure(models)
        finally:
            if saved is not None:
                os.sched_setaffinity(0, saved)

    def _measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        yield from measure_interleaved([_Timed(m, self.threads, self.xnnpack) for m in models],
                                       self.settings, self)


def measure_interleaved(active: list, s: MeasureSettings, runner
                        ) -> Iterator[tuple[BenchModel, Measurement]]:
    """The measurement loop shared by the runners that time in this process
    (host, tf): warm-up, interleaved rounds, rounds under foreign load thrown
    away and run again (counted on `runner.discarded_rounds` and
    `runner.waited_s`), the stop rule (see the module docstring).

    Args:
        active: one object per model with ``model`` (its `BenchModel`),
            ``invoke(n)`` (times n back-to-back invokes, ms), and the
            ``rounds``, ``invokes_per_round`` and ``contended_rounds``
            attributes of `_Timed`.
        s: warm-up, rounds and stop rule.
        runner: receives the discarded rounds and the time waited.
    """
    for t in active:
        warm = t.invoke(max(1, s.warmup_runs))
        per_invoke = float(np.median(warm)) / 1e3  # s
        fill = int(s.round_s / per_invoke) if per_invoke > 0 else s.runs
        t.invokes_per_round = int(min(MAX_INVOKES_PER_ROUND, max(s.runs, fill)))
    monitor = LoadMonitor()
    waited = 0.0
    while active:
        for t in active:
            t.invoke(REWARM_INVOKES)
            while True:
                monitor.reset()
                times = t.invoke(t.invokes_per_round)
                if not monitor.busier_than(s.max_load):
                    break
                if waited >= s.max_wait_s:
                    t.contended_rounds += 1
                    break
                runner.discarded_rounds += 1
                # Sleep (costing the others nothing) until one pause
                # was quiet, then time the round again.
                while waited < s.max_wait_s:
                    step = min(LOAD_PAUSE_S, s.max_wait_s - waited)
                    monitor.reset()
                    time.sleep(step)
                    waited += step
                    runner.waited_s += step
                    if not monitor.busier_than(s.max_load):
                        break
                t.invoke(REWARM_INVOKES)
            t.rounds.append(times)
        still = []
        for t in active:
            medians = [float(np.median(r)) for r in t.rounds]
            done = len(t.rounds) >= s.max_rounds or (
                len(t.rounds) >= s.min_rounds
                and is_stable(medians, s.min_quiet, s.max_spread, s.quiet_tol))
            if done:
                result = summarize_rounds(t.rounds, s.quiet_tol, s.max_spread, s.min_quiet)
                if t.contended_rounds:
                    result = dataclasses.replace(result, flags=result.flags + (CONTENDED,))
                yield t.model, result
            else:
                still.append(t)
        active = still
