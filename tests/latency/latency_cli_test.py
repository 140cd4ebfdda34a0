"""`pxnas latency ...` run as a real process."""

import json
import os
import re

import pytest
import yaml

from pxnas_tf.latency.build import builder
from pxnas_tf.latency.build.tflite_ops import keras_to_tflite, ops_of_keras_model
from pxnas_tf.latency.model.op_model import fit_table
from pxnas_tf.latency.model.predictor import predict_ops
from pxnas_tf.latency.model.table import load_table
from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch, load_space
from pxnas_tf.testing import HAND_KEYS, HAND_OPS, run_pxnas

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
PUBLISHED = os.path.join(TESTDATA, "proxylessnas_mobile_trim.yaml")
REAL = os.path.join(TESTDATA, "host_int8_proxyless_small.json")


def test_import_then_predict_equals_the_hand_sum(tmp_path):
    table = tmp_path / "mobile.json"
    out = run_pxnas("latency", "import", f"--yaml={PUBLISHED}", f"--out={table}",
                    "--metadata=device=Google Pixel 1,threads=1,precision=float32",
                    "--space=proxyless_imagenet")
    assert out.returncode == 0, out.stderr
    assert "imported 72 entries" in out.stdout
    meta = json.loads(table.read_text())["metadata"]
    assert meta["device"] == "Google Pixel 1" and meta["threads"] == 1
    arch = tmp_path / "arch.json"
    Arch(load_space("proxyless_imagenet"), tuple(HAND_OPS), "hand").save(str(arch))
    out = run_pxnas("latency", "predict", f"--table={table}", f"--arch={arch}", "--json")
    assert out.returncode == 0, out.stderr
    with open(PUBLISHED) as f:
        published = yaml.safe_load(f)
    hand = sum(published[k]["mean"] for k in HAND_KEYS)
    result = json.loads(out.stdout)
    assert result["latency_ms"] == pytest.approx(hand, rel=1e-12)
    assert result["source"] == "table"
    # And back to the published format.
    back = tmp_path / "back.yaml"
    out = run_pxnas("latency", "export", f"--table={table}", f"--yaml={back}")
    assert out.returncode == 0, out.stderr
    exported = yaml.safe_load(back.read_text())
    assert {k: v["mean"] for k, v in exported.items()} == {
        k: v["mean"] for k, v in published.items()}


def test_predict_a_foreign_keras_model(tmp_path):
    space = load_space("proxyless_small")
    model = build_model(Arch(space, tuple(b.candidates[0] for b in space.blocks())),
                        batch_size=1)
    path = tmp_path / "net.keras"
    model.save(path)
    table = tmp_path / "t.json"
    table.write_bytes(open(REAL, "rb").read())
    out = run_pxnas("latency", "predict", f"--table={table}", f"--keras_model={path}", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    real = load_table(REAL)
    expected = predict_ops(ops_of_keras_model(model, real.metadata.precision), real,
                           fit_table(real))
    assert result["latency_ms"] == pytest.approx(expected.total_ms, rel=1e-9)
    # The same net as a .tflite file: read from its flatbuffer, the same number.
    tflite = tmp_path / "net.tflite"
    tflite.write_bytes(keras_to_tflite(model, "int8"))
    out = run_pxnas("latency", "predict", f"--table={table}", f"--tflite={tflite}", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["latency_ms"] == pytest.approx(expected.total_ms, rel=1e-9)
    assert result["std_ms"] > 0 and result["source"] == "op_model"
    out = run_pxnas("latency", "predict", f"--table={table}", "--arch=mobilenet_v2",
                    "--input_shape=32,32,3", "--num_classes=10", "--layers")
    assert out.returncode == 0, out.stderr
    assert "op_model" in out.stdout and "head_conv" in out.stdout
    # Not silently: the output says how many layers the table could not give.
    assert re.search(r"\n  (\d+) of \1 layers are not in the table \(built for space "
                     r"'proxyless_small'\): the op model predicts them", out.stdout), out.stdout
    out = run_pxnas("latency", "predict", f"--table={table}", "--arch=mobilenet_v2",
                    "--input_shape=32,32,3", "--num_classes=10", "--json")
    result = json.loads(out.stdout)
    assert result["layers_from_op_model"] > 0 and result["layers_from_table"] == 0


@pytest.mark.timing
def test_build_stops_on_budget_and_says_how_to_resume(tmp_path, tiny_table_path, tiny_space):
    space = tmp_path / "space.json"
    space.write_text(tiny_space.to_json())
    models = builder.default_models_dir(tiny_table_path, "int8")
    out = run_pxnas("latency", "build", f"--space={space}", f"--out={tmp_path / 't.json'}",
                    "--noprogress", f"--models_dir={models}", "--max_measurements=2",
                    "--min_rounds=3", "--max_rounds=4", "--max_load=1000")
    assert out.returncode == 0, out.stderr
    assert "stopped after 2 measurements" in out.stdout and "to resume" in out.stdout
    out = run_pxnas("latency", "show", f"--table={tmp_path / 't.json'}")
    assert out.returncode == 0, out.stderr
    assert "covers space 'tiny_latency': no" in out.stdout


@pytest.mark.timing
def test_build_takes_the_input_shape_and_classes(tmp_path, tiny_space):
    space = tmp_path / "space.json"
    space.write_text(tiny_space.to_json())
    out = run_pxnas("latency", "build", f"--space={space}", f"--out={tmp_path / 't.json'}",
                    "--noprogress", "--input_shape=12,12,1", "--num_classes=3",
                    "--max_measurements=1", "--min_rounds=3", "--max_rounds=4", "--max_load=1000")
    assert out.returncode == 0, out.stderr
    table = load_table(str(tmp_path / "t.json"))
    assert len(table.metadata.overhead["ms"]) == 1  # one measurement, then stopped
    spec = table.metadata.space_spec
    assert list(spec["input_shape"]) == [12, 12, 1] and spec["num_classes"] == 3


@pytest.mark.parametrize("args,message", [
    (["build", "--out=t.json"], "--space is required"),
    (["build", "--space=proxyless_small", "--out=t.json", "--device=phone"], "unknown device"),
    (["build", "--space=proxyless_small", "--out=t.json", "--device=adb:XYZ"],
     "needs --benchmark_model"),
    (["build", "--space=proxyless_small", "--out=t.yaml"], "must end with .json"),
    (["predict", "--table=nowhere.json", "--arch=mobilenet_v2"], "does not exist"),
    (["predict", f"--table={REAL}"], "exactly one of --arch"),
    (["validate", f"--table={REAL}", "--device=linux:/nonexistent/benchmark_model"],
     "does not exist; build it"),
    (["import", "--yaml=missing.yaml", "--out=t.json"], "does not exist"),
    (["frobnicate"], "one of build, import"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    # A copy of the real table: a command may cache its op model beside the table.
    copy = tmp_path / "real.json"
    copy.write_bytes(open(REAL, "rb").read())
    out = run_pxnas("latency", *(a.replace(REAL, str(copy)) for a in args))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "pxnas: error:" in out.stderr and message in out.stderr
    assert "Traceback" not in out.stderr


def test_help_lists_the_actions():
    out = run_pxnas("latency", "--help")
    assert out.returncode == 0
    assert "pxnas latency build --space" in out.stdout and "--keras_model" in out.stdout


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
