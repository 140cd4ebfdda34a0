"""Validation: predicted vs measured latency of whole nets.

    1. Nets: `num_archs` random archs of the table's space (fixed seed) and,
       optionally, the zoo nets rebuilt at the space's input shape and
       number of classes.
    2. Each net is built (`models.build_model`, batch 1), converted in the
       table's precision (the tf runner: built at its batch size and timed
       as a Keras model) and measured with the same runner and the same pass
       rule as the table: at least two passes, more while the two lowest
       disagree, and the lowest pass as the value (`builder.best_run`).
       The table's reference models are timed in the same passes
       (`machine_state`): how fast the machine runs now against during the
       build. While it runs more than 5% slower, up to two more passes of
       everything are taken, a minute apart; the state it ends in is
       reported.
    3. Prediction: the table entry of every layer (the sum that search
       uses); a layer the table lacks comes from the fitted op model
       (`op_model`), and the net is marked as such.
    4. Report: per net predicted vs measured, MAPE, RMSE, share within
       +/-10%, Kendall tau; a scatter plot PNG next to the table.

Measured nets are saved after every measurement in
``TABLE.validation.json``: a rerun measures only what is missing (and, while
the references still find the machine slower, takes more passes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Callable, Sequence

from pxnas_tf import fileio
from pxnas_tf.latency.build import foreign_nets, machine_state, tflite_ops
from pxnas_tf.latency.build.builder import default_models_dir
from pxnas_tf.latency.build.settings import BuildSettings, best_run, is_confirmed, needs_run
from pxnas_tf.latency.measure.runner import BenchModel, Runner, RunnerError
from pxnas_tf.latency.model import metrics
from pxnas_tf.latency.model.entries import LatencyTableError
from pxnas_tf.latency.model.metadata import TableMetadata, compat_differences, table_problems
from pxnas_tf.latency.model.op_model import OpModel
from pxnas_tf.latency.model.predictor import predict, predict_ops
from pxnas_tf.latency.model.table import LatencyTable
from pxnas_tf.search_space import Arch, SearchSpace, SpaceError, random_archs
from pxnas_tf.tflite import save_tflite

RESULTS_FORMAT = "pxnas_tf.latency_validation/v1"


@dataclasses.dataclass(frozen=True)
class Net:
    """One validation net: an arch (`group` ``"space"``: a random arch of
    the table's space, or ``"zoo"``) or a foreign net's spec (`group` its
    family, see `pxnas_tf.latency.build.foreign_nets`)."""

    name: str
    arch: Arch | None
    group: str = "space"
    spec: str | None = None

    @property
    def description(self) -> str:
        return self.spec if self.arch is None else self.arch.arch_string

    @property
    def fingerprint(self) -> str:
        text = (json.dumps(self.arch.to_dict(), sort_keys=True) if self.arch is not None
                else f"foreign:{self.spec}")
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class NetResult:
    """Predicted and measured latency of one net.

    Attributes:
        predicted_ms, measured_ms: the two figures.
        std_ms: the prediction's uncertainty (op-model layers only; 0 when
            every layer came from the table).
        source: ``"table"``, ``"table+op_model"`` or ``"op_model"``.
        runs: the measured passes (ms).
        flags: e.g. ``"unstable"`` when the passes never agreed.
    """

    name: str
    group: str
    arch_string: str
    predicted_ms: float
    measured_ms: float
    std_ms: float
    source: str
    runs: tuple[float, ...]
    flags: tuple[str, ...] = ()

    @property
    def error(self) -> float:
        return (self.predicted_ms - self.measured_ms) / self.measured_ms


def zoo_nets(space: SearchSpace) -> list[Net]:
    """The zoo nets at the input shape and class count of `space` (those
    whose strides fit the input)."""
    from pxnas_tf.models import zoo

    nets = []
    for name in zoo.list_names():
        try:
            arch = zoo.get_arch(name, input_shape=space.input_shape,
                                num_classes=space.num_classes)
        except SpaceError:
            continue
        nets.append(Net(f"zoo:{name}", arch, "zoo"))
    return nets


def foreign(specs: Sequence[str]) -> list[Net]:
    """Foreign nets by spec (`foreign_nets.parse_spec`), grouped by family.

    Raises:
        ForeignNetError: a malformed spec.
    """
    return [Net(spec, None, foreign_nets.parse_spec(spec)[0], spec) for spec in specs]


def validation_nets(space: SearchSpace, num_archs: int, seed: int = 0, zoo: bool = True,
                    nets: Sequence[str] = ()) -> list[Net]:
    """Random archs of `space`, then (optionally) the zoo nets, then the
    foreign nets `nets`."""
    out = [Net(a.name, a, "space") for a in random_archs(space, num_archs, seed)]
    return out + (zoo_nets(space) if zoo else []) + foreign(nets)


# Measuring whole nets -------------------------------------------------------------

def results_path(table_path: str) -> str:
    return os.path.splitext(table_path)[0] + ".validation.json"


def plot_path(table_path: str) -> str:
    return os.path.splitext(table_path)[0] + ".validation.png"


def _load_results(path: str, table: LatencyTable) -> tuple[dict, dict]:
    """The saved nets and machine record (empty where there are none or they
    were measured under other conditions)."""
    if not os.path.exists(path):
        return {}, {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}, {}
    if doc.get("format") != RESULTS_FORMAT:
        return {}, {}
    if compat_differences(TableMetadata.from_dict(doc.get("metadata") or {}), table.metadata):
        return {}, {}  # measured under other conditions: start over
    return doc.get("nets", {}), doc.get("machine") or {}


def net_file(net: Net, precision: str, folder: str) -> str:
    """The ``.tflite`` file of `net` in `precision` in `folder`, converted
    first if it is not there (named by the net and its fingerprint)."""
    from pxnas_tf.models import build_model

    path = os.path.join(folder, f"{_safe(net.name)}-{net.fingerprint}.tflite")
    if not os.path.isfile(path):
        model = (foreign_nets.build(net.spec) if net.arch is None
                 else build_model(net.arch, batch_size=1))
        save_tflite(tflite_ops.keras_to_tflite(model, precision), path)
    return path


def _keras_factory(net: Net):
    """`BenchModel.keras` of a net (the tf runner): batch size -> its model."""
    from pxnas_tf.models import build_model

    if net.arch is None:
        return lambda batch: foreign_nets.build(net.spec, batch)
    return lambda batch: build_model(net.arch, batch_size=batch)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def measure_nets(nets: Sequence[Net], runner: Runner, table: LatencyTable, table_path: str,
                 settings: BuildSettings | None = None, models_dir: str | None = None,
                 progress: bool = True) -> dict[str, dict]:
    """Measures every net (resuming from ``TABLE.validation.json``) and
    returns name -> {"runs", "measured_ms", "flags", "fingerprint"}."""
    return _measure(nets, runner, table, table_path, settings, models_dir, progress)[0]


def _measure(nets: Sequence[Net], runner: Runner, table: LatencyTable, table_path: str,
             settings: BuildSettings | None = None, models_dir: str | None = None,
             progress: bool = True, refs: Sequence[machine_state.Reference] = (),
             extra_passes: int = 0, log: Callable[[str], None] | None = None
             ) -> tuple[dict[str, dict], dict]:
    """`measure_nets`, with the reference models `refs` timed in the same
    passes, interleaved with the nets, and up to `extra_passes` more passes
    of everything while they find the machine slower than during the build
    (`machine_state`). Returns the nets' results and the machine record
    (``runs`` of the references, ``state``: `machine_state.speeds`,
    ``extra_passes``), both saved in ``TABLE.validation.json``."""
    from tqdm import tqdm

    settings = settings or BuildSettings()
    precision = table.metadata.precision or "int8"
    folder = models_dir or os.path.join(default_models_dir(table_path, precision), "nets")
    path = results_path(table_path)
    done, machine = _load_results(path, table)
    state = {}
    for net in nets:
        old = done.get(net.name)
        state[net.name] = (list(old["runs"]) if old and old.get("fingerprint") == net.fingerprint
                           else [])
    old_refs = machine.get("references") or {}
    for ref in refs:
        old = old_refs.get(ref.name) or {}
        state[ref.name] = list(old.get("runs", [])) if old.get("build_ms") == ref.build_ms else []
    machine = {"references": {}, "extra_passes": int(machine.get("extra_passes", 0))}
    doc = {"format": RESULTS_FORMAT, "metadata": table.metadata.to_dict(), "nets": done,
           "machine": machine}

    def save(name: str, write: bool = True) -> None:
        runs = state[name]
        if name in by_ref:
            machine["references"][name] = {"runs": runs, "build_ms": by_ref[name].build_ms,
                                           "kind": by_ref[name].kind}
            machine["state"] = machine_state.speeds(refs, state)
            if write:
                fileio.atomic_write_json(path, doc)
            return
        net = by_name[name]
        value = runs[best_run(runs)]
        if needs_run(runs, (), settings):
            flags = ["pending"]  # more passes to come
        else:
            flags = [] if is_confirmed(runs, settings.agree_tol) else ["unstable"]
        doc["nets"][net.name] = {"fingerprint": net.fingerprint, "arch": net.description,
                                 "runs": runs, "measured_ms": value, "flags": flags}
        if write:
            fileio.atomic_write_json(path, doc)

    by_name = {n.name: n for n in nets}
    by_ref = {r.name: r for r in refs}
    todo_nets = [n for n in nets if needs_run(state[n.name], (), settings)]
    keras = getattr(runner, "model_format", "tflite") == "keras"
    if table.metadata.reference_ms and hasattr(runner, "reference_ms"):
        runner.reference_ms = table.metadata.reference_ms  # the tf runner: the table's speed
    to_convert = [] if keras else todo_nets  # the tf runner times the Keras nets
    files = {}
    bar = tqdm(total=len(to_convert), desc="converting nets", unit="net", file=sys.stderr,
               disable=not progress or not to_convert)
    for net in to_convert:
        files[net.name] = net_file(net, precision, folder)
        bar.update(1)
    bar.close()

    def model(name: str) -> BenchModel:
        if name in by_ref:
            return BenchModel(name, by_ref[name].path)
        net = by_name[name]
        return (BenchModel(name, "", keras=_keras_factory(net)) if keras else
                BenchModel(name, files.get(name) or net_file(net, precision, folder)))

    order = machine_state.interleave([n.name for n in nets], [r.name for r in refs])
    bar = tqdm(total=sum(max(0, settings.min_passes - len(state[n])) for n in order),
               desc="measuring nets", unit="model", file=sys.stderr, disable=not progress)

    def measure(names: list[str]) -> None:
        for i in range(0, len(names), settings.batch_size):
            for bench, m in runner.measure([model(n) for n in names[i:i + settings.batch_size]]):
                state[bench.name].append(round(m.value_ms, 6))
                save(bench.name)
                bar.update(1)

    extra = 0  # this call's (a rerun later tries again)
    try:
        while True:
            todo = [n for n in order if needs_run(state[n], (), settings)]
            if todo:
                measure(todo)
                continue
            now = machine_state.speeds(refs, state)
            if extra >= extra_passes or not machine_state.is_slower(now):
                break
            if log:
                log(f"the machine runs slower than during the build ({machine_state.describe(now)})"
                    f": another pass of every net in {machine_state.PAUSE_S:.0f} s")
            time.sleep(machine_state.PAUSE_S)
            bar.total += len(order)
            bar.refresh()
            measure(order)
            extra += 1
            machine["extra_passes"] += 1
            fileio.atomic_write_json(path, doc)
    except RunnerError as e:
        raise RunnerError(f"{e}\nnets measured so far are saved in {path}; run again to "
                          "resume") from None
    finally:
        bar.close()
    for name in order:  # the current pass rule, for results saved under older rules too
        if state[name]:
            save(name, write=False)
    machine["state"] = machine_state.speeds(refs, state)
    fileio.atomic_write_json(path, doc)
    return {n.name: doc["nets"][n.name] for n in nets}, machine


# The report -----------------------------------------------------------------------

@dataclasses.dataclass
class ValidationReport:
    """Per-net results and the summary metrics (over all nets, and per group)."""

    results: list[NetResult]
    summary: dict[str, float]
    by_group: dict[str, dict[str, float]]
    plot: str | None = None
    elapsed_s: float = 0.0
    machine: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.summary, "by_group": self.by_group, "plot": self.plot,
                "machine": self.machine,
                "nets": [dataclasses.asdict(r) | {"error": r.error} for r in self.results]}


def report(results: Sequence[NetResult]) -> tuple[dict, dict]:
    """(summary over all nets, summary per group) of `results` (pure)."""
    if not results:
        raise LatencyTableError("no validation nets to report")
    overall = metrics.summary([r.predicted_ms for r in results],
                              [r.measured_ms for r in results])
    groups = {}
    for g in dict.fromkeys(r.group for r in results):
        rs = [r for r in results if r.group == g]
        groups[g] = metrics.summary([r.predicted_ms for r in rs], [r.measured_ms for r in rs])
    return overall, groups


def scatter_plot(results: Sequence[NetResult], path: str, title: str) -> str:
    """Predicted vs measured, log-log, with y = x and a +/-10% band (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=120)
    values = [v for r in results for v in (r.predicted_ms, r.measured_ms)]
    lo, hi = min(values) * 0.8, max(values) * 1.25
    line = np.geomspace(lo, hi, 50)
    ax.plot(line, line, color="black", lw=0.8, label="y = x")
    ax.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.2, label="+/-10%")
    styles = {"space": ("o", "tab:blue"), "zoo": ("s", "tab:red")}
    others = [("^", "tab:green"), ("v", "tab:orange"), ("D", "tab:purple"), ("P", "tab:brown"),
              ("X", "tab:pink"), ("*", "tab:olive"), ("<", "tab:cyan"), (">", "tab:gray")]
    for g in dict.fromkeys(r.group for r in results):
        rs = [r for r in results if r.group == g]
        if g not in styles:  # foreign families: one marker and colour each
            styles[g] = others[(len(styles) - 2) % len(others)]
        marker, color = styles[g]
        ax.errorbar([r.measured_ms for r in rs], [r.predicted_ms for r in rs],
                    yerr=[r.std_ms for r in rs], fmt=marker, color=color, ms=4, lw=0.8,
                    label=f"{g} ({len(rs)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def validate(table: LatencyTable, table_path: str, runner: Runner, space: SearchSpace,
             num_archs: int = 30, seed: int = 0, zoo: bool = True,
             op_model: OpModel | None = None, settings: BuildSettings | None = None,
             plot: bool = True, progress: bool = True, nets: Sequence[str] = (),
             state_passes: int = machine_state.EXTRA_PASSES,
             log: Callable[[str], None] | None = None) -> ValidationReport:
    """Measures and predicts the validation nets; see the module docstring.
    The table's reference models are timed with them (`machine_state`);
    while they find the machine slower than during the build, up to
    `state_passes` more passes of everything are taken.

    Raises:
        IncompatibleTablesError-like LatencyTableError: the runner's target
            differs from the table's.
    """
    t0 = time.monotonic()
    runner_meta = runner.metadata()
    delegate = runner_meta.get("delegate")
    problems = table_problems(
        table.metadata, precision=runner_meta.get("precision"), threads=runner_meta.get("threads"),
        xnnpack=None if delegate is None else str(delegate).lower() == "xnnpack",
        runner=runner_meta.get("runner"), device=runner_meta.get("device"),
        batch=runner_meta.get("batch"), xla=runner_meta.get("xla"))
    if problems:
        raise LatencyTableError(
            f"the table {table.name} was measured with {', '.join(problems)}; validate with the "
            "same --device/--threads/--xnnpack (tf: --precision/--tf_batch/--tf_xla) as the "
            "build")
    chosen = validation_nets(space, num_archs, seed, zoo, nets)
    if any(n.arch is None for n in chosen) and op_model is None:
        raise LatencyTableError(f"the table {table.name} has too few entries for an op model: "
                                "it cannot predict nets outside its space")
    folder = os.path.join(default_models_dir(table_path, table.metadata.precision or "int8"),
                          "nets")
    predicted = {}  # first, so that a net the model cannot predict stops it before measuring
    for net in chosen:
        if net.arch is None:
            with open(net_file(net, table.metadata.precision or "int8", folder), "rb") as f:
                predicted[net.name] = predict_ops(tflite_ops.ops_of_tflite(f.read()), table,
                                                  op_model)
        else:
            predicted[net.name] = predict(net.arch, table, op_model)
    precision = table.metadata.precision or "int8"
    refs = ([] if getattr(runner, "model_format", "tflite") == "keras" else
            machine_state.references(table.metadata.in_net,
                                     default_models_dir(table_path, precision), precision,
                                     space.stem_kernel))
    measured, machine = _measure(chosen, runner, table, table_path, settings, folder,
                                 progress=progress, refs=refs, extra_passes=state_passes,
                                 log=log)
    results = []
    for net in chosen:
        p, m = predicted[net.name], measured[net.name]
        results.append(NetResult(net.name, net.group, net.description, p.total_ms,
                                 float(m["measured_ms"]), p.std_ms, p.source, tuple(m["runs"]),
                                 tuple(m["flags"])))
    overall, groups = report(results)
    png = None
    if plot:
        meta = table.metadata
        title = (f"{meta.space}: {meta.precision}, {meta.threads} thread(s), {meta.delegate}\n"
                 f"{meta.device}\nMAPE {overall['mape']:.1%}, within 10% "
                 f"{overall['within_10pct']:.0%}, tau {overall['kendall_tau']:.3f}")
        png = scatter_plot(results, plot_path(table_path), title)
    return ValidationReport(results, overall, groups, png, time.monotonic() - t0,
                            {"state": machine.get("state", {}),
                             "extra_passes": machine.get("extra_passes", 0),
                             "references": len(refs)})
