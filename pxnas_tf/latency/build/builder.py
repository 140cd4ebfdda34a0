"""Building a latency table on a target: resumable, pass by pass.

    1. Every key a search space can need (`keys.space_keys`) becomes a block
       model (`block_models`), converted once into ``MODELS_DIR`` (default:
       ``TABLE.models/PRECISION/``) and kept there.
    2. The per-invoke overhead is measured on identity models, one per
       distinct input shape of the space's keys and a few of the kernel
       probes' (`overhead_shapes`).
    3. Every key is measured in at least `min_passes` separate passes over
       the whole key list (minutes apart on a big space), so that a slow
       phase of the machine (thermal throttling, a busy neighbour) cannot
       set a value alone (a kernel probe: `BuildSettings.probe_passes`,
       two by default; with one, a probe more than `SUSPECT_FACTOR` off the
       op model's fit then gets the keys' rule, `probes.suspect_probes`). A
       key whose two lowest pass values disagree by
       more than `agree_tol`, or whose best pass the runner flagged, gets
       another pass, up to `max_passes`; then it is flagged ``unstable``.
       The entry holds the statistics of its lowest pass (other processes
       only ever add time) and ``runs``, every pass's value.
    4. Overhead: a block measured alone pays the fixed per-invoke overhead
       once, and so does a whole net. Every entry except the stem (``Conv``
       keys) has the overhead of its input shape subtracted; the stem keeps it. A table
       sum (stem + blocks + head + logits) therefore counts it exactly once,
       like the whole net. The values are in the metadata (``overhead``).
       The tf runner (Keras models in the TensorFlow runtime) also times each
       key's *pair model*, and its entries are whole-net-scaled marginals
       (`pxnas_tf.latency.build.net_scale`).

The table is saved atomically after every measurement: a killed build, an
unplugged phone or a spent budget loses nothing, and running the same build
again measures only what is missing. A table is only ever resumed under the
same device, threads, precision and delegate (`metadata.compat_differences`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from pxnas_tf.latency.build import block_models, convert_pool, foreign_nets, net_scale
from pxnas_tf.latency.build.calibration_steps import CalibrationSteps
from pxnas_tf.latency.build.probes import (
    PROBES_VERSION, SUSPECT_FACTOR, outdated_probe_keys, probe_keys, suspect_probes,
)
from pxnas_tf.latency.build.settings import (
    BuildReport, BuildSettings, best_run, is_settled, needs_run,
)
from pxnas_tf.latency.measure.measurement import UNSTABLE, Measurement
from pxnas_tf.latency.measure.runner import BenchModel, Runner, RunnerError
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.entries import IncompatibleTablesError, LatencyEntry
from pxnas_tf.latency.model.metadata import (
    CALIBRATION_FIELDS, TableMetadata, check_precision, compat_differences, today,
)
from pxnas_tf.latency.model.ops import OP_KIND
from pxnas_tf.latency.model.table import LatencyTable
from pxnas_tf.search_space.space import SearchSpace

OVERHEAD_ANCHORS = 4  # identity models for the probes' input shapes
OVERHEAD_METHOD = ("identity model of each input shape of the space's keys and of 4 of the "
                   "probes' (the other probes: interpolated in log size); subtracted from every "
                   "entry except the stem, so that a table sum counts it once, like a whole net")


def default_models_dir(table_path: str, precision: str) -> str:
    """``TABLE.models/PRECISION`` beside the table."""
    return os.path.join(os.path.splitext(table_path)[0] + ".models", precision)


@dataclasses.dataclass
class _State:
    """Pass values of one model name during a build."""

    runs: list[float]
    best_flags: tuple[str, ...] = ()
    passes: dict[int, Measurement] = dataclasses.field(default_factory=dict)  # this session


class _Build(CalibrationSteps):
    def __init__(self, space: SearchSpace, runner: Runner, path: str, precision: str,
                 settings: BuildSettings, models_dir: str, keys: Sequence[str],
                 progress: bool, log: Callable[[str], None]):
        self.space, self.runner, self.path = space, runner, path
        self.precision, self.settings = precision, settings
        self.models_dir, self.keys, self.progress, self.log = models_dir, list(keys), progress, log
        self.overhead_names = [block_models.overhead_name(s) for s in overhead_shapes(self.keys)]
        self.table = self._open_table()
        if self.table.metadata.reference_ms and hasattr(self.runner, "reference_ms"):
            self.runner.reference_ms = self.table.metadata.reference_ms  # a resumed tf build
        if self.table.metadata.overhead is None:
            self.table.metadata.overhead = {"method": OVERHEAD_METHOD, "ms": {}, "runs": {}}
        self.overhead = self.table.metadata.overhead
        self.states: dict[str, _State] = {}
        for name in self.overhead_names:
            shape = name.split(":", 1)[1]
            self.states[name] = _State(list(self.overhead["runs"].get(shape, [])))
        # The tf runner: each non-stem key's pair model, measured right after it.
        self.pairs = ({block_models.pair_name(k): k for k in self.keys if not _is_stem(k)}
                      if self._keras else {})
        if self.pairs:
            self.overhead.setdefault("pair_runs", {})
            self.overhead["pair_method"] = net_scale.METHOD
            for name, key in self.pairs.items():
                self.states[name] = _State(list(self.overhead["pair_runs"].get(key, [])))
        for key in self.keys:
            entry = self.table.get(key)
            runs = list(entry.runs) if entry is not None else []
            flags = tuple(f for f in entry.flags if f != UNSTABLE) if entry is not None else ()
            self.states[key] = _State(runs, best_flags=flags)
        self.measured = 0
        self.suspects: set[str] = set()  # probes under the keys' pass rule

    # The table ------------------------------------------------------------

    def _metadata(self) -> TableMetadata:
        fields = dict(self.runner.metadata())
        known = {f.name for f in dataclasses.fields(TableMetadata)} - {"extra"}
        meta = TableMetadata(**{k: fields.pop(k) for k in list(fields) if k in known})
        meta.extra.update(fields)
        if meta.precision is not None and check_precision(meta.precision) != self.precision:
            raise RunnerError(f"the runner times {meta.precision} models, not {self.precision}: "
                              "give both the same precision")
        meta.precision = self.precision
        meta.date = today()
        meta.space = self.space.name if self.space is not None else None
        meta.stat = "median"
        if self.space is not None:
            meta.stem_kernel = self.space.stem_kernel
            meta.space_spec = self.space.to_dict()  # tables of custom spaces stand alone
            meta.input_shape = list(self.space.input_shape)
        meta.build = {"min_passes": self.settings.min_passes,
                      "max_passes": self.settings.max_passes,
                      "agree_tol": self.settings.agree_tol}
        meta.complete = False
        return meta

    def _open_table(self) -> LatencyTable:
        meta = self._metadata()
        if not os.path.exists(self.path):
            return LatencyTable(meta, source=self.path)
        table = LatencyTable.load(self.path)
        diffs = compat_differences(table.metadata, meta)
        if diffs:
            raise IncompatibleTablesError(
                f"{self.path} was measured under other conditions than this build "
                f"({'; '.join(diffs)}): a table never mixes devices, thread counts, precisions, "
                "delegates, batch sizes or XLA settings. Pass another --out for this target, "
                "or the same flags as before to resume it.")
        if meta.space and table.metadata.space and table.metadata.space != meta.space:
            raise IncompatibleTablesError(
                f"{self.path} was built for search space {table.metadata.space!r}, not "
                f"{meta.space!r}; pass another --out")
        old = table.metadata
        kept = {name: getattr(old, name) for name in CALIBRATION_FIELDS}
        table.metadata = dataclasses.replace(meta, **kept, extra={**old.extra, **meta.extra})
        return table

    def remeasure(self, keys: Sequence[str]) -> None:
        """Forgets the measurements and model files of `keys` (probes whose
        model changed since the table measured them)."""
        for key in keys:
            if self.table.entries.pop(key, None) is not None:
                self.states[key] = _State([])
                path = os.path.join(self.models_dir, block_models.file_name(key))
                if os.path.isfile(path):
                    os.remove(path)

    def _save(self) -> None:
        meta = self.table.metadata
        if meta.reference_ms is None and getattr(self.runner, "reference_ms", None):
            meta.reference_ms = round(float(self.runner.reference_ms), 6)
        self.table.save(self.path)

    # Measuring ------------------------------------------------------------

    def _rule(self, name: str) -> BuildSettings:
        """The pass rule of a model: the kernel probes' (`BuildSettings.for_probes`)
        or the build's."""
        probe = _is_probe(name) and name not in self.suspects
        return self.settings.for_probes() if probe else self.settings

    def _needs(self, name: str) -> bool:
        state = self.states[name]
        return needs_run(state.runs, state.best_flags, self._rule(name))

    def _record(self, name: str, m: Measurement) -> None:
        state = self.states[name]
        state.runs.append(round(m.value_ms, 6))
        state.passes[len(state.runs) - 1] = m
        index = best_run(state.runs)
        value = state.runs[index]
        if name in self.overhead_names:
            shape = name.split(":", 1)[1]
            self.overhead["runs"][shape] = state.runs
            self.overhead["ms"][shape] = value
            self._save()
            return
        if name in self.pairs:
            state.best_flags = m.flags if index == len(state.runs) - 1 else state.best_flags
            key = self.pairs[name]
            self.overhead["pair_runs"][key] = state.runs
            self._refresh(key)
            self._save()
            return
        best = state.passes.get(index)
        entry = self.table.get(name)
        if best is not None:
            state.best_flags = best.flags
            net = best if _is_stem(name) else best.minus(self._overhead_of(name))
            entry = LatencyEntry(round(net.mean_ms, 6), self._value(name),
                                 None if net.std_ms is None else round(net.std_ms, 6),
                                 net.count, tuple(best.flags), tuple(state.runs))
        else:  # the chosen pass ran in an earlier session: keep its statistics
            entry = dataclasses.replace(entry, median=self._value(name), runs=tuple(state.runs))
        self.table.set(name, entry)
        self._save()

    def _overhead_of(self, key: str) -> float:
        """What a key's value leaves out of its lowest pass: the identity
        model's overhead of its input shape; for the tf runner the fixed
        cost of its call, twice the key alone minus its pair model (both
        lowest passes), so that what is left is the pair's marginal."""
        if self.pairs and not _is_stem(key):
            pair = self.states[block_models.pair_name(key)].runs
            runs = self.states[key].runs
            return 2 * min(runs) - min(pair) if pair and runs else 0.0
        return interpolated_overhead(self.overhead["ms"], block_models.input_shape_of(key))

    def _unscaled(self, key: str) -> float:
        """A key's value from its lowest pass, before the net scale."""
        low = min(self.states[key].runs)
        return low if _is_stem(key) else max(0.0, low - self._overhead_of(key))

    def _value(self, key: str) -> float:
        """A key's table value: `_unscaled`, times the tf runner's net scale
        (`pxnas_tf.latency.build.net_scale`) once fitted (the stem keeps its call)."""
        record = self.table.metadata.net_scale or {}
        factor = 1.0 if _is_stem(key) or record.get("factor") is None else float(record["factor"])
        return round(self._unscaled(key) * factor, 6)

    def _refresh(self, key: str) -> None:
        """Sets a stored entry's value to `_value` (its passes or the scale changed)."""
        entry = self.table.get(key)
        if entry is not None and self.states[key].runs:
            self.table.set(key, dataclasses.replace(entry, median=self._value(key)))

    def _finalize_flags(self) -> list[str]:
        unstable = []
        for key in self.keys:
            state, entry = self.states[key], self.table.get(key)
            if entry is None:
                continue
            flags = [f for f in entry.flags if f != UNSTABLE]
            pair = self.states.get(block_models.pair_name(key))
            if not self._needs(key) and not (
                    is_settled(state.runs, state.best_flags, self._rule(key))
                    and (pair is None or is_settled(pair.runs, pair.best_flags, self.settings))):
                flags.append(UNSTABLE)
                unstable.append(key)
            if state.runs:  # the value always follows the lowest pass (tables of older rules too)
                entry = dataclasses.replace(entry, median=self._value(key))
            self.table.set(key, dataclasses.replace(entry, flags=tuple(flags)))
        return unstable

    def run(self) -> BuildReport:
        t0 = time.monotonic()
        report = BuildReport(self.table, self.path)
        report.reused = sum(1 for k in self.keys if not self._needs(k))
        keyed = [n for k in self.keys
                 for n in (k, *([block_models.pair_name(k)] if not _is_stem(k) and self.pairs
                                else []))]
        names = self.overhead_names + keyed
        paths = self._convert([n for n in names if self._needs(n)], report)
        self._save()
        bar = _progress(sum(max(0, self._rule(n).min_passes - len(self.states[n].runs))
                            for n in names), self.progress)
        groups = [self.overhead_names, keyed]  # the overhead first: entries are net of it
        try:
            while groups:
                group = groups.pop(0)
                while True:
                    todo = [n for n in group if self._needs(n)]
                    if not todo:
                        break
                    for i in range(0, len(todo), self.settings.batch_size):
                        batch = [self._bench(n, paths)
                                 for n in todo[i:i + self.settings.batch_size]]
                        for model, measurement in self.runner.measure(batch):
                            before = self._needs(model.name)
                            self._record(model.name, measurement)
                            self.measured += 1
                            bar.update(1)
                            if (before and self._needs(model.name)
                                    and len(self.states[model.name].runs)
                                    >= self._rule(model.name).min_passes):
                                bar.total += 1  # an extra pass
                                bar.refresh()
                            if (self.settings.max_measurements is not None
                                    and self.measured >= self.settings.max_measurements):
                                raise _BudgetSpent()
                if group is keyed and not self.suspects and self._find_suspects():
                    groups.append([n for n in keyed if n in self.suspects])
                    bar.total += sum(1 for n in groups[-1] if self._needs(n))
                    bar.refresh()
        except _BudgetSpent:
            pass
        except RunnerError as e:
            bar.close()
            raise RunnerError(f"{e}\n{self._saved_note()}") from None
        except KeyboardInterrupt:
            bar.close()
            print(f"\ninterrupted. {self._saved_note()}", file=sys.stderr)
            raise
        bar.close()
        report.complete = not any(self._needs(n) for n in names)
        if report.complete:
            report.unstable = self._finalize_flags()
            order = {k: i for i, k in enumerate(self.keys)}  # network order, for readers
            self.table.entries = dict(sorted(self.table.entries.items(),
                                             key=lambda kv: order.get(kv[0], len(order))))
            self.table.metadata.complete = True
            self._save()
            report.stages_s["keys"] = time.monotonic() - t0
            for name, stage in (("in-net pass 1", self._in_net_first_pass),
                                ("streaming", self._weight_streaming),
                                ("footprints", self._footprints), ("context", self._context),
                                ("net scale", self._net_scale), ("in-net", self._in_net)):
                start = time.monotonic()
                stage()
                report.stages_s[name] = time.monotonic() - start
        report.measured = self.measured
        report.elapsed_s = time.monotonic() - t0
        return report

    def _find_suspects(self) -> bool:
        """Once every key is measured: puts the probes the op model finds
        suspect (`suspect_probes`) under the keys' pass rule."""
        probes = [k for k in self.keys if _is_probe(k)]
        if not probes or self.pairs:
            return False
        self.suspects = set(suspect_probes(self.table, probes))
        if any(self._needs(n) for n in self.suspects):
            self.log(f"{len(self.suspects)} kernel probes lie more than {SUSPECT_FACTOR:g}x off "
                     "the op model's fit: measuring them until two passes agree")
        return bool(self.suspects)

    def _saved_note(self) -> str:
        done = sum(1 for k in self.keys if k in self.table)
        return (f"{done} of {len(self.keys)} keys are saved in {self.path}; run the same command "
                "again to resume (nothing measured is measured again).")

    def _path(self, name: str) -> str:
        return os.path.join(self.models_dir, block_models.file_name(name, self._stem_kernel()))

    def _stem_kernel(self) -> int:
        return self.space.stem_kernel if self.space is not None else block_models.DEFAULT_STEM_KERNEL

    @property
    def _keras(self) -> bool:
        """The runner times Keras models (the tf runner): nothing is converted."""
        return getattr(self.runner, "model_format", "tflite") == "keras"

    def _bench(self, name: str, paths: dict[str, str]) -> BenchModel:
        if self._keras:
            return BenchModel(name, "", keras=block_models.keras_factory(name,
                                                                         self._stem_kernel()))
        return BenchModel(name, paths.get(name) or self._path(name))

    def _convert(self, names: Iterable[str], report: BuildReport) -> dict[str, str]:
        if self._keras:
            return {}
        names = list(names)
        t0 = time.monotonic()
        missing = [n for n in names if not os.path.isfile(self._path(n))]
        bar = _progress(len(missing), self.progress and bool(missing), "converting")
        convert_pool.run_all(block_models.ensure_model_file,
                             [(n, self.precision, self.models_dir, self._stem_kernel())
                              for n in missing], on_done=lambda _: bar.update(1))
        bar.close()
        paths = {name: block_models.ensure_model_file(name, self.precision, self.models_dir,
                                                      self._stem_kernel())
                 for name in names}  # (all converted by now)
        report.convert_s = time.monotonic() - t0
        return paths


def _is_probe(name: str) -> bool:
    return name.startswith(OP_KIND + "-")


def overhead_shapes(keys: Sequence[str]) -> list[tuple[int, ...]]:
    """The input shapes whose identity models a build times: every input
    shape of the space's keys, and `OVERHEAD_ANCHORS` of the probes' (the
    smallest, the largest and some between, spread evenly in log size); a
    probe of another shape takes `interpolated_overhead`. The per-invoke
    overhead hardly depends on the input: 0.33-0.37 us from 8 B to 1.6 MB
    on the host (2026-12-06), where the probes' 200 shapes took 400 passes."""
    own = [block_models.input_shape_of(k) for k in keys if not _is_probe(k)]
    probes = sorted({block_models.input_shape_of(k) for k in keys if _is_probe(k)},
                    key=lambda s: (math.prod(s), s))
    anchors = []
    if probes:
        sizes = [math.log(math.prod(s)) for s in probes]
        for target in np.linspace(sizes[0], sizes[-1], OVERHEAD_ANCHORS):
            anchors.append(probes[int(np.argmin([abs(x - target) for x in sizes]))])
    return list(dict.fromkeys(own + anchors))


def interpolated_overhead(measured: dict[str, float], shape: Sequence[int]) -> float:
    """Pure: the overhead of an input `shape` from the identity models
    timed (``{"4x4x16": ms}``): its own where timed, else linear in log
    size between the nearest timed sizes (the end values beyond them; 0
    when none was timed)."""
    name = keys_lib.format_shape(shape)
    if name in measured:
        return float(measured[name])
    points = sorted((math.log(math.prod(int(x) for x in k.split("x"))), float(v))
                    for k, v in measured.items() if isinstance(v, (int, float)))
    if not points:
        return 0.0
    xs, ys = zip(*points)
    return float(np.interp(math.log(math.prod(shape)), xs, ys))


def _is_stem(key: str) -> bool:
    """Stem entries keep the per-invoke overhead (every net has one stem)."""
    return key.startswith(keys_lib.STEM + "-")


class _BudgetSpent(Exception):
    pass


def _progress(total: int, enabled: bool, desc: str = "measuring"):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="model", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)


def build_table(space: SearchSpace, runner: Runner, path: str, precision: str = "int8",
                settings: BuildSettings | None = None, models_dir: str | None = None,
                keys: Sequence[str] | None = None, progress: bool = True,
                log: Callable[[str], None] | None = None,
                extra_archs: Sequence[str] = (), probes: bool = False) -> BuildReport:
    """Measures (or resumes measuring) the latency table of `space` on `runner`.

    Args:
        space: the search space whose keys are measured.
        runner: the target (`runner.make_runner`).
        path: the table JSON; created, or resumed if it exists.
        precision: ``int8``, ``float32`` or ``fp16``.
        settings: passes, batching, budget.
        models_dir: where the block models are kept (default beside the table).
        keys: measure these keys instead of all of the space's.
        extra_archs: also measure the layers of these nets (zoo names,
            ``zoo`` for all, or arch files; see `extra_arch_keys`).
        probes: also measure the single-op probes (`pxnas_tf.latency.build.probes`)
            that let the op model predict nets outside the space.
        progress: show a progress bar with ETA on stderr.
        log: where to print notes (default: stderr).

    Returns:
        A `BuildReport`; `complete` is False when the budget stopped it.

    Raises:
        IncompatibleTablesError: `path` holds a table of another target,
            precision, thread count, delegate or space.
        RunnerError: the target failed; what was measured is saved and the
            message says how to resume.
    """
    precision = check_precision(precision)
    settings = settings or BuildSettings()
    keys = list(keys) if keys is not None else keys_lib.space_keys(space)
    if extra_archs:
        keys = list(dict.fromkeys(keys + foreign_nets.extra_arch_keys(space, extra_archs)))
    if probes:
        keys = list(dict.fromkeys(keys + probe_keys()))
    models_dir = models_dir or default_models_dir(path, precision)
    log = log or (lambda text: print(text, file=sys.stderr))
    build = _Build(space, runner, path, precision, settings, models_dir, keys, progress, log)
    if extra_archs:
        old = build.table.metadata.extra_archs or []
        build.table.metadata.extra_archs = list(dict.fromkeys([*old, *extra_archs]))
    if probes:
        build.remeasure(outdated_probe_keys(build.table.metadata.probes))
        build.table.metadata.probes = PROBES_VERSION
    return build.run()
