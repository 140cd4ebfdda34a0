"""Tests of the runner interface: device strings, settings, the factory's
errors, and the machine-load monitor (its arithmetic on a scripted clock and
/proc, then a real busy process, waited for by its CPU time, not by
sleeping)."""

import types

import pytest

from pxnas_tf.latency.measure import cpu_load as load
from pxnas_tf.latency.measure.devices import make_runner, parse_device
from pxnas_tf.latency.measure.runner import MeasureSettings, RunnerError
from pxnas_tf.testing import busy_processes, wait_for_cpu


def test_parse_device():
    assert parse_device("host") == ("host", [])
    assert parse_device("adb") == ("adb", [])
    assert parse_device("adb:A1,B2") == ("adb", ["A1", "B2"])
    assert parse_device("linux:/opt/bm") == ("linux", ["/opt/bm"])
    for bad in ("phone", "host:x", "linux:", "", "gpu"):
        with pytest.raises(RunnerError, match="expected 'host', 'adb'"):
            parse_device(bad)
    with pytest.raises(RunnerError, match="names a serial twice"):
        parse_device("adb:A,A")


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_rounds"):
        MeasureSettings(min_rounds=5, max_rounds=2)
    with pytest.raises(ValueError, match="runs must be a positive integer"):
        MeasureSettings(runs=0)
    with pytest.raises(ValueError, match="max_spread must be > 0"):
        MeasureSettings(max_spread=0)


def test_factory_errors_say_what_to_do(tmp_path):
    with pytest.raises(RunnerError, match="needs --benchmark_model"):
        make_runner("adb:XYZ")
    with pytest.raises(RunnerError, match="measures the CPU only"):
        make_runner("host", use_gpu=True)
    with pytest.raises(RunnerError, match="threads must be >= 1"):
        make_runner("host", threads=0)
    with pytest.raises(RunnerError, match="does not exist"):
        make_runner(f"linux:{tmp_path / 'benchmark_model'}")
    with pytest.raises(RunnerError, match="not a CPU mask"):
        make_runner("host", cpu_mask="zz")


def test_host_runner_metadata():
    runner = make_runner("host", threads=2, xnnpack=False)
    meta = runner.metadata()
    assert meta["threads"] == 2 and meta["delegate"] == "none"
    assert meta["device"].startswith("host: ") and meta["runtime_version"]


class _ScriptedProc:
    """The monitor's timing source (the /proc counters and the clock) as
    numbers a test sets: its arithmetic checked exactly, on any machine."""

    def __init__(self):
        self.now, self.machine, self.own = 0.0, 10.0, 1.0

    def install(self, monkeypatch):
        monkeypatch.setattr(load, "_read_machine_busy", lambda: self.machine)
        monkeypatch.setattr(load, "_read_self_busy", lambda: self.own)
        monkeypatch.setattr(load, "time", types.SimpleNamespace(monotonic=lambda: self.now))
        return self

    def advance(self, seconds, machine, own=0.0):
        self.now, self.machine, self.own = (self.now + seconds, self.machine + machine,
                                            self.own + own)


def test_load_monitor_arithmetic(monkeypatch):
    assert load.busy_other_than_self(3.0, 1.0) == 2.0
    assert load.busy_other_than_self(1.0, 3.0) == 0.0
    proc = _ScriptedProc().install(monkeypatch)
    monitor = load.LoadMonitor()
    assert monitor.enabled
    proc.advance(2.0, machine=3.0, own=0.5)  # 2.5 CPU-seconds of others in 2 s
    assert monitor.other_cpus() == pytest.approx(1.25)
    proc.advance(1.0, machine=0.2, own=0.2)  # only this process worked
    assert monitor.other_cpus() == 0.0
    proc.advance(5.0, machine=9.0)  # before the reset: not counted
    monitor.reset()
    proc.advance(0.5, machine=0.4)
    assert monitor.other_cpus() == pytest.approx(0.8)
    assert monitor.other_cpus() == 0.0  # no time passed since the last call
    proc.advance(1.0, machine=0.1, own=0.3)  # own ticks counted ahead of the machine's
    assert monitor.other_cpus() == 0.0


def test_one_tick_of_others_is_forgiven(monkeypatch):
    # 10 ms of others in a 30 ms round: one 100 Hz tick, not 0.33 CPUs.
    assert not load.exceeds(0.01, 0.03, max_load=0.3, resolution_s=0.01)
    assert load.exceeds(0.02, 0.03, max_load=0.3, resolution_s=0.01)
    assert load.exceeds(0.5, 1.0, max_load=0.3, resolution_s=0.01)
    assert not load.exceeds(0.3, 1.0, max_load=0.3, resolution_s=0.01)
    proc = _ScriptedProc().install(monkeypatch)
    monitor = load.LoadMonitor()
    proc.advance(0.03, machine=0.04, own=0.03)  # one tick of a kernel thread
    assert not monitor.busier_than(0.3)
    proc.advance(0.03, machine=0.06, own=0.03)  # another CPU busy the whole round
    assert monitor.busier_than(0.3)
    proc.advance(0.0, machine=1.0)  # no time passed: nothing to judge
    assert not monitor.busier_than(0.3)


def test_load_monitor_without_proc_reports_no_load(monkeypatch):
    monkeypatch.setattr(load, "_read_machine_busy", lambda: None)
    monitor = load.LoadMonitor()
    assert not monitor.enabled and monitor.other_cpus() == 0.0
    assert not monitor.busier_than(0.0)


def test_load_monitor_sees_a_busy_process():
    monitor = load.LoadMonitor()
    if not monitor.enabled:
        pytest.skip("no /proc/stat here")
    with busy_processes(1) as (busy,):
        monitor.reset()
        wait_for_cpu(busy.pid, 0.5)  # half a CPU-second of it inside the window
        # At least 0.5 CPU-seconds of others in the window; in under 1 s on
        # an idle machine, and if the child waited longer for a CPU, what
        # kept the CPUs busy counts too.
        assert monitor.other_cpus() > 0.5


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
