"""`pxnas demo` end to end in a tiny configuration (a 2-block space on
Fashion-MNIST resized to 8x8, tiny subsets, one pass per table key, no
waiting for a quiet CPU): every file the summary names exists and opens,
and a second run reuses every stage."""

import json
import os
import subprocess
import sys

import pytest

from pxnas_tf.testing import TINY_SPACE, pxnas_command, quiet_env

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

# TINY_SPACE, a 2-block space (8 wide, two candidates plus zero), keeps the
# table at a handful of keys and the supernet's step functions quick to
# build; these flags keep every stage short.
TINY_FLAGS = [
    "--image_size=8", "--search_examples=128", "--holdout_examples=64", "--search_batch_size=32",
    "--search_warmup_epochs=1", "--search_epochs=2", "--arch_every=1", "--train_examples=256",
    "--val_examples=64", "--epochs=1", "--batch_size=32", "--calibration_examples=32",
    "--max_wait_s=0", "--table_passes=1", "--noprogress",
]


def demo(workdir, space, *extra):
    return subprocess.run(pxnas_command("demo", f"--workdir={workdir}", f"--space={space}",
                                        *TINY_FLAGS, *extra),
                          capture_output=True, text=True, env=quiet_env(), timeout=1200)


def check_opens(name: str, path: str, dtype: str = "int8") -> None:
    assert os.path.exists(path), (name, path)
    if path.endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter
        interpreter = Interpreter(model_path=path)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        assert list(detail["shape"]) == [1, 8, 8, 1] and detail["dtype"].__name__ == dtype
    elif path.endswith(".keras"):
        import keras
        model = keras.saving.load_model(path, compile=False)
        assert model.output_shape[-1] == 10
    elif path.endswith(".png"):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            json.load(f)
    elif path.endswith(".md"):
        with open(path, encoding="utf-8") as f:
            assert f.read().startswith("# pxnas pipeline report")
    else:
        raise AssertionError(f"unexpected file type {name}: {path}")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs Debian's dataset-fashion-mnist")
def test_demo_writes_every_file_and_resumes(tmp_path):
    space = tmp_path / "tiny10.json"
    space.write_text(json.dumps(TINY_SPACE))
    workdir = tmp_path / "demo"
    out = demo(workdir, space)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["format"] == "pxnas_tf.pipeline/v1"
    for name, path in summary["files"].items():
        assert path in out.stdout, name  # the printed summary names every file
        check_opens(name, path)
    lat = summary["latency"]
    assert lat["fastest_ms"] <= lat["target_ms"] <= lat["slowest_ms"]
    assert "Summary" in out.stdout and "derived arch" in out.stdout
    export = summary["export"]
    assert export["integer_only"] is True and export["mode"] == "int8"
    assert export["measured_ms"] > 0 and export["predicted_ms"] > 0
    assert 0.0 <= export["tflite_top1"] <= 1.0 and export["examples"] == 64
    assert summary["search"]["predicted_ms"] <= lat["target_ms"] + 1e-9  # band budget
    assert "geometric middle" in lat["target_how"]  # the tiny space has no k3_e6
    assert 0.0 < summary["search"]["decided"] <= 1.0
    assert "mean largest op probability" in out.stdout
    history = json.loads(open(summary["files"]["search history"]).read())
    assert [h["phase"] for h in history] == ["warmup", "search", "search"]
    assert not any(stage["reused"] for stage in summary["stages"].values())

    again = demo(workdir, space)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    stages = json.loads((workdir / "summary.json").read_text())["stages"]
    assert all(stage["reused"] for stage in stages.values()), stages
    assert "reusing" in again.stdout


@pytest.mark.slow
@pytest.mark.timing  # the tf runner times the table and the net: run alone, not beside others
@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs Debian's dataset-fashion-mnist")
def test_demo_for_a_tensorflow_runtime_target(tmp_path):
    """--runner=tf:cpu: the table is built and the trained net timed in the
    TensorFlow runtime at --tf_batch, each in a child process; a table of
    another batch size is refused."""
    space = tmp_path / "tiny10.json"
    space.write_text(json.dumps(TINY_SPACE))
    workdir = tmp_path / "demo"
    tf_flags = ("--runner=tf:cpu", "--precision=float32", "--tf_batch=2")
    out = demo(workdir, space, *tf_flags)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    table = json.loads(open(summary["files"]["latency table"]).read())["metadata"]
    assert (table["runner"], table["batch"], table["xla"]) == ("tf", 2, False)
    assert summary["target"]["device"].startswith("tf:cpu")
    export = summary["export"]
    assert export["mode"] == "float32" and export["measured_on"].startswith("tf:cpu")
    assert export["measured_ms"] > 0 and export["predicted_ms"] > 0
    assert "on tf:cpu" in out.stdout and "(per batch of 2)" in out.stdout
    for name, path in summary["files"].items():
        check_opens(name, path, dtype="float32")

    again = demo(workdir, space, *tf_flags)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert json.loads((workdir / "summary.json").read_text())["export"]["measured_ms"] == \
        export["measured_ms"]  # reused, not timed again
    other = demo(workdir, space, "--runner=tf:cpu", "--precision=float32", "--tf_batch=4")
    assert other.returncode != 0
    assert "batch 2, not 4" in other.stderr or "batch 2, not 4" in other.stdout


MIRRORED_DEMO = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pxnas_tf import pipeline
config = pipeline.PipelineConfig(
    workdir=sys.argv[1], space=sys.argv[2], strategy="mirrored", image_size=8,
    search_examples=128, holdout_examples=64, search_batch_size=32, search_warmup_epochs=1,
    search_epochs=2, arch_every=1, train_examples=256, val_examples=64, epochs=1, batch_size=32,
    calibration_examples=32, max_wait_s=0, table_passes=1, progress=False)
pipeline.run(config)
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs Debian's dataset-fashion-mnist")
def test_demo_under_mirrored_strategy_on_two_devices(tmp_path):
    """The search (shared candidate weights) and the training both run on
    two replicas of one MirroredStrategy in one process."""
    space = tmp_path / "tiny10.json"
    space.write_text(json.dumps(TINY_SPACE))
    workdir = tmp_path / "demo"
    out = subprocess.run([sys.executable, "-c", MIRRORED_DEMO, str(workdir), str(space)],
                         capture_output=True, text=True, timeout=1200, env=quiet_env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "mirrored strategy: 2 replicas" in out.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["config"]["strategy"] == "mirrored"
    assert summary["config"]["candidate_weights"] == "shared"
    assert summary["search"]["weight_steps"] == 3 * (128 // 32)
    assert summary["train"]["epochs"] == 1 and summary["export"]["integer_only"] is True
    for name, path in summary["files"].items():
        check_opens(name, path)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
