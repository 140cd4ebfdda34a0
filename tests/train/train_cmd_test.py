"""`pxnas train` as a real process: help, a short run, SIGKILL and resume,
clear errors."""

import json
import os
import signal
import subprocess
import time

import pytest

from pxnas_tf.testing import pxnas_command, quiet_env, run_pxnas


def _tiny_args(arch_file, workdir, epochs, train_examples=256):
    return [f"--arch={arch_file}", f"--workdir={workdir}", f"--epochs={epochs}",
            "--image_size=16", f"--train_examples={train_examples}", "--val_examples=128",
            "--batch_size=32", "--noprogress"]


def test_help_lists_the_flags(pxnas_forked):
    out = pxnas_forked.run("train", "--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--arch", "--workdir", "--warm_start", "--mixed_precision", "--strategy",
                 "--label_smoothing", "--decay_bn_bias"):
        assert flag in out.stdout


@pytest.mark.slow
def test_sigkill_then_resume(tiny_arch_file, tmp_path):
    workdir = tmp_path / "run"
    args = _tiny_args(tiny_arch_file, workdir, epochs=6, train_examples=2048)
    proc = subprocess.Popen(pxnas_command("train", *args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=quiet_env())
    meta = workdir / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if meta.exists() and json.loads(meta.read_text() or "{}").get("epoch", 0) >= 1:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (workdir / "results.json").exists()
    done_before = json.loads(meta.read_text())["epoch"]
    assert 1 <= done_before < 6

    out = run_pxnas("train", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resumed after epoch {done_before}" in out.stdout
    assert f"Epoch {done_before + 1}/6" in out.stdout and "Epoch 1/6" not in out.stdout
    results = json.loads((workdir / "results.json").read_text())
    assert results["epochs"] == 6 and results["resumed_from"] == done_before
    assert [e["epoch"] for e in results["history"]] == [1, 2, 3, 4, 5, 6]
    assert "validation top-1" in out.stdout


def test_short_run_prints_and_writes_the_accuracy(tiny_arch_file, tmp_path):
    out = run_pxnas("train", *_tiny_args(tiny_arch_file, tmp_path / "run", epochs=1))
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert f"validation top-1 {100 * results['val_top1']:.2f}%" in out.stdout
    assert (tmp_path / "run" / "best.keras").exists()


def test_errors_are_one_line(tiny_arch_file, tmp_path, pxnas_forked):
    out = pxnas_forked.run("train", f"--arch={tiny_arch_file}", f"--workdir={tmp_path}")
    assert out.returncode == 2 and "pxnas: error: --epochs is required" in out.stderr
    bad = tmp_path / "bad_arch.json"
    doc = json.loads(open(tiny_arch_file).read())
    doc["ops"] = ["k3_e3", "k7_e6", "k5_e6"]  # k7_e6 is not a candidate of this space
    bad.write_text(json.dumps(doc))
    out = pxnas_forked.run("train", *_tiny_args(bad, tmp_path / "w", epochs=1))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "op 'k7_e6' is not a candidate of this block" in out.stderr
    out = pxnas_forked.run("train", *_tiny_args(tiny_arch_file, tmp_path / "w2", epochs=1),
                    "--dataset=fashion_mnist", "--data_dir=/nonexistent")
    assert out.returncode == 2 and "pxnas: error:" in out.stderr and "Traceback" not in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
