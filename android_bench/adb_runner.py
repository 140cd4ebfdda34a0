"""The Android runner: ``benchmark_model`` on phones over adb.

For every serial (``--device=adb:SERIAL[,SERIAL...]``; plain ``adb`` means
the one attached phone):

    adb -s S devices / get ready          (clear error: none, unauthorized, offline)
    check the binary's ELF machine against ro.product.cpu.abi
    adb -s S push benchmark_model /data/local/tmp/benchmark_model
    adb -s S shell chmod 755 /data/local/tmp/benchmark_model
    adb -s S shell mkdir -p /data/local/tmp/pxnas
per model:
    adb -s S push MODEL.tflite /data/local/tmp/pxnas/MODEL.tflite
    adb -s S shell [taskset MASK] /data/local/tmp/benchmark_model --graph=... \
        --num_threads=N --warmup_runs=W --num_runs=R --min_secs=0 --warmup_min_secs=0 \
        --use_xnnpack=true|false [--use_gpu=true] [--enable_op_profiling=true]

Several serials share a batch: one worker thread per phone takes the next
model, so N identical phones measure about N times faster. The phones must
be the same model (a table holds one device). Device facts go into the
table's metadata: model, manufacturer, SoC, Android version and SDK, ABI,
the CPU governor of the CPUs in the mask.

`plan_setup` and `plan_measure` return the exact adb argv lists, so the
sequence can be read (and tested) without a phone.
"""

from __future__ import annotations

import os
import queue
import shlex
import threading
from typing import Any, Iterator, Sequence

from android_bench.adb import REMOTE_DIR, Adb, AdbError
from pxnas_tf.latency.measure.benchmark_runner import BenchmarkModelRunner, file_sha1
from pxnas_tf.latency.measure.measurement import Measurement
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings, RunnerError

REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"
REMOTE_MODELS = f"{REMOTE_DIR}/pxnas"

# ELF e_machine -> the Android ABIs that run it.
_ELF_ABIS = {183: ("arm64-v8a",), 40: ("armeabi-v7a", "armeabi", "arm64-v8a"),
             62: ("x86_64",), 3: ("x86", "x86_64")}
_ELF_NAMES = {183: "aarch64", 40: "arm", 62: "x86-64", 3: "x86"}


def elf_machine(path: str) -> int | None:
    """The ELF ``e_machine`` of a binary; None if it is not ELF (pure I/O)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    return int.from_bytes(head[18:20], order)


def abi_problem(machine: int | None, abi: str, binary: str) -> str | None:
    """Why `binary` (ELF machine `machine`) cannot run on a phone of `abi`;
    None if it can (pure)."""
    if machine is None:
        return (f"{binary!r} is not an ELF executable; pass the Android benchmark_model binary "
                "(e.g. TF's android_aarch64_benchmark_model)")
    if machine not in _ELF_ABIS:
        return f"{binary!r} is built for ELF machine {machine}, which no Android ABI runs"
    if abi and abi not in _ELF_ABIS[machine]:
        return (f"{binary!r} is an {_ELF_NAMES[machine]} binary but the phone's ABI is {abi}; "
                "use the benchmark_model build for that ABI (android_aarch64_benchmark_model "
                "for arm64-v8a)")
    return None


def governor_command(cpus: Sequence[int]) -> str:
    """Shell command printing ``cpuN:governor`` for each CPU (pure)."""
    parts = [f"echo cpu{c}:$(cat /sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor "
             "2>/dev/null)" for c in cpus]
    return "; ".join(parts) or "true"


class AdbRunner(BenchmarkModelRunner):
    """``benchmark_model`` on one or more identical phones.

    Args:
        binary: the Android ``benchmark_model`` on this machine.
        serials: phones to use; empty: the one attached phone.
        cpu_mask: ``taskset`` mask on the phone (e.g. ``f0`` for the big
            cores 4-7 of many SoCs); None: no affinity.
        adb: the adb executable; adb_timeout_s: timeout of non-benchmark calls.

    Raises:
        AdbError: adb missing, no/unauthorized/offline phone, phones of
            different models.
        RunnerError: a binary for another ABI.
    """

    kind = "adb"

    def __init__(self, binary: str, serials: Sequence[str] = (), threads: int = 1,
                 xnnpack: bool = True, settings: MeasureSettings | None = None,
                 cpu_mask: str | None = None, use_gpu: bool = False, adb: str = "adb",
                 adb_timeout_s: float = 20.0, op_profiling: bool = False):
        super().__init__(threads, xnnpack, use_gpu, settings, op_profiling)
        if not os.path.isfile(binary):
            raise RunnerError(f"benchmark_model binary {binary!r} does not exist; download TF's "
                              "android_aarch64_benchmark_model or build it with Bazel "
                              "(--config=android_arm64)")
        if cpu_mask is not None:
            from pxnas_tf.latency.measure.host_runner import parse_cpu_mask
            parse_cpu_mask(cpu_mask)
        self.binary, self.cpu_mask = binary, cpu_mask
        serials = list(serials) or [None]
        self.adbs = [Adb(adb, s, adb_timeout_s) for s in serials]
        for a in self.adbs:
            a.check_ready()
        self.devices = [self._device_facts(a) for a in self.adbs]
        models = {(d["model"], d["soc"]) for d in self.devices}
        if len(models) > 1:
            raise AdbError(f"the phones are different models ({sorted(models)}); a latency table "
                           "holds one device: build one table per phone model")
        for a, facts in zip(self.adbs, self.devices):
            problem = abi_problem(elf_machine(binary), facts["abi"], binary)
            if problem:
                raise RunnerError(problem)
            for argv in self.plan_setup(a)[1:]:
                a.run(*argv[len(a.command()):])
            self._check_binary_runs(a)

    # Commands --------------------------------------------------------------

    def plan_setup(self, adb: Adb) -> list[list[str]]:
        """The adb argv lists that prepare one phone (pure)."""
        return [
            adb.command("devices"),
            adb.command("push", self.binary, REMOTE_BINARY),
            adb.command("shell", f"chmod 755 {REMOTE_BINARY}"),
            adb.command("shell", f"mkdir -p {REMOTE_MODELS}"),
        ]

    def remote_model(self, model: BenchModel) -> str:
        return f"{REMOTE_MODELS}/{os.path.basename(model.path)}"

    def shell_command(self, model: BenchModel) -> str:
        """The benchmark command run in ``adb shell`` for `model` (pure)."""
        s = self.settings
        from pxnas_tf.latency.measure.benchmark_runner import benchmark_args
        args = benchmark_args(self.remote_model(model), self.threads, s.warmup_runs, s.runs,
                              self.xnnpack, self.use_gpu, self.op_profiling)
        prefix = f"taskset {self.cpu_mask} " if self.cpu_mask else ""
        return prefix + shlex.join([REMOTE_BINARY, *args])

    def plan_measure(self, adb: Adb, model: BenchModel) -> list[list[str]]:
        """The adb argv lists of one benchmark invocation (pure)."""
        return [adb.command("push", model.path, self.remote_model(model)),
                adb.command("shell", self.shell_command(model))]

    # Device facts ------------------------------------------------------------

    def _device_facts(self, adb: Adb) -> dict[str, Any]:
        props = {name: adb.getprop(prop) for name, prop in (
            ("model", "ro.product.model"), ("manufacturer", "ro.product.manufacturer"),
            ("android", "ro.build.version.release"), ("sdk", "ro.build.version.sdk"),
            ("abi", "ro.product.cpu.abi"), ("soc", "ro.soc.model"),
            ("platform", "ro.board.platform"))}
        props["soc"] = props["soc"] or props.pop("platform", "")
        props.pop("platform", None)
        props["serial"] = adb.serial or adb.run("get-serialno").strip()
        from pxnas_tf.latency.measure.host_runner import parse_cpu_mask
        cpus = sorted(parse_cpu_mask(self.cpu_mask)) if self.cpu_mask else [0]
        _, out = adb.shell(governor_command(cpus))
        props["governor"] = " ".join(out.split())
        return props

    def _check_binary_runs(self, adb: Adb) -> None:
        rc, out = adb.shell(f"{REMOTE_BINARY} --help > /dev/null 2>&1; echo ok=$?")
        status = out.strip().rsplit("ok=", 1)[-1]
        if status not in ("0", "1"):  # 1: some builds exit 1 after printing usage
            raise RunnerError(f"{self.binary} does not run on the phone (exit status {status}): "
                              "it is probably built for another ABI or is not benchmark_model")

    def metadata(self) -> dict[str, Any]:
        d = self.devices[0]
        return {
            "device": f"{d['manufacturer']} {d['model']} ({d['soc']})".strip(),
            "runtime": "tflite benchmark_model",
            "runtime_version": f"binary sha1 {file_sha1(self.binary)[:12]}",
            "threads": self.threads,
            "delegate": "gpu" if self.use_gpu else ("xnnpack" if self.xnnpack else "none"),
            "runner": "adb",
            "android_version": d["android"], "sdk": d["sdk"], "abi": d["abi"],
            "cpu_governor": d["governor"], "cpu_mask": self.cpu_mask,
            "serials": [x["serial"] for x in self.devices],
        }

    # Measuring ---------------------------------------------------------------

    def _invoke(self, model: BenchModel, args: list[str], worker: int) -> str:
        adb = self.adbs[worker]
        push, shell = self.plan_measure(adb, model)
        adb.run(*push[len(adb.command()):])
        rc, out = adb.shell(shell[-1], timeout_s=self.settings.timeout_s)
        if rc != 0:
            tail = "\n".join("    " + line for line in out.strip().splitlines()[-12:])
            raise RunnerError(f"benchmark_model failed on {adb.serial or 'the phone'} for "
                              f"{model.name} (exit status {rc}). Last lines:\n{tail}")
        return out

    def measure(self, models: Sequence[BenchModel]) -> Iterator[tuple[BenchModel, Measurement]]:
        if len(self.adbs) == 1:
            for model in models:
                yield model, self.measure_one(model, 0)
            return
        todo: queue.Queue = queue.Queue()
        for model in models:
            todo.put(model)
        done: queue.Queue = queue.Queue()

        def work(worker: int) -> None:
            while True:
                try:
                    model = todo.get_nowait()
                except queue.Empty:
                    done.put(("end", worker, None))
                    return
                try:
                    done.put(("ok", model, self.measure_one(model, worker)))
                except Exception as e:  # reported to the caller below
                    done.put(("error", model, e))
                    done.put(("end", worker, None))
                    return

        threads = [threading.Thread(target=work, args=(i,), daemon=True)
                   for i in range(len(self.adbs))]
        for t in threads:
            t.start()
        ended, error = 0, None
        while ended < len(threads):
            kind, model, value = done.get()
            if kind == "ok":
                yield model, value
            elif kind == "error":
                error = error or value
            else:
                ended += 1
        if error is not None:
            raise error
