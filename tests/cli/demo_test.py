"""`pxnas demo` and `pxnas_tf.pipeline`: the pure parts (target choice,
loss choice, table compatibility, summary and report) and the command's
flag handling. The end-to-end run is in demo_e2e_test.py (slow)."""

import math
import os

import pytest

from pxnas_tf import pipeline
from pxnas_tf.search.errors import SearchError


def test_default_target_is_mobilenetv2s_pattern_when_the_space_has_it():
    t = pipeline.choose_target(0.1, 6.4, reference=0.3)
    assert t.target == 0.3 and "MobileNetV2" in t.how and "k3_e6" in t.how
    # A reference outside the range (or none) falls back to the geometric middle.
    assert pipeline.choose_target(0.1, 6.4, reference=9.0).target == pytest.approx(0.8)
    # Given targets and fractions win over the reference.
    assert pipeline.choose_target(0.1, 6.4, target_ms=2.0, reference=0.3).target == 2.0
    assert pipeline.choose_target(0.1, 6.4, fraction=1.0, reference=0.3).target == 6.4


def test_reference_latency_is_k3_e6_everywhere():
    from pxnas_tf.search import LatencyModel
    from pxnas_tf.search_space import load_space
    space = load_space("proxyless_small", input_shape=[28, 28, 1], num_classes=10)
    model = LatencyModel.from_macs(space)
    indices = [list(b.candidates).index("k3_e6") for b in space.blocks()]
    assert pipeline.reference_latency(space, model) == pytest.approx(model.arch_latency(indices))
    other = space.replace(candidates=("k3_e3", "k5_e3"))
    assert pipeline.reference_latency(other, LatencyModel.from_macs(other)) is None


def test_convergence_line_puts_expected_derived_target_and_decidedness_together():
    line = pipeline.convergence_line(
        {"expected_latency": 0.33, "latency": 0.27, "decided": 0.812}, 0.3)
    assert line == ("E[LAT] 0.330 ms (+10.0%), derived 0.270 ms (-10.0%) against the target "
                    "0.300 ms; mean largest op probability 0.81")
    assert "n/a" in pipeline.convergence_line({}, 0.3)


def test_default_target_is_the_geometric_middle_without_a_reference():
    t = pipeline.choose_target(0.1, 6.4)
    assert t.target == pytest.approx(math.sqrt(0.1 * 6.4)) == pytest.approx(0.8)
    assert (t.fastest, t.slowest) == (0.1, 6.4) and "geometric middle" in t.how


@pytest.mark.parametrize("fraction,expected", [(0.0, 0.1), (1.0, 6.4), (0.5, 0.8), (1 / 3, 0.4)])
def test_target_fraction_is_on_a_log_scale(fraction, expected):
    assert pipeline.choose_target(0.1, 6.4, fraction=fraction).target == pytest.approx(expected)


def test_given_target_must_lie_in_the_space():
    assert pipeline.choose_target(0.1, 6.4, target_ms=2.0).target == 2.0
    with pytest.raises(SearchError, match=r"outside the space: its fastest arch takes 0.1 ms "
                                          r"and its slowest 6.4 ms"):
        pipeline.choose_target(0.1, 6.4, target_ms=10.0)
    with pytest.raises(SearchError, match=r"must lie in \[0, 1\]"):
        pipeline.choose_target(0.1, 6.4, fraction=1.5)
    with pytest.raises(SearchError, match="need 0 < fastest <= slowest"):
        pipeline.choose_target(0.0, 6.4)


def test_auto_loss_avoids_log_of_latencies_below_one():
    assert pipeline.arch_loss("auto") == "abs#target"
    assert pipeline.arch_loss("mul#log") == "mul#log"


@pytest.mark.parametrize("changes,match", [
    ({"precision": "int4"}, "precision must be one of"),
    ({"target_ms": 1.0, "target_fraction": 0.5}, "not both"),
    ({"target_fraction": 2.0}, r"target_fraction=2.0: expected in \[0, 1\]"),
    ({"holdout_examples": 0}, "holdout_examples=0: expected >= 1"),
    ({"search_warmup_epochs": 0, "search_epochs": 0}, "at least one epoch"),
    ({"threads": 0}, "threads=0: expected >= 1"),
    ({"loss": "ce"}, "loss must be one of"),
    ({"strategy": "multi_worker"}, "runs on one host"),
    ({"runner": "tf:cpu"}, r"runner=tf:cpu times Keras models in float32, not precision='int8'"),
    ({"runner": "tf:cpu", "precision": "fp16"}, "fp16: mixed float16 on tf:gpu"),
    ({"runner": "tf:tpu", "precision": "float32"}, "unknown device 'tf:tpu'"),
    ({"runner": "tf:cpu", "precision": "float32", "tf_batch": 0}, "tf_batch=0: expected >= 1"),
])
def test_config_refuses_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        pipeline.PipelineConfig(**changes)


def test_config_takes_tensorflow_runtime_targets():
    assert pipeline.PipelineConfig(runner="tf:cpu", precision="float32").tf_batch == 8
    assert pipeline.PipelineConfig(runner="tf:gpu:1", precision="fp16", tf_xla=True).tf_xla


def test_config_paths(tmp_path):
    cfg = pipeline.PipelineConfig(workdir=str(tmp_path), precision="fp16")
    assert cfg.path("table") == str(tmp_path / "latency_table.json")
    assert cfg.path("tflite") == str(tmp_path / "net_fp16.tflite")
    assert cfg.path("search") == str(tmp_path / "search")
    other = pipeline.PipelineConfig(workdir=str(tmp_path), latency_table="elsewhere/t.json")
    assert other.path("table") == os.path.abspath("elsewhere/t.json")


def synthetic_summary(tmp_path, reused=False, **config):
    """A summary built by `make_summary` from stage results shaped like the
    real ones (the numbers are made up)."""
    cfg = pipeline.PipelineConfig(workdir=str(tmp_path), **config)
    table = pipeline.TableStage(cfg.path("table"), reused, 70, 140, ("k7_e6",), 12.0,
                                "host: AMD EPYC (x86_64, 2 CPUs)", 61.0)
    target = pipeline.choose_target(0.1, 6.4)
    search_files = {k: os.path.join(cfg.path("search"), v) for k, v in
                    (("arch", "arch.json"), ("history", "history.json"),
                     ("summary", "summary.json"))}
    found = pipeline.SearchStage(
        None, {"arch": "k3_e3,zero|k5_e3,k3_e3", "derived_by": "budget", "latency": 0.75,
               "expected_latency": 0.9, "holdout_accuracy": 0.41, "params": 123_456,
               "macs": 4_560_000, "weight_steps": 96, "arch_steps": 32},
        search_files, "add#linear", reused, 200.0)
    trained = pipeline.TrainStage({"epochs": 2, "val_top1": 0.8, "best_val_top1": 0.8,
                                   "warm_start": "copied 40 layers"},
                                  os.path.join(cfg.path("train"), "best.keras"), reused, 60.0)
    exported = pipeline.ExportStage(
        cfg.path("tflite"), cfg.path("tflite") + ".json",
        {"mode": "int8", "verification": {
            "size_bytes": 150_000, "integer_only": True, "examples": 1000, "keras_top1": 0.8,
            "tflite_top1": 0.795, "agreement": 0.99, "predicted_latency_ms": 0.75,
            "latency": {"median_ms": 0.8, "flags": ["contended"], "device": "host"}}},
        reused, 40.0)
    figures = {"net figure": cfg.path("net_figure"), "search dynamics": cfg.path("dynamics")}
    return pipeline.make_summary(cfg, table, target, found, trained, exported, figures,
                                 {"train": 1536, "arch": 512, "validation": 10000}, 400.0)


def test_summary_names_every_file_and_the_numbers(tmp_path):
    summary = synthetic_summary(tmp_path)
    assert set(summary["files"]) == {"latency table", "arch", "search history", "keras model",
                                     "tflite", "tflite report", "net figure", "search dynamics",
                                     "summary", "report"}
    text = "\n".join(pipeline.summary_lines(summary))
    for path in summary["files"].values():
        assert path in text
    assert "k3_e3,zero|k5_e3,k3_e3  (budget, loss add#linear)" in text
    assert "0.100 .. 6.400 ms over the space; target 0.800 ms" in text
    assert "table predicts 0.750 ms, measured 0.800 ms on this host [contended] (prediction error -6.3%)" in text
    assert "float 80.00%, int8 79.50% on 1000 test images" in text
    assert "int8-only ops: yes" in text
    assert "table 61 s, search 200 s, train 60 s, export 40 s; total 400 s" in text


def test_summary_of_reused_stages_and_float_export(tmp_path):
    summary = synthetic_summary(tmp_path, reused=True)
    summary["export"].update(mode="float32", measured_ms=None)
    text = "\n".join(pipeline.summary_lines(summary))
    assert "search 200 s (reused)" in text
    assert "not measured (not the host runner)" in text and "int8-only" not in text


def test_summary_of_a_tensorflow_runtime_target(tmp_path):
    summary = synthetic_summary(tmp_path, runner="tf:cpu", precision="float32")
    text = "\n".join(pipeline.summary_lines(summary))
    assert "measured 0.800 ms on tf:cpu [contended] (per batch of 8)" in text


def test_report_and_summary_files(tmp_path):
    import json

    summary = synthetic_summary(tmp_path)
    json_path, md_path = pipeline.write_report(summary)
    assert json.loads(open(json_path).read())["search"]["arch"] == "k3_e3,zero|k5_e3,k3_e3"
    md = open(md_path).read()
    assert md.startswith("# pxnas pipeline report")
    assert "| measured latency (host) | 0.800 ms |" in md
    assert "![search dynamics](search_dynamics.png)" in md
    assert "| search | 200 s | ran |" in md
    assert "| derived arch | `k3_e3,zero\\|k5_e3,k3_e3` (budget) |" in md  # | escaped in a table
    assert "Subsets for speed: search on 1536 training images" in md


def test_demo_help_lists_the_scaling_flags(pxnas_forked):
    out = pxnas_forked.run("demo", "--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--runner", "--precision", "--threads", "--latency_table", "--target_ms",
                 "--target_fraction", "--full_data", "--search_epochs", "--epochs", "--dataset",
                 "--max_wait_s", "--candidate_weights", "--strategy"):
        assert flag in out.stdout, flag


def test_demo_bad_flags_are_one_line_errors(tmp_path, pxnas_forked):
    out = pxnas_forked.run("demo", f"--workdir={tmp_path}", "--target_ms=1",
                           "--target_fraction=0.5")
    assert out.returncode == 2 and "pxnas: error:" in out.stderr and "not both" in out.stderr
    out = pxnas_forked.run("demo", f"--workdir={tmp_path}", "--dataset=mnist_digits")
    assert out.returncode == 2 and "unknown dataset 'mnist_digits'" in out.stderr
    assert "Traceback" not in out.stderr
    out = pxnas_forked.run("demo", f"--workdir={tmp_path}", "--search_examples=10")
    assert out.returncode == 2 and "at least one batch of 64" in out.stderr
    assert not os.path.exists(tmp_path / "latency_table.json")  # refused before the table
    out = pxnas_forked.run("demo", f"--workdir={tmp_path}", "--runner=phone")
    assert out.returncode == 2 and "unknown device 'phone'" in out.stderr


def test_demo_flags_are_generated_from_the_config_fields():
    import dataclasses

    from absl import flags as absl_flags

    from pxnas_tf.cli.flags import define_config_flags
    values = absl_flags.FlagValues()
    define_config_flags(pipeline.PipelineConfig, flag_values=values)
    values(["pxnas"])
    for field in dataclasses.fields(pipeline.PipelineConfig):
        assert values[field.name].default == field.default, field.name
        assert values[field.name].help.endswith(field.metadata["help"]), field.name
    assert values["precision"].parser.enum_values == ["int8", "float32", "fp16"]
    values(["pxnas", "--search_epochs=5", "--noxnnpack", "--target_ms=0.3"])
    assert (values.search_epochs, values.xnnpack, values.target_ms) == (5, False, 0.3)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
