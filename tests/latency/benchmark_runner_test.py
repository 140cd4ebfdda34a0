"""The benchmark_model runners' shared plumbing: command line, parsing of
real-format outputs into measurements, and the errors of a local binary
that is missing, not executable, for another CPU, crashing or hanging."""

import os
import shutil
import stat

import pytest

from pxnas_tf.latency.measure.benchmark_output import parse_benchmark_file
from pxnas_tf.latency.measure.benchmark_runner import (
    LocalBenchmarkRunner, benchmark_args, check_local_binary, result_ms, run_local,
)
from pxnas_tf.latency.measure.devices import make_runner
from pxnas_tf.latency.measure.measurement import summarize_averages
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings, RunnerError

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
FIXTURES = ["bm_current_xnnpack.txt", "bm_current_op_profiling.txt",
            "bm_legacy_start_column.txt", "bm_oldest_nostats_crlf.txt", "bm_stats_only.txt",
            "bm_xnnpack_delegate_spaces.txt"]


def test_benchmark_args():
    assert benchmark_args("/data/local/tmp/m.tflite", 1, 10, 50) == [
        "--graph=/data/local/tmp/m.tflite", "--num_threads=1", "--warmup_runs=10",
        "--num_runs=50", "--min_secs=0", "--warmup_min_secs=0", "--use_xnnpack=true"]
    args = benchmark_args("m.tflite", 4, 1, 2, xnnpack=False, use_gpu=True, op_profiling=True)
    assert args[-3:] == ["--use_xnnpack=false", "--use_gpu=true", "--enable_op_profiling=true"]
    assert not any(a.startswith("--use_xnnpack") for a in benchmark_args("m", 1, 1, 1, None))


@pytest.mark.parametrize("name", FIXTURES)
def test_every_output_format_becomes_a_measurement(name):
    """Three runs of the tool summarised as the runners do (the same output
    three times: the runs agree, the result is stable)."""
    result = parse_benchmark_file(os.path.join(TESTDATA, name))
    avg, std, count = result_ms(result)
    assert avg > 0 and count >= 1
    m = summarize_averages([avg] * 3, [std] * 3, [count] * 3, 0.03, 0.02, 3)
    assert m.median_ms == pytest.approx(avg) and not m.flags
    assert m.count == 3 * count


def test_crashed_output_is_a_clear_error():
    from pxnas_tf.latency.measure.benchmark_output import BenchmarkOutputError
    with pytest.raises(BenchmarkOutputError, match="Last lines"):
        parse_benchmark_file(os.path.join(TESTDATA, "bm_crash_regular_runs.txt"))


def test_missing_and_non_executable_binaries(tmp_path):
    with pytest.raises(RunnerError, match="does not exist; build it"):
        check_local_binary(str(tmp_path / "benchmark_model"))
    with pytest.raises(RunnerError, match="is a folder"):
        check_local_binary(str(tmp_path))
    plain = tmp_path / "benchmark_model"
    plain.write_bytes(b"\x7fELF")
    plain.chmod(0o644)
    with pytest.raises(RunnerError, match="not executable; run `chmod \\+x"):
        make_runner(f"linux:{plain}")


def _executable(path, content: bytes):
    path.write_bytes(content)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _elf(machine: int) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5], header[6] = 2, 1, 1      # 64-bit, little endian, version 1
    header[16:18] = (2).to_bytes(2, "little")      # ET_EXEC
    header[18:20] = machine.to_bytes(2, "little")  # e_machine
    return bytes(header)


def test_binary_for_another_cpu(tmp_path):
    """An executable ELF file for aarch64 cannot run on this x86 host: the
    runner refuses it before any work by its header, and should it get
    that far, the kernel's refusal (ENOEXEC) is explained too."""
    import platform
    if platform.machine() in ("aarch64", "arm64"):
        pytest.skip("this host runs aarch64 binaries")
    binary = _executable(tmp_path / "android_aarch64_benchmark_model", _elf(183))
    with pytest.raises(RunnerError, match="is built for aarch64; pass the path of a "
                                          "benchmark_model built for this machine"):
        LocalBenchmarkRunner(binary, settings=MeasureSettings(timeout_s=10))
    with pytest.raises(RunnerError, match="built for another CPU/ABI"):
        run_local(binary, ["--graph=m.tflite"], 10)


@pytest.mark.parametrize("content,message", [
    (b"", "is empty \\(0 bytes\\)"),
    (b"MZ\x90\x00 a Windows program", "is not a program \\(no ELF header\\)"),
    (b"\x7fELF\x02\x01", "is a truncated ELF file"),
])
def test_files_that_are_not_programs_are_named_before_any_work(tmp_path, content, message):
    binary = _executable(tmp_path / "benchmark_model", content)
    with pytest.raises(RunnerError, match=message):
        make_runner(f"linux:{binary}")


def test_a_script_or_a_binary_for_this_cpu_passes_the_check(tmp_path):
    import platform
    assert check_local_binary(_executable(tmp_path / "bm.sh", b"#!/bin/sh\necho hi\n"))
    if platform.machine() == "x86_64":
        assert check_local_binary(_executable(tmp_path / "bm", _elf(62)))


def test_crash_and_timeout_of_a_real_process():
    sh = shutil.which("sh")
    with pytest.raises(RunnerError, match="killed by signal 11.*Last lines"):
        run_local(sh, ["-c", "echo Loaded model m.tflite; kill -SEGV $$"], 10)
    with pytest.raises(RunnerError, match="exited with status 3"):
        run_local(sh, ["-c", "echo ERROR: Failed to load model >&2; exit 3"], 10)
    with pytest.raises(RunnerError, match="timed out after 0.5 s"):
        run_local(sh, ["-c", "sleep 5"], 0.5)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
