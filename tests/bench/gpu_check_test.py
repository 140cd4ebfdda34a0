"""bench/gpu_check.py end to end on this CPU: the tiny run as a real process
(search and plain steps in their own processes, real JPEG files through the
input pipeline, the tf runner on the zoo nets), checked on its JSON."""

import json
import math
import os
import subprocess
import sys

import pytest

from pxnas_tf.testing import REPO, load_bench, quiet_env

SCRIPT = os.path.join(REPO, "bench", "gpu_check.py")


def _run(tmp_path, *extra, timeout=600):
    return subprocess.run(
        [sys.executable, SCRIPT, f"--out={tmp_path / 'out'}", f"--workdir={tmp_path / 'work'}",
         *extra], capture_output=True, text=True, timeout=timeout, env=quiet_env())


@pytest.mark.slow
@pytest.mark.timing  # the tf runner times the zoo nets
def test_tiny_cpu_run_measures_every_part_and_says_no_gpu(tmp_path):
    proc = _run(tmp_path, "--tiny", "--jpegs=8")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    report = (tmp_path / "out" / "gpu_check.md").read_text()

    assert result["tiny"] is True
    if not result["device"]["gpu"]:  # this machine: the run must say so
        assert result["device"]["name"] == "no GPU found, ran on CPU at tiny size"
        assert "no GPU found" in proc.stdout and "CPU tiny run" in report
        assert result["settings"]["memory_device"] == "CPU:0"
    rows = {(r["mode"] or "plain"): r for r in result["steps"]}
    assert set(rows) == {"plain", "full_v2", "two", "full"}
    for name, row in rows.items():
        assert row["status"] == "ok", row
        assert (row["precision"], row["xla"]) == ("float32", False)
        assert row["images_per_s"] > 0 and row["peak_bytes"] > 0
    for mode in ("full_v2", "two", "full"):
        assert rows[mode]["weight_images_per_s"] > 0 and rows[mode]["arch_images_per_s"] > 0
    # All paths stored: full needs more memory than one path.
    assert rows["full"]["peak_bytes"] > rows["full_v2"]["peak_bytes"]

    ratios = result["memory_ratios"]["float32"]
    for key in ("full_v2_over_plain", "full_over_full_v2"):
        assert math.isfinite(ratios[key]) and ratios[key] > 0
    assert ratios["full_v2_over_plain"] == pytest.approx(
        rows["full_v2"]["peak_bytes"] / rows["plain"]["peak_bytes"])

    projection = result["projection"]
    assert projection["paper_hours"] == 200 and projection["hours"] > 0
    assert projection["hours"] == pytest.approx(
        load_bench("gpu_check_steps").projected_gpu_hours(
            rows["full_v2"]["weight_images_per_s"], rows["full_v2"]["arch_images_per_s"])["hours"])

    assert result["jpegs"]["synthetic"] is True and result["jpegs"]["files"] == 8
    jpegs = list((tmp_path / "work" / "jpegs" / "train").rglob("*.jpg"))
    assert len(jpegs) == 8 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in jpegs)
    assert result["pipeline"]["images_per_s"] > 0
    assert "synthetic" in report

    assert result["latency_device"] == ("tf:cpu" if not result["device"]["gpu"] else "tf:gpu")
    latency = {r["net"]: r for r in result["latency"]}
    assert set(latency) == {"proxyless_gpu", "proxyless_mobile", "mobilenet_v2"}
    for row in latency.values():
        assert row["ms"] > 0 and row["batch"] == 8
        assert f"| {row['net']} | {row['ms']:.2f} |" in report


def test_projection_follows_the_papers_schedule():
    steps = load_bench("gpu_check_steps")
    # 1000 img/s for both steps: 160 epochs of weight steps and 119 epochs of
    # arch steps on a fifth of the images.
    train = 1_281_167 - 50_000
    expected = (160 * train + 119 * train / 5) / 1000 / 3600
    assert steps.projected_gpu_hours(1000.0, 1000.0)["hours"] == pytest.approx(expected)
    # Slower arch steps cost only their share.
    slower = steps.projected_gpu_hours(1000.0, 500.0)["hours"]
    assert slower == pytest.approx(expected + 119 * train / 5 / 1000 / 3600)


@pytest.mark.parametrize("flag, message", [
    ("--modes=full_v2,fast", "--modes: expected a comma-separated subset of full_v2,two,full"),
    ("--precisions=float64", "--precisions: expected a comma-separated subset"),
    ("--batch_size=0", "--batch_size must be > 0, got 0"),
    ("--image_size=16", "--image_size must be >= 32"),
])
def test_bad_flags_fail_with_one_line(tmp_path, flag, message):
    proc = _run(tmp_path, flag, timeout=120)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("gpu_check: error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "out").exists()
