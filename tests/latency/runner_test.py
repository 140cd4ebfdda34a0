"""Tests of the runner interface: device strings, settings, the factory's
errors, and the machine-load monitor."""

import os
import subprocess
import sys
import time

import pytest

from pxnas_tf.latency.measure import cpu_load as load
from pxnas_tf.latency.measure.devices import make_runner, parse_device
from pxnas_tf.latency.measure.runner import MeasureSettings, RunnerError


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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_cpu(pid: int, seconds: float, timeout: float = 60.0) -> None:
    """Waits until `pid` has run `seconds` more CPU time (not a wall-clock
    guess: on a loaded machine that takes longer, and the test waits)."""
    start, deadline = _cpu_seconds(pid), time.monotonic() + timeout
    while _cpu_seconds(pid) - start < seconds:
        assert time.monotonic() < deadline, "the busy process got no CPU time"
        time.sleep(0.01)


def test_load_monitor_sees_a_busy_process():
    assert load.busy_other_than_self(3.0, 1.0) == 2.0
    assert load.busy_other_than_self(1.0, 3.0) == 0.0
    monitor = load.LoadMonitor()
    if not monitor.enabled:
        pytest.skip("no /proc/stat here")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        _wait_for_cpu(busy.pid, 0.1)  # the child is up and spinning
        monitor.reset()
        _wait_for_cpu(busy.pid, 0.5)  # half a CPU-second of it inside the window
        assert monitor.other_cpus() > 0.5
    finally:
        busy.kill()
        busy.wait()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
