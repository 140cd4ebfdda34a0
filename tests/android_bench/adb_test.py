"""The adb runner against the real `adb` with no phone attached: every
failure is a clear error, and the command sequence is the documented one.
The adb server these tests start is killed at the end."""

import shutil
import stat
import subprocess

import pytest

from android_bench import adb as adb_lib
from android_bench import adb_runner
from pxnas_tf.latency.measure.devices import make_runner, plugin_runner
from pxnas_tf.latency.measure.runner import BenchModel, RunnerError

ADB = shutil.which("adb")
needs_adb = pytest.mark.skipif(ADB is None, reason="the adb Debian package is not installed")
SERIAL = "PXNAS-NO-SUCH-PHONE"


@pytest.fixture(scope="module", autouse=True)
def kill_adb_server():
    yield
    if ADB:
        subprocess.run([ADB, "kill-server"], capture_output=True, timeout=30, check=False)


@pytest.fixture
def aarch64_binary(tmp_path):
    """A file with an aarch64 ELF header, as TF's android_aarch64_benchmark_model has."""
    path = tmp_path / "android_aarch64_benchmark_model"
    header = bytearray(64)
    header[:4], header[4], header[5] = b"\x7fELF", 2, 1
    header[18:20] = (183).to_bytes(2, "little")
    path.write_bytes(bytes(header))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _no_phone_attached() -> bool:
    out = subprocess.run([ADB, "devices"], capture_output=True, text=True, timeout=30).stdout
    return not adb_lib.parse_devices(out)


def test_parse_devices_and_states():
    out = ("* daemon started successfully\nList of devices attached\n"
           "0123abcd\tdevice usb:1-1 product:x model:Pixel_7\nZX1\tunauthorized\n"
           "emulator-5554\toffline\n\n")
    assert adb_lib.parse_devices(out) == [adb_lib.DeviceState("0123abcd", "device"),
                                          adb_lib.DeviceState("ZX1", "unauthorized"),
                                          adb_lib.DeviceState("emulator-5554", "offline")]
    assert adb_lib.state_problem("a", "device") is None
    assert "Allow USB debugging" in adb_lib.state_problem("ZX1", "unauthorized")
    assert "replug" in adb_lib.state_problem("e", "offline")


def test_elf_abi_check(aarch64_binary, tmp_path):
    assert adb_runner.elf_machine(aarch64_binary) == 183
    assert adb_runner.abi_problem(183, "arm64-v8a", aarch64_binary) is None
    assert "phone's ABI is x86_64" in adb_runner.abi_problem(183, "x86_64", aarch64_binary)
    script = tmp_path / "bm.sh"
    script.write_text("#!/bin/sh\n")
    assert adb_runner.elf_machine(str(script)) is None
    assert "not an ELF executable" in adb_runner.abi_problem(None, "arm64-v8a", str(script))


def test_command_sequence(aarch64_binary):
    """The documented push / chmod / taskset benchmark sequence, built
    without a phone (the runner's constructor would talk to it)."""
    runner = adb_runner.AdbRunner.__new__(adb_runner.AdbRunner)
    adb_runner.BenchmarkModelRunner.__init__(runner, threads=2, xnnpack=True)
    runner.binary, runner.cpu_mask = aarch64_binary, "f0"
    phone = adb_lib.Adb("adb", "SER1")
    assert runner.plan_setup(phone) == [
        ["adb", "-s", "SER1", "devices"],
        ["adb", "-s", "SER1", "push", aarch64_binary, "/data/local/tmp/benchmark_model"],
        ["adb", "-s", "SER1", "shell", "chmod 755 /data/local/tmp/benchmark_model"],
        ["adb", "-s", "SER1", "shell", "mkdir -p /data/local/tmp/pxnas"],
    ]
    model = BenchModel("k", "/x/models/expanded_conv-abc.tflite")
    push, shell = runner.plan_measure(phone, model)
    assert push == ["adb", "-s", "SER1", "push", model.path,
                    "/data/local/tmp/pxnas/expanded_conv-abc.tflite"]
    assert shell[:4] == ["adb", "-s", "SER1", "shell"]
    assert shell[4] == (
        "taskset f0 /data/local/tmp/benchmark_model "
        "--graph=/data/local/tmp/pxnas/expanded_conv-abc.tflite --num_threads=2 "
        "--warmup_runs=20 --num_runs=20 --min_secs=0 --warmup_min_secs=0 --use_xnnpack=true")
    assert "cpu4:$(cat /sys/devices/system/cpu/cpu4/cpufreq/scaling_governor" in (
        adb_runner.governor_command([4, 5]))


@needs_adb
def test_real_adb_named_phone_not_attached(aarch64_binary):
    with pytest.raises(RunnerError, match=f"Android device '{SERIAL}' is not attached"):
        make_runner(f"adb:{SERIAL}", benchmark_model=aarch64_binary, adb_timeout_s=30)
    with pytest.raises(adb_lib.AdbError, match="is not attached"):
        adb_lib.Adb(ADB, SERIAL, 30).run("push", aarch64_binary, "/data/local/tmp/x")
    with pytest.raises(adb_lib.AdbError, match="is not attached"):
        adb_lib.Adb(ADB, SERIAL, 30).shell("getprop ro.product.model")


@needs_adb
def test_real_adb_no_phone_at_all(aarch64_binary):
    if not _no_phone_attached():
        pytest.skip("a phone is attached")
    with pytest.raises(RunnerError, match="no Android device attached .*USB debugging"):
        make_runner("adb", benchmark_model=aarch64_binary, adb_timeout_s=30)


def test_adb_missing_or_binary_missing(tmp_path, aarch64_binary):
    with pytest.raises(RunnerError, match="not found: install it .*apt-get install adb"):
        make_runner(f"adb:{SERIAL}", benchmark_model=aarch64_binary,
                    adb_path=str(tmp_path / "no-adb"))
    with pytest.raises(RunnerError, match="android_aarch64_benchmark_model"):
        make_runner(f"adb:{SERIAL}", benchmark_model=str(tmp_path / "missing"))


@needs_adb
def test_adb_timeout_is_reported(tmp_path):
    """A call that outlives its timeout (the real adb waiting for a phone
    that never comes) is a clear error, not a hang."""
    phone = adb_lib.Adb(ADB, SERIAL, timeout_s=1.0)
    with pytest.raises(adb_lib.AdbError, match="timed out after 1 s"):
        phone.run("wait-for-device")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_the_adb_runner_is_found_through_the_entry_point_registry():
    assert plugin_runner("adb") is adb_runner.AdbRunner
    with pytest.raises(RunnerError, match="no runner is registered for --device=ios"):
        plugin_runner("ios")
