"""Runners around TFLite's C++ ``benchmark_model`` tool.

`BenchmarkModelRunner` holds what every such runner shares: the command
line, repeated invocations and their summary, and the parser
(`benchmark_output`). `LocalBenchmarkRunner` runs a binary on this machine
(``--device=linux:PATH``, e.g. on a Raspberry Pi); the Android runner in
``android_bench/`` runs it on a phone over adb.

Each model is benchmarked by several separate invocations of the tool
(``--num_runs`` timed runs after ``--warmup_runs``, ``--min_secs=0`` so
that the counts are exact). Every invocation reports one average; the
invocations are summarised like host rounds (`measurement.summarize_averages`):
the quiet ones, those within `quiet_tol` of the lowest average, are kept.
"""

from __future__ import annotations

import abc
import hashlib
import os
import platform
import subprocess
from typing import Any, Iterator, Sequence

from pxnas_tf.latency.measure.benchmark_output import (
    BenchmarkOutputError, BenchmarkResult, parse_benchmark_output,
)
from pxnas_tf.latency.measure.caches import cpu_caches
from pxnas_tf.latency.measure.host_runner import cpu_description, parse_cpu_mask
from pxnas_tf.latency.measure.measurement import Measurement, is_stable, summarize_averages
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings, Runner, RunnerError

ENOEXEC = 8


def benchmark_args(graph: str, threads: int, warmup_runs: int, num_runs: int,
                   xnnpack: bool | None = True, use_gpu: bool = False,
                   op_profiling: bool = False) -> list[str]:
    """The ``benchmark_model`` flags for one invocation (pure).

    `xnnpack=None` leaves ``--use_xnnpack`` out (the tool's default)."""
    args = [f"--graph={graph}", f"--num_threads={threads}", f"--warmup_runs={warmup_runs}",
            f"--num_runs={num_runs}", "--min_secs=0", "--warmup_min_secs=0"]
    if xnnpack is not None:
        args.append(f"--use_xnnpack={'true' if xnnpack else 'false'}")
    if use_gpu:
        args.append("--use_gpu=true")
    if op_profiling:
        args.append("--enable_op_profiling=true")
    return args


def result_ms(result: BenchmarkResult) -> tuple[float, float | None, int]:
    """(average, std, count) of the regular runs of one invocation, in ms."""
    return result.inference_avg_ms, result.inference_std_ms, result.inference_count or 1


def file_sha1(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class BenchmarkModelRunner(Runner):
    """Shared logic of the ``benchmark_model`` runners.

    Args:
        threads, xnnpack, use_gpu: the tool's ``--num_threads``,
            ``--use_xnnpack``, ``--use_gpu``.
        settings: warm-up runs, timed runs per invocation (`runs`),
            invocations (`min_rounds`..`max_rounds`), stop rule, timeout.
        op_profiling: add ``--enable_op_profiling=true`` (the per-op tables
            are parsed and kept in `last_results`).
    """

    def __init__(self, threads: int = 1, xnnpack: bool = True, use_gpu: bool = False,
                 settings: MeasureSettings | None = None, op_profiling: bool = False):
        self.threads, self.xnnpack, self.use_gpu = threads, xnnpack, use_gpu
        self.settings = settings or MeasureSettings()
        self.op_profiling = op_profiling
        self.last_results: dict[str, BenchmarkResult] = {}

    @abc.abstractmethod
    def _invoke(self, model: BenchModel, args: list[str], worker: int) -> str:
        """Runs the tool once on `model` with `args` (the ``--graph`` path is
        the runner's own); returns stdout and stderr together."""

    def _graph_path(self, model: BenchModel, worker: int) -> str:
        return model.path

    def _args(self, model: BenchModel, worker: int) -> list[str]:
        s = self.settings
        return benchmark_args(self._graph_path(model, worker), self.threads, s.warmup_runs,
                              s.runs, self.xnnpack, self.use_gpu, self.op_profiling)

    def measure_one(self, model: BenchModel, worker: int = 0) -> Measurement:
        """Invokes the tool on `model` until its averages agree."""
        s = self.settings
        averages, stds, counts = [], [], []
        while True:
            output = self._invoke(model, self._args(model, worker), worker)
            try:
                result = parse_benchmark_output(output, source=f"benchmark_model on {model.name}")
            except BenchmarkOutputError as e:
                raise RunnerError(f"{e}\nFix the cause above (a model the binary cannot run, a "
                                  "crash, or flags it does not know) and run again.") from None
            self.last_results[model.name] = result
            avg, std, count = result_ms(result)
            averages.append(avg)
            stds.append(std)
            counts.append(count)
            n = len(averages)
            if n >= s.max_rounds or (n >= min(s.min_rounds, s.min_quiet) and is_stable(
                    averages, s.min_quiet, s.max_spread, s.quiet_tol)):
                return summarize_averages(averages, stds, counts, s.quiet_tol, s.max_spread,
                                          s.min_quiet)

    def measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        for model in models:
            yield model, self.measure_one(model)

    def resident_bytes(self, models: Sequence[BenchModel]) -> dict[str, int] | None:
        """The tool's memory footprint delta (``overall``, MB) per model: from
        its last timing run, else from one more run; None when this build of
        the tool does not print it."""
        out = {}
        for model in models:
            result = self.last_results.get(model.name)
            if result is None or result.memory_overall_mb is None:
                output = self._invoke(model, self._args(model, 0), 0)
                try:
                    result = parse_benchmark_output(output,
                                                    source=f"benchmark_model on {model.name}")
                except BenchmarkOutputError as e:
                    raise RunnerError(f"{e}\nFix the cause above and run again.") from None
            if result.memory_overall_mb is None:
                return None
            out[model.name] = int(round(result.memory_overall_mb * (1 << 20)))
        return out


class LocalBenchmarkRunner(BenchmarkModelRunner):
    """``benchmark_model`` on this machine (``--device=linux:PATH``).

    Raises:
        RunnerError: the binary is missing, not executable, or built for
            another CPU.
    """

    kind = "linux"

    def __init__(self, binary: str, threads: int = 1, xnnpack: bool = True,
                 settings: MeasureSettings | None = None, cpu_mask: str | None = None,
                 use_gpu: bool = False, op_profiling: bool = False):
        super().__init__(threads, xnnpack, use_gpu, settings, op_profiling)
        self.binary = check_local_binary(binary)
        self.cpu_mask = cpu_mask
        if cpu_mask:
            self.cpus = parse_cpu_mask(cpu_mask)
        else:
            self.cpus = None

    def metadata(self) -> dict[str, Any]:
        return {
            "device": f"linux: {cpu_description()}",
            "runtime": "tflite benchmark_model",
            "runtime_version": f"binary sha1 {file_sha1(self.binary)[:12]}",
            "threads": self.threads,
            "delegate": "gpu" if self.use_gpu else ("xnnpack" if self.xnnpack else "none"),
            "runner": "linux",
            "benchmark_model": os.path.abspath(self.binary),
            "os": f"{platform.uname().system} {platform.uname().release}",
            "cpu_mask": self.cpu_mask,
            "caches": {} if self.use_gpu else cpu_caches(),
        }

    def _invoke(self, model: BenchModel, args: list[str], worker: int) -> str:
        if not os.path.isfile(model.path):
            raise RunnerError(f"model file {model.path!r} does not exist")
        cpus = self.cpus
        preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        return run_local(self.binary, args, self.settings.timeout_s, preexec)


def check_local_binary(binary: str) -> str:
    """Checks that `binary` exists and is executable here.

    Raises:
        RunnerError: naming the problem and the fix.
    """
    if not binary:
        raise RunnerError("no benchmark_model binary given: use --device=linux:PATH")
    if not os.path.exists(binary):
        raise RunnerError(f"benchmark_model binary {binary!r} does not exist; build it (bazel "
                          "build -c opt //tensorflow/lite/tools/benchmark:benchmark_model) or "
                          "download a nightly build for this CPU, and pass its path")
    if os.path.isdir(binary):
        raise RunnerError(f"benchmark_model binary {binary!r} is a folder, not a file")
    if not os.access(binary, os.X_OK):
        raise RunnerError(f"benchmark_model binary {binary!r} is not executable; run "
                          f"`chmod +x {binary}`")
    problem = _program_problem(binary)
    if problem:
        raise RunnerError(f"benchmark_model binary {binary!r} {problem}; pass the path of a "
                          f"benchmark_model built for this machine ({platform.machine()})")
    return binary


# ELF e_machine values of the CPUs benchmark_model is built for.
_ELF_MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv64"}
_HOST_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "riscv64": 243}


def _program_problem(path: str) -> str | None:
    """Why the file at `path` cannot be a program for this machine, read
    from its first bytes (None: an ELF file for this CPU, a script, or a
    CPU this check does not know)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if not head:
        return "is empty (0 bytes)"
    if head.startswith(b"#!"):
        return None
    if not head.startswith(b"\x7fELF"):
        return "is not a program (no ELF header)"
    if len(head) < 20:
        return "is a truncated ELF file"
    order = "little" if head[5] == 1 else "big"
    machine = int.from_bytes(head[18:20], order)
    host = _HOST_MACHINES.get(platform.machine().lower())
    if host is not None and machine != host:
        return f"is built for {_ELF_MACHINES.get(machine, f'ELF machine {machine}')}"
    return None


def run_local(binary: str, args: list[str], timeout_s: float, preexec=None) -> str:
    """Runs the tool; returns its output (stdout + stderr).

    Raises:
        RunnerError: wrong architecture, timeout, or a crash (quoting the
            output's last lines).
    """
    command = [binary, *args]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s, preexec_fn=preexec, check=False)
    except OSError as e:
        if e.errno == ENOEXEC:
            raise RunnerError(
                f"{binary!r} cannot run on this machine ({platform.machine()}): it is built for "
                "another CPU/ABI (e.g. an Android aarch64 build on an x86 host). Use a build for "
                "this machine, or --device=adb:SERIAL for a phone.") from None
        raise RunnerError(f"cannot run {binary!r}: {e}") from None
    except subprocess.TimeoutExpired as e:
        tail = _tail(e.stdout)
        raise RunnerError(f"benchmark_model timed out after {timeout_s:g} s on "
                          f"{args[0].removeprefix('--graph=')}; lower --num_runs or raise "
                          f"--timeout_s. Last lines:\n{tail}") from None
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        how = (f"was killed by signal {-done.returncode}" if done.returncode < 0
               else f"exited with status {done.returncode}")
        raise RunnerError(f"benchmark_model {how} on {args[0].removeprefix('--graph=')}. "
                          f"Last lines:\n{_tail(done.stdout)}")
    return output


def _tail(data: bytes | str | None, n: int = 12) -> str:
    if not data:
        return "    (no output)"
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = [line.rstrip() for line in text.splitlines() if line.strip()][-n:]
    return "\n".join("    " + line for line in lines)
