"""What the Pareto and specialization benchmarks share: running the `pxnas`
command line step by step (each step's result saved to a JSON file in the
work dir, so that a re-run skips what is done) and timing the nets side by
side on this machine: exported files in LiteRT (the host runner), or Keras
models in the TensorFlow runtime (the tf runner). The arithmetic that
compares fronts is bench/fronts.py.

Every net goes through the same commands a user would type:

    pxnas latency build --space=SPACE.json --precision=... --threads=... --out=TABLE.json
        [--device=tf:cpu --tf_batch=8]
    pxnas search  --latency_table=TABLE.json --target_latency=T ... --workdir=S
    pxnas train   --arch=S/arch.json|ZOO_NAME|ARCH.json --workdir=W  (one recipe for all)
    pxnas export  --model=W/last.keras --mode=int8|float32 --nolatency

and the exported files are then timed together (`pxnas_tf.export.verify.
measure_latencies`: the host runner, interleaved rounds, rounds during which
other processes were busy thrown away; or the trained Keras models with the
tf runner, which shares that loop), in `passes` separate passes; the
figure kept is the lowest pass median (other processes only ever add time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from typing import Sequence

from bench import fronts
from pxnas_tf.knobs import CANDIDATE_WEIGHTS, LATENCY_BUDGETS
from pxnas_tf.search_math.loss_forms import LOSS_FORMS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = "fashion_mnist"
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


# Flags both benchmarks take ------------------------------------------------------

def define_budget_flags() -> None:
    """The search and training budget flags (absl), shared by both scripts."""
    from absl import flags
    flags.DEFINE_integer("train_examples", 5000, "Training images per net (seeded subset).")
    flags.DEFINE_integer("epochs", 3, "Training epochs per net.")
    flags.DEFINE_integer("batch_size", 128, "Training batch size.")
    flags.DEFINE_float("lr", 0.1, "Peak training learning rate.")
    flags.DEFINE_integer("search_examples", 3000, "Search: weight-training images (the demo's "
                         "name).")
    flags.DEFINE_integer("holdout_examples", 600, "Search: arch holdout images.")
    flags.DEFINE_alias("search_train_examples", "search_examples")  # names of reports before
    flags.DEFINE_alias("search_holdout", "holdout_examples")  # 2026-12-06
    flags.DEFINE_integer("search_warmup_epochs", 1, "Search: warm-up epochs.")
    flags.DEFINE_integer("search_epochs", 2, "Search: joint epochs.")
    flags.DEFINE_float("arch_lr", 5e-3, "Search: Adam lr of the arch logits.")
    flags.DEFINE_integer("arch_every", 5, "Search: weight steps per arch step (the demo's "
                         "search: 1).")
    flags.DEFINE_float("arch_temperature", 0.2, "Search: the logits' temperature after the last "
                       "arch step (1: no annealing, as in rounds 1-7).")
    flags.DEFINE_float("latency_lambda", 0.1, "Search: add#linear / abs#target weight.")
    flags.DEFINE_enum("loss", "add#linear", [f for f in LOSS_FORMS if f != "ce"],
                      "Search: arch loss.")
    flags.DEFINE_enum("latency_budget", "hard", list(LATENCY_BUDGETS),
                      "Search: hard derives the most probable arch within the target, band "
                      "the most probable one within 90-100% of it.")
    flags.DEFINE_enum("candidate_weights", "shared", list(CANDIDATE_WEIGHTS),
                      "Search: candidate ops as slices of one shared block per block (trains "
                      "within these budgets) or each with its own weights (the paper's).")
    flags.DEFINE_enum("target_scale", "log", ["log", "linear"], "How target fractions map onto "
                      "[fastest, slowest]: log (fastest * (slowest/fastest)^f) or linear.")
    flags.DEFINE_integer("seed", 0, "Seed of every search and training (data subsets, "
                         "initialisation, path sampling).")
    flags.DEFINE_integer("passes", 2, "Latency passes (the lowest median is kept).")
    flags.DEFINE_float("max_wait_s", 600.0, "How long a latency batch may wait for a quiet CPU.")


def budgets_from_flags() -> tuple["SearchBudget", "TrainBudget"]:
    from absl import flags
    f = flags.FLAGS
    return (SearchBudget(train_examples=f.search_examples,
                         holdout_examples=f.holdout_examples,
                         warmup_epochs=f.search_warmup_epochs, epochs=f.search_epochs,
                         arch_lr=f.arch_lr, arch_every=f.arch_every,
                         arch_temperature=f.arch_temperature,
                         latency_lambda=f.latency_lambda, loss=f.loss,
                         latency_budget=f.latency_budget,
                         candidate_weights=f.candidate_weights, seed=f.seed),
            TrainBudget(train_examples=f.train_examples, epochs=f.epochs, batch_size=f.batch_size,
                        lr=f.lr, seed=f.seed))


# The machine, Markdown and the command line -----------------------------------------

def md_code(text: str) -> str:
    """`text` as inline code inside a Markdown table cell (| escaped)."""
    return "`" + text.replace("|", "\\|") + "`"


def machine() -> str:
    import tensorflow as tf

    from pxnas_tf.latency.measure.host_runner import cpu_model_name, litert_version
    u = platform.uname()
    return (f"{cpu_model_name()}, {os.cpu_count()} cores, {u.system} {u.release}, Python "
            f"{platform.python_version()}, TensorFlow {tf.__version__}, ai-edge-litert "
            f"{litert_version()}, CPU only")


def load_note() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def section_head(title: str, command: str) -> list[str]:
    """The first lines of a report section: title, date, machine, load, command."""
    import datetime
    return [f"# {title}", "",
            f"Date: {datetime.date.today().isoformat()}. Machine: {machine()}. Load average at "
            f"the end: {load_note()}.", "", f"Command: `{command}`", ""]


def pxnas(args: Sequence[str], log_path: str) -> float:
    """Runs `pxnas ARGS` in a child process (output appended to `log_path`);
    returns its wall time in seconds.

    Raises:
        RuntimeError: with the log's tail when the command fails.
    """
    cmd = [sys.executable, "-m", "pxnas_tf.cli.main", *args]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    print(f"$ pxnas {' '.join(args)}", flush=True)
    start = time.time()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ pxnas {' '.join(args)}\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    seconds = time.time() - start
    if code != 0:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"`pxnas {' '.join(args)}` failed ({code}); log {log_path}:\n{tail}")
    return seconds


def read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def done(path: str) -> dict | None:
    """The saved result of a finished step, or None."""
    return read_json(path) if os.path.exists(path) else None


def save(path: str, obj) -> None:
    from pxnas_tf import fileio
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fileio.atomic_write_json(path, obj)


# Steps --------------------------------------------------------------------------------

def space_file(workdir: str, width: float = 1.0) -> str:
    """`proxyless_small` adapted to Fashion-MNIST (28x28x1, 10 classes), at
    width multiplier `width`, as a file (`pxnas latency build` takes the
    space's own input shape)."""
    suffix = "" if width == 1.0 else f"_x{width:g}"
    path = os.path.join(workdir, f"space_28x28x1{suffix}.json")
    if not os.path.exists(path):
        save(path, space(width).to_dict())
    return path


def space(width: float = 1.0):
    """The benchmarks' space; at another width it is named
    ``proxyless_small_x0.75`` (as `zoo.mobilenet_v2_in` names it)."""
    from pxnas_tf.search_space import load_space
    s = load_space("proxyless_small", input_shape=list(INPUT_SHAPE), num_classes=NUM_CLASSES)
    return s if width == 1.0 else s.replace(width_mult=width, name=f"{s.name}_x{width:g}")


def table(workdir: str, precision: str, threads: int, max_wait_s: float = 20.0,
          max_passes: int = 2, width: float = 1.0, xnnpack: bool = True,
          runner: str = "host", batch: int = 1) -> dict:
    """Builds (or finds) the space's latency table for one target on this
    machine (`max_wait_s`: how long one batch may wait for a quiet CPU before
    its rounds are kept and flagged contended; `max_passes`: passes per key at
    most, 2 on a busy machine where nearly every key gets flagged; `width`:
    the space's width multiplier; `xnnpack`: LiteRT's XNNPACK delegate, or
    its builtin kernels; `runner`: ``host`` (LiteRT, batch 1) or ``tf:cpu``
    (Keras models in the TensorFlow runtime at `batch`)). The search uses the
    block table alone: no context calibration."""
    tf = runner.startswith("tf:")
    name = (f"table_{precision}_t{threads}" + ("" if width == 1.0 else f"_x{width:g}")
            + ("" if xnnpack or tf else "_builtin") + (f"_tf_b{batch}" if tf else ""))
    record = os.path.join(workdir, name + ".done.json")
    with _claim(record + ".lock"):
        return done(record) or _table(workdir, name, precision, threads, max_wait_s, max_passes,
                                      width, record, xnnpack, runner, batch)


def _table(workdir, name, precision, threads, max_wait_s, max_passes, width, record,
           xnnpack=True, runner="host", batch=1) -> dict:
    path = os.path.join(workdir, name + ".json")
    space_path = space_file(workdir, width)
    tf = runner.startswith("tf:")
    target = ([f"--device={runner}", f"--tf_batch={batch}"] if tf else
              ["--device=host", "--xnnpack" if xnnpack else "--noxnnpack"])
    seconds = pxnas(["latency", "build", f"--space={space_path}", *target,
                     f"--precision={precision}", f"--threads={threads}", "--noprogress",
                     f"--max_wait_s={max_wait_s:g}", f"--max_passes={max_passes}",
                     "--nocontext", f"--out={path}"],
                    os.path.join(workdir, "logs", name + ".log"))
    from pxnas_tf.search import LatencyModel
    fastest, slowest = LatencyModel.from_table(space(width), path, "median", precision).bounds()
    out = {"path": path, "precision": precision, "threads": threads, "seconds": seconds,
           "fastest_ms": fastest, "slowest_ms": slowest, "width": width, "space": space_path,
           "xnnpack": xnnpack, "runner": runner, "batch": batch}
    save(record, out)
    return out


def table_note(table_info: dict) -> str:
    """How a table was measured: entries, and how many carry a flag
    (contended: timed while other jobs were busy; unstable: passes disagreed)."""
    entries = read_json(table_info["path"])["entries"]
    flagged = sum(1 for e in entries.values() if e.get("flags"))
    return (f"{len(entries)} entries, {flagged} flagged contended/unstable (each entry the lowest "
            f"of its passes)")


def mobilenet_v2_arch(workdir: str, width: float) -> str:
    """The arch file of MobileNetV2 at `width` in the space's layout."""
    from pxnas_tf.models import zoo
    path = os.path.join(workdir, "archs", f"mobilenet_v2_x{width:g}.json")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        zoo.mobilenet_v2_in(space(), width).save(path)
    return path


def width_targets(workdir: str, table: dict, widths: list[float]) -> list[float]:
    """Table predictions (ms) of MobileNetV2 at `widths` (op model for the
    keys the table lacks)."""
    from pxnas_tf.latency.model.op_model import load_or_fit
    from pxnas_tf.latency.model.predictor import predict
    from pxnas_tf.latency.model.table import LatencyTable
    from pxnas_tf.search_space import load_arch

    latency_table = LatencyTable.load(table["path"])
    op_model = load_or_fit(latency_table, table["path"])
    return [predict(load_arch(mobilenet_v2_arch(workdir, w)), latency_table, op_model).total_ms
            for w in widths]


@dataclasses.dataclass(frozen=True)
class SearchBudget:
    train_examples: int = 3000
    holdout_examples: int = 600
    batch_size: int = 64
    warmup_epochs: int = 1
    epochs: int = 2
    arch_lr: float = 5e-3
    arch_every: int = 5
    arch_temperature: float = 0.2
    loss: str = "add#linear"
    latency_lambda: float = 0.1
    latency_budget: str = "hard"
    candidate_weights: str = "shared"
    seed: int = 0

    def flags(self) -> list[str]:
        return [f"--search_examples={self.train_examples}",
                f"--holdout_examples={self.holdout_examples}",
                f"--search_batch_size={self.batch_size}",
                f"--search_warmup_epochs={self.warmup_epochs}",
                f"--search_epochs={self.epochs}", "--arch_delay_epochs=0",
                f"--arch_lr={self.arch_lr}",
                f"--arch_every={self.arch_every}", f"--arch_temperature={self.arch_temperature}",
                f"--loss={self.loss}", f"--latency_lambda={self.latency_lambda}",
                f"--latency_budget={self.latency_budget}",
                f"--candidate_weights={self.candidate_weights}"]


def search(workdir: str, name: str, table_info: dict, target_ms: float,
           budget: SearchBudget) -> dict:
    """A ProxylessNAS search against `table_info`'s table at `target_ms`."""
    record = os.path.join(workdir, "searches", name + ".json")
    with _claim(record + ".lock"):
        return done(record) or _search(workdir, name, table_info, target_ms, budget, record)


def _search(workdir, name, table_info, target_ms, budget, record) -> dict:
    folder = os.path.join(workdir, "searches", name)
    # Tables recorded before they named their space file are of the preset.
    args = ["search", f"--space={table_info.get('space', 'proxyless_small')}",
            f"--dataset={DATASET}", f"--seed={budget.seed}",
            f"--latency_table={table_info['path']}", "--latency_stat=median",
            f"--latency_precision={table_info['precision']}", f"--target_latency={target_ms:.4f}",
            *budget.flags(), "--noprogress", f"--workdir={folder}"]
    seconds = pxnas(args, os.path.join(workdir, "logs", f"search_{name}.log"))
    summary = read_json(os.path.join(folder, "summary.json"))
    mean_gap, max_gap = fronts.probability_spread(summary["probabilities"])
    out = {"name": name, "arch_path": os.path.join(folder, "arch.json"), "target_ms": target_ms,
           "probability_gap_mean": mean_gap, "probability_gap_max": max_gap,
           "table": table_info["path"], "seconds": seconds, "command": "pxnas " + " ".join(args),
           "arch": summary["arch"], "predicted_ms": summary["latency"],
           "expected_ms": summary["expected_latency"], "derived_by": summary["derived_by"],
           "holdout_accuracy": summary["holdout_accuracy"], "weight_steps": summary["weight_steps"],
           "arch_steps": summary["arch_steps"]}
    save(record, out)
    return out


@dataclasses.dataclass(frozen=True)
class TrainBudget:
    """The one training recipe every net gets."""
    train_examples: int = 5000
    val_examples: int = 2000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1
    warmup_epochs: float = 0.5
    seed: int = 0

    def flags(self) -> list[str]:
        return [f"--train_examples={self.train_examples}", f"--val_examples={self.val_examples}",
                f"--epochs={self.epochs}", f"--batch_size={self.batch_size}", f"--lr={self.lr}",
                f"--warmup_epochs={self.warmup_epochs}", "--mixed_precision=float32",
                f"--seed={self.seed}"]

    def describe(self) -> str:
        return (f"{self.train_examples:,} of the 60,000 training images (seeded subset, the same "
                f"for every net), {self.epochs} epochs, batch {self.batch_size}, SGD Nesterov lr "
                f"{self.lr} ({self.warmup_epochs} warm-up epoch, cosine), label smoothing 0.1, "
                "weight decay 4e-5, dropout 0.1, pad-and-crop augmentation, float32; the last "
                "epoch's weights are exported (no selection on the test split)")


def train_and_export(workdir: str, name: str, arch_ref: str, budget: TrainBudget,
                     modes: Sequence[str] = ("int8",), calibration_examples: int = 500) -> dict:
    """Trains `arch_ref` (arch file or zoo name) with the shared recipe, then
    exports `modes` verified on the whole test split; resumable per step."""
    record = os.path.join(workdir, "nets", name + ".json")
    with _claim(record + ".lock"):
        return _train_and_export(workdir, name, arch_ref, budget, modes, calibration_examples,
                                 record)


@contextlib.contextmanager
def _claim(lock: str):
    """Holds `lock` (a file with this process's id) for one net, waiting while
    another live process of the same benchmark holds it."""
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            break
        except FileExistsError:
            try:
                with open(lock, encoding="utf-8") as f:
                    pid = int(f.read().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                try:  # stale: its process is gone
                    os.remove(lock)
                except FileNotFoundError:
                    pass
                continue
            time.sleep(10)
    try:
        yield
    finally:
        os.remove(lock)


def _train_and_export(workdir, name, arch_ref, budget, modes, calibration_examples,
                      record) -> dict:
    out = done(record) or {"name": name, "arch_ref": arch_ref}
    folder = os.path.join(workdir, "nets", name)
    log = os.path.join(workdir, "logs", f"net_{name}.log")
    if "train" not in out:
        seconds = pxnas(["train", f"--arch={arch_ref}", f"--workdir={folder}",
                         f"--dataset={DATASET}", *budget.flags(), "--noprogress"], log)
        res = read_json(os.path.join(folder, "results.json"))
        from pxnas_tf.models import profile
        from pxnas_tf.search_space import load_arch
        arch = load_arch(os.path.join(folder, "arch.json"))
        cost = profile.profile_arch(arch)
        out["train"] = {"seconds": seconds, "val_top1_subset": res["val_top1"],
                        "epochs": res["epochs"]}
        out.update(arch=arch.arch_string, params=cost.params, macs=cost.macs)
        save(record, out)
    out.setdefault("exports", {})
    for mode in modes:
        if mode in out["exports"]:
            continue
        tflite = os.path.join(folder, f"net_{mode}.tflite")
        seconds = pxnas(["export", f"--model={os.path.join(folder, 'last.keras')}",
                         f"--mode={mode}", f"--out={tflite}", "--nolatency",
                         f"--calibration_examples={calibration_examples}"], log)
        from pxnas_tf.export import sidecar_path
        rep = read_json(sidecar_path(tflite))["verification"]
        out["exports"][mode] = {"path": tflite, "seconds": seconds,
                                "tflite_top1": rep["tflite_top1"], "keras_top1": rep["keras_top1"],
                                "agreement": rep["agreement"], "examples": rep["examples"],
                                "size_bytes": rep["size_bytes"],
                                "integer_only": rep["integer_only"]}
        save(record, out)
    return out


def measure(workdir: str, name: str, files: dict[str, str], threads: int, passes: int = 2,
            max_wait_s: float = 600.0, xnnpack: bool = True, runner: str = "host",
            batch: int = 1, settings: dict | None = None) -> dict:
    """Latency of `files`, all side by side, in `passes` passes; resumable per
    pass (nets added later get their passes in the next call). `runner`
    ``host``: ``.tflite`` files in LiteRT (`threads` threads, XNNPACK or its
    builtin kernels), batch 1; ``tf:cpu``: Keras models (``.keras`` files, or
    arch ``.json`` files built at the batch) in the TensorFlow runtime at
    `batch`, float32, timed in a child process (TensorFlow takes its thread
    counts only before it starts). `settings`: `MeasureSettings` fields
    that differ from the verification defaults (tests: fewer rounds)."""
    from pxnas_tf.export.verify import latency_settings, measure_latencies
    from pxnas_tf.latency.measure.tf_runner import time_keras_files_in_child

    record = os.path.join(workdir, f"latency_{name}.json")
    results = done(record) or {}
    while True:
        todo = {k: p for k, p in files.items()
                if len(results.get(k, {}).get("passes", [])) < passes}
        if not todo:
            break
        start = time.time()
        if runner.startswith("tf:"):
            stats = time_keras_files_in_child(
                todo, runner.split(":", 1)[1], threads=threads, batch=batch,
                settings=dict(settings or {}, max_wait_s=max_wait_s))
        else:
            stats = {k: {"median_ms": s.median_ms, "flags": list(s.flags), "device": s.device}
                     for k, s in measure_latencies(
                         todo, threads, latency_settings(max_wait_s=max_wait_s,
                                                         **(settings or {})),
                         xnnpack=xnnpack).items()}
        print(f"measured {len(todo)} model(s) on {runner} at {threads} thread(s) in "
              f"{time.time() - start:.0f} s", flush=True)
        for k, s in stats.items():
            r = results.setdefault(k, {"passes": [], "flags": []})
            r["passes"].append(s["median_ms"])
            r["flags"] = sorted(set(r["flags"]) | set(s["flags"]))
            r["median_ms"] = fronts.best_pass(r["passes"])
            r["device"] = s["device"]
        save(record, results)
    return {k: results[k] for k in files}


def flag_note(latency: dict) -> str:
    return f" ({'/'.join(latency['flags'])})" if latency.get("flags") else ""
