"""`pxnas export` as a real process, from a `pxnas train` workdir."""

import json

import pytest

from pxnas_tf.export import read_metadata
from pxnas_tf.testing import run_pxnas


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_arch):
    """A finished one-epoch `pxnas train` run of the tiny arch on 16x16 Fashion-MNIST."""
    root = tmp_path_factory.mktemp("export_cmd")
    space = dict(tiny_arch.space.to_dict(), num_classes=10)
    arch = root / "arch.json"
    arch.write_text(json.dumps({"format": "pxnas_tf.arch/v1", "name": "tiny", "space": space,
                                "ops": list(tiny_arch.ops)}))
    out = run_pxnas("train", f"--arch={arch}", f"--workdir={root / 'run'}", "--epochs=1",
                    "--image_size=16", "--train_examples=256", "--val_examples=64", "--batch_size=32",
                    "--noprogress")
    assert out.returncode == 0, out.stderr[-3000:]
    return root / "run"


def test_int8_from_a_train_workdir(workdir):
    out = run_pxnas("export", f"--model={workdir}", "--mode=int8", "--calibration_examples=64",
                    "--verify_examples=64", "--nolatency")
    assert out.returncode == 0, out.stderr[-3000:]
    path = workdir / "net_int8.tflite"
    assert f"wrote {path}" in out.stdout and "int8 only     yes" in out.stdout
    assert "top-1         tflite" in out.stdout and "on 64 images" in out.stdout
    meta = read_metadata(str(path))
    assert meta["arch_string"] == "k3_e3,zero|k5_e6" and meta["input"]["shape"] == [1, 16, 16, 1]
    assert meta["input"]["normalization"]["scale"] == 255.0
    assert meta["class_names"][0] == "T-shirt/top" and len(meta["class_names"]) == 10
    report = json.loads((workdir / "net_int8.tflite.json").read_text())["verification"]
    assert report["examples"] == 64 and report["integer_only"]


@pytest.mark.slow
def test_bad_inputs_are_clear_errors(workdir, tmp_path, pxnas_forked):
    notes = tmp_path / "notes.keras"
    notes.write_text("hello")
    out = pxnas_forked.run("export", f"--model={notes}", "--mode=float32")
    assert out.returncode == 2 and "is not a Keras model" in out.stderr
    assert "Traceback" not in out.stderr
    lone = tmp_path / "lone.keras"
    lone.write_bytes((workdir / "best.keras").read_bytes())
    out = pxnas_forked.run("export", f"--model={lone}", "--mode=int8")
    assert out.returncode == 2
    assert "calibrates on training images: pass --dataset" in out.stderr
    out = pxnas_forked.run("export", f"--model={workdir}", "--mode=int8", "--dataset=fashion_mnist",
                    "--data_dir=/nonexistent/fashion")
    assert out.returncode == 2 and "pxnas: error:" in out.stderr and "Traceback" not in out.stderr
    out = pxnas_forked.run("export", f"--model={workdir}", "--mode=float32", "--arch=proxyless_mobile")
    assert out.returncode == 2 and "does not fit the arch" in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
