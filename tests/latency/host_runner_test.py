"""The host runner end to end: real block models in the real LiteRT
interpreter."""

import os

import pytest

from pxnas_tf.latency.build import block_models
from pxnas_tf.latency.measure.host_runner import HostRunner, cpu_isa, parse_cpu_mask
from pxnas_tf.latency.measure.runner import BenchModel, RunnerError
from pxnas_tf.testing import busy_processes

BLOCK = "expanded_conv-input:16x16x8-output:16x16x8-expand:6-kernel:5-stride:1-idskip:1"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("models"))
    return [BenchModel(name, block_models.ensure_model_file(name, "int8", folder))
            for name in (block_models.overhead_name((16, 16, 8)), BLOCK)]


@pytest.mark.timing
@pytest.mark.parametrize("xnnpack", [True, False])
def test_measures_every_model_of_a_batch(models, xnnpack, quick):
    runner = HostRunner(threads=1, xnnpack=xnnpack, settings=quick)
    results = dict((m.name, r) for m, r in runner.measure(models))
    assert set(results) == {m.name for m in models}
    overhead, block = results[models[0].name], results[BLOCK]
    for r in (overhead, block):
        assert r.count >= quick.min_quiet * quick.runs and quick.min_rounds <= r.rounds
        assert 0 < r.median_ms and r.std_ms >= 0
    # The runner tells the two models apart: an MBConv block costs more than
    # an invoke of the identity (an order, not a speed: benchmarks time).
    assert block.median_ms > overhead.median_ms


@pytest.mark.timing
def test_cpu_mask_pins_only_while_measuring(models, quick):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    before = os.sched_getaffinity(0)
    cpu = min(before)
    runner = HostRunner(settings=quick, cpu_mask=hex(1 << cpu))
    assert runner.metadata()["cpu_mask"] == hex(1 << cpu)
    assert len(list(runner.measure(models[:1]))) == 1
    assert os.sched_getaffinity(0) == before
    assert parse_cpu_mask("f0") == {4, 5, 6, 7}


@pytest.mark.timing
def test_busy_machine_rounds_are_thrown_away_then_flagged(models, quick):
    """Rounds timed while another process keeps a CPU busy are discarded;
    once the wait budget is spent they are kept and the result is flagged."""
    import dataclasses

    from pxnas_tf.latency.measure.cpu_load import LoadMonitor
    if not LoadMonitor().enabled:
        pytest.skip("no /proc/stat here")
    settings = dataclasses.replace(quick, max_load=0.3, max_wait_s=0.5, round_s=0.05)
    runner = HostRunner(settings=settings)
    with busy_processes(2):  # both spinning before the first round
        (_, result), = runner.measure(models[1:])
    assert runner.discarded_rounds > 0 and runner.waited_s >= 0.5
    assert "contended" in result.flags


def test_bad_model_files(tmp_path, quick):
    runner = HostRunner(settings=quick)
    with pytest.raises(RunnerError, match="does not exist"):
        list(runner.measure([BenchModel("x", str(tmp_path / "missing.tflite"))]))
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(RunnerError, match="LiteRT cannot load .*re-create the model file"):
        list(runner.measure([BenchModel("bad", str(bad))]))


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni", "avx512_vnni"),
    ("fpu sse4_2 avx avx2 fma", "avx2"),
    ("fpu vme de", ""),
])
def test_cpu_isa_names_the_widest_extension(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
                       f"flags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert cpu_isa(str(cpuinfo)) == expected
    assert cpu_isa(str(tmp_path / "missing")) == ""


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
