"""Building latency tables on the host: end to end on a tiny space, resume
after a budget stop and after a SIGKILL, and refusal to mix targets."""

import dataclasses
import json
import math
import shutil
import signal
import subprocess
import time

import pytest

from pxnas_tf.latency.build import builder, foreign_nets
from pxnas_tf.latency.build.builder import build_table
from pxnas_tf.latency.build.settings import BuildSettings, best_run, is_confirmed, needs_run
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.measure.runner import Runner
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model import predictor
from pxnas_tf.latency.model.table import IncompatibleTablesError, load_table
from pxnas_tf.search_space import Arch
from pxnas_tf.testing import pxnas_command, quiet_env


class Recording(Runner):
    """The real host runner, noting what it measured (not a mock: every
    number still comes from LiteRT)."""

    kind = "host"

    def __init__(self, inner):
        self.inner, self.names = inner, []

    def metadata(self):
        return self.inner.metadata()

    def measure(self, models):
        for model, result in self.inner.measure(models):
            self.names.append(model.name)
            yield model, result


def _all_runs(table):
    runs = {k: list(e.runs) for k, e in table.entries.items()}
    for shape, values in table.metadata.overhead["runs"].items():
        runs[f"overhead-input:{shape}"] = list(values)
    return runs


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Block models converted once and shared by every build of this file
    (conversion is the slow part; the builder reuses files it finds)."""
    return str(tmp_path_factory.mktemp("block_models"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_space, quick, quick_build, models_dir):
    path = str(tmp_path_factory.mktemp("table") / "tiny.json")
    report = build_table(tiny_space, HostRunner(settings=quick), path, "int8", quick_build,
                         models_dir=models_dir, progress=False)
    return path, report


def test_pass_rules():
    s = BuildSettings(min_passes=2, max_passes=4, agree_tol=0.03)
    assert best_run([1.02, 1.0]) == 1 and best_run([0.7, 1.0, 1.01]) == 0
    assert is_confirmed([1.0, 1.02], 0.03) and not is_confirmed([1.0, 1.2], 0.03)
    assert not is_confirmed([0.7, 1.0, 1.01], 0.03)  # the lowest is not confirmed: more passes
    assert needs_run([0.7, 1.0, 1.01], (), s)
    assert needs_run([1.0], (), s) and not needs_run([1.0, 1.02], (), s)
    assert needs_run([1.0, 1.2], (), s) and needs_run([1.0, 1.01], ("contended",), s)
    assert not needs_run([1.0, 1.2, 1.4, 1.6], (), s)  # max passes: stop, flag unstable


def test_probes_take_two_passes_by_default_or_one_clean_pass():
    assert BuildSettings().for_probes().min_passes == 2  # like the keys
    s = BuildSettings(min_passes=2, max_passes=4, agree_tol=0.03, probe_passes=1)
    probe = s.for_probes()
    assert probe.min_passes == 1 and probe.max_passes == 4
    assert needs_run([], (), probe) and not needs_run([1.0], (), probe)
    assert needs_run([1.0], ("contended",), probe)  # a flagged pass is run again
    assert needs_run([1.0], (), s)
    assert BuildSettings(min_passes=2, probe_passes=2).for_probes().min_passes == 2
    with pytest.raises(ValueError, match="probe_passes"):
        BuildSettings(probe_passes=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BuildSettings(batch_size=0)
    with pytest.raises(ValueError, match="agree_tol must be > 0"):
        BuildSettings(agree_tol=0.0)


def test_the_overhead_is_timed_for_the_keys_shapes_and_a_few_probe_shapes():
    from pxnas_tf.latency.build.probes import probe_keys
    from pxnas_tf.search_space import load_space
    own = keys_lib.space_keys(load_space("proxyless_small"))
    probes = probe_keys()
    shapes = builder.overhead_shapes(own + probes)
    own_shapes = {builder.block_models.input_shape_of(k) for k in own}
    probe_shapes = {builder.block_models.input_shape_of(k) for k in probes}
    assert own_shapes <= set(shapes)
    extra = set(shapes) - own_shapes
    assert 1 <= len(extra) <= builder.OVERHEAD_ANCHORS < len(probe_shapes) / 10
    sizes = sorted(math.prod(s) for s in probe_shapes)
    assert {math.prod(s) for s in extra} >= {sizes[0], sizes[-1]}  # the range's two ends
    # A shape not timed: linear in log size between its neighbours, the ends beyond.
    timed = {"4x4x16": 1.0, "16x16x16": 3.0}
    assert builder.interpolated_overhead(timed, (4, 4, 16)) == 1.0
    assert builder.interpolated_overhead(timed, (8, 8, 16)) == pytest.approx(2.0)
    assert builder.interpolated_overhead(timed, (1, 1, 2)) == 1.0
    assert builder.interpolated_overhead(timed, (64, 64, 64)) == 3.0
    assert builder.interpolated_overhead({}, (8, 8, 16)) == 0.0


def test_extra_arch_keys():
    from pxnas_tf.search_space import load_space
    space = load_space("proxyless_small")
    keys = foreign_nets.extra_arch_keys(space, ["mobilenet_v2"])
    assert keys[0] == "Conv-input:32x32x3-output:16x16x32"  # its own stem, stride 2
    assert keys[-1] == "Logits-input:1x1x1280-output:10"
    everything = foreign_nets.extra_arch_keys(space, ["zoo"])
    assert set(keys) < set(everything) and len(everything) == len(set(everything))


@pytest.mark.timing
def test_tiny_table_end_to_end(built, tiny_space):
    path, report = built
    table = load_table(path)
    assert report.complete and report.measured >= 2 * (len(table) + 1)
    assert table.keys() == keys_lib.space_keys(tiny_space)
    # Every stage's wall time, in build order, within the whole.
    assert list(report.stages_s) == ["keys", "in-net pass 1", "streaming", "footprints",
                                     "context", "net scale", "in-net"]
    assert 0 < sum(report.stages_s.values()) <= report.elapsed_s
    meta = table.metadata
    assert (meta.precision, meta.threads, meta.space, meta.delegate) == (
        "int8", 1, "tiny_latency", "xnnpack")
    assert meta.complete is True and table.default_stat == "median"
    shapes = {keys_lib.format_shape(keys_lib.parse_key(k).input_shape) for k in table.keys()}
    assert set(meta.overhead["ms"]) == shapes
    for key, entry in table.entries.items():
        assert len(entry.runs) >= 2 and entry.count > 0
        # A block can cost no more than an empty invoke (the tiny classifier),
        # then overhead subtraction leaves 0; an MBConv always costs more.
        assert entry.median > 0 if key.startswith("expanded_conv") else entry.median >= 0
        overhead = 0.0 if key == keys_lib.stem_key(tiny_space) else meta.overhead["ms"][
            keys_lib.format_shape(keys_lib.parse_key(key).input_shape)]
        # The lowest pass net of the overhead (never below 0: see above).
        assert entry.median == pytest.approx(max(0.0, min(entry.runs) - overhead), abs=2e-6)
    # What search uses works on it; the sum is the hand sum of the medians.
    arch = Arch(tiny_space, ("k5_e6", "zero", "k3_e3"))
    hand = sum(table.value(k, "median") for k in keys_lib.arch_keys(arch))
    assert predictor.predict(arch, table).total_ms == pytest.approx(hand)
    matrix = predictor.block_latency_matrix(tiny_space, table)
    assert matrix.blocks[1][-1] == 0.0 and len(matrix.blocks) == 3
    assert builder.default_models_dir(path, "int8").endswith("tiny.models/int8")


@pytest.mark.timing
def test_rebuild_measures_nothing(built, tiny_space, quick, quick_build, models_dir):
    path, _ = built
    runner = Recording(HostRunner(settings=quick))
    before = _all_runs(load_table(path))
    report = build_table(tiny_space, runner, path, "int8", quick_build, models_dir=models_dir,
                         progress=False)
    assert runner.names == [] and report.measured == 0 and report.complete
    assert _all_runs(load_table(path)) == before


@pytest.mark.timing
def test_resume_after_budget_stop(tmp_path, tiny_space, quick, models_dir):
    path = str(tmp_path / "t.json")
    settings = BuildSettings(min_passes=2, max_passes=3, agree_tol=0.5, batch_size=4,
                             max_measurements=7)
    first = build_table(tiny_space, HostRunner(settings=quick), path, "int8", settings,
                        models_dir=models_dir, progress=False)
    assert not first.complete and first.measured == 7
    saved = _all_runs(load_table(path))
    assert sum(len(r) for r in saved.values()) == 7
    runner = Recording(HostRunner(settings=quick))
    second = build_table(tiny_space, runner, path, "int8",
                         BuildSettings(min_passes=2, max_passes=3, agree_tol=0.5, batch_size=4,
                                       weight_streaming=False),
                         models_dir=models_dir, progress=False)
    assert second.complete
    final = _all_runs(load_table(path))
    for name, runs in saved.items():
        assert final[name][:len(runs)] == runs  # kept, not measured again
    assert sum(len(r) for r in final.values()) == 7 + len(runner.names)


@pytest.mark.timing
def test_refuses_to_mix_targets(built, tmp_path, tiny_space, quick):
    path = str(tmp_path / "copy.json")
    shutil.copy(built[0], path)
    with pytest.raises(IncompatibleTablesError, match=r"threads: 1 != 2.*another --out"):
        build_table(tiny_space, HostRunner(threads=2, settings=quick), path, "int8",
                    progress=False)
    with pytest.raises(IncompatibleTablesError, match="precision: 'int8' != 'float32'"):
        build_table(tiny_space, HostRunner(settings=quick), path, "float32", progress=False)
    with pytest.raises(IncompatibleTablesError, match="delegate"):
        build_table(tiny_space, HostRunner(xnnpack=False, settings=quick), path, "int8",
                    progress=False)
    other = tiny_space.replace(name="other_space")
    with pytest.raises(IncompatibleTablesError, match="built for search space 'tiny_latency'"):
        build_table(other, HostRunner(settings=quick), path, "int8", progress=False)


class Disturbed(Recording):
    """The real host runner, with the first pass of one model slowed
    `factor` times (a pass that the machine slowed as a whole but that
    still looked clean): a fault injected into real measurements."""

    def __init__(self, inner, name, factor):
        super().__init__(inner)
        self.name, self.factor = name, factor

    def measure(self, models):
        for model, result in super().measure(models):
            if model.name == self.name and self.names.count(model.name) == 1:
                result = dataclasses.replace(result, mean_ms=result.mean_ms * self.factor,
                                             median_ms=result.median_ms * self.factor)
            yield model, result


@pytest.mark.timing
def test_a_probe_far_off_the_fit_gets_passes_until_two_agree(tmp_path, tiny_space, quick,
                                                              models_dir):
    from pxnas_tf.latency.build.probes import probe_keys
    probes = [k for k in probe_keys() if "-type:add-scalar" in k or "-type:mul-scalar" in k]
    slowed = probes[2]
    runner = Disturbed(HostRunner(settings=quick), slowed, 30.0)
    settings = BuildSettings(min_passes=2, max_passes=3, agree_tol=0.5, batch_size=4,
                             weight_streaming=False, footprint=False, probe_passes=1)
    path = str(tmp_path / "probes.json")
    report = build_table(tiny_space, runner, path, "int8", settings, models_dir=models_dir,
                         keys=keys_lib.space_keys(tiny_space) + probes, progress=False)
    assert report.complete
    table = load_table(path)
    runs = table.entries[slowed].runs
    assert len(runs) >= 2 and runs[0] > 5 * min(runs[1:])  # the slowed pass, then real ones
    assert table.value(slowed, "median") < runs[0] / 5  # the value follows the real passes
    assert runner.names.count(slowed) == len(runs)
    # The other probes: one pass each, unless they too lay far off the fit.
    assert sum(len(table.entries[k].runs) == 1 for k in probes) >= len(probes) // 2


def _finished(table, settings):
    """Names (blocks and overhead models) finished by the build's stop rule."""
    flags = {k: tuple(f for f in e.flags if f != "unstable") for k, e in table.entries.items()}
    return {n for n, runs in _all_runs(table).items()
            if not needs_run(runs, flags.get(n, ()), settings)}


def _finished_blocks(table, settings):
    return _finished(table, settings) & set(table.entries)


@pytest.mark.timing
@pytest.mark.slow
def test_resume_after_sigkill(tmp_path, tiny_space, quick, quick_build, models_dir):
    """A real `pxnas latency build` process killed with SIGKILL mid-build
    loses nothing, and the resumed build measures no pass twice."""
    space_file = tmp_path / "space.json"
    space_file.write_text(tiny_space.to_json())
    path = tmp_path / "killed.json"
    cmd = pxnas_command("latency", "build", f"--space={space_file}", f"--out={path}",
                        "--noprogress", "--min_rounds=3", "--max_rounds=6", "--num_runs=5",
                        "--warmup_runs=5", "--max_spread=0.05", "--agree_tol=0.5",
                        "--max_passes=3", "--batch_size=1", "--max_load=1000",
                        f"--models_dir={models_dir}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=quiet_env())
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    json.loads(path.read_text())
                except json.JSONDecodeError:  # never happens: writes are atomic
                    raise AssertionError("half-written table")
                # In the second pass: at least one block is finished by the
                # stop rule (two passes that agree; on a busy machine a block
                # may need a third), other blocks are not.
                if _finished_blocks(load_table(str(path)), quick_build):
                    break
            assert proc.poll() is None, "the build ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("not in the second pass after 240 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = load_table(str(path))
    saved = _all_runs(killed)
    # Names (blocks and overhead models) the killed build had finished by
    # the resumed build's own stop rule: it must not measure them again.
    finished = _finished(killed, quick_build)
    assert _finished_blocks(killed, quick_build)  # a finished block, not only the overheads
    runner = Recording(HostRunner(settings=quick))
    report = build_table(tiny_space, runner, str(path), "int8", quick_build,
                         models_dir=models_dir, progress=False)
    assert report.complete
    final = _all_runs(load_table(str(path)))
    for name, runs in saved.items():
        assert final[name][:len(runs)] == runs
    assert (sum(len(r) for r in final.values())
            == sum(len(r) for r in saved.values()) + len(runner.names))
    # Every new pass is counted once above; no finished name got one.
    assert runner.names and not finished & set(runner.names)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
