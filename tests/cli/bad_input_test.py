"""Bad input to every subcommand: each case is a real `pxnas` process that
must end with exactly one `pxnas: ...` line on stderr naming the input (no
traceback), the exit code of its kind (2: bad input, 1: an OS fault), and
nothing half-written.

The files the cases read are made once per session (`files`): bytes that
are not text, empty files, broken JSON and YAML, archs and spaces that do
not fit, a small real Keras model and latency table, a file where a folder
should be.

The processes are forked from a server that imported TensorFlow once
(`pxnas_forked`); the cases of `FRESH` start a fresh interpreter through
the console script's module as a user's shell does."""

import json
import os

import pytest

from pxnas_tf.testing import run_pxnas, tiny16_arch, tiny16_space_dict

# (id, arguments, exit code, phrases the error line must hold). In the
# arguments {NAME} is the path of file NAME of the `files` fixture and {out}
# a fresh output folder of the case.
CASES = [
    # pxnas itself
    ("unknown-subcommand", ["bogus"], 2, ["unknown subcommand 'bogus'"]),
    # build
    ("build-no-arch", ["build", "--out={out}/n.keras"], 2, ["--arch"]),
    ("build-missing-arch", ["build", "--arch={out}/none.json", "--out={out}/n.keras"], 2,
     ["none.json"]),
    ("build-binary-arch", ["build", "--arch={binary}", "--out={out}/n.keras"], 2,
     ["not UTF-8 text"]),
    ("build-empty-arch", ["build", "--arch={empty}", "--out={out}/n.keras"], 2, ["empty.json"]),
    ("build-broken-json-arch", ["build", "--arch={broken_json}", "--out={out}/n.keras"], 2,
     ["broken.json"]),
    ("build-list-arch", ["build", "--arch={list_json}", "--out={out}/n.keras"], 2, ["list.json"]),
    ("build-unknown-op", ["build", "--arch={unknown_op}", "--out={out}/n.keras"], 2, ["k9_e9"]),
    ("build-short-arch", ["build", "--arch={short_arch}", "--out={out}/n.keras"], 2,
     ["short.json"]),
    ("build-unknown-zoo-name", ["build", "--arch=no_such_net", "--out={out}/n.keras"], 2,
     ["no_such_net"]),
    ("build-zero-width", ["build", "--arch=proxyless_mobile", "--width_mult=0",
                          "--out={out}/n.keras"], 2, ["--width_mult=0.0: expected > 0"]),
    ("build-nan-width", ["build", "--arch=proxyless_mobile", "--width_mult=nan",
                         "--out={out}/n.keras"], 2, ["--width_mult=nan: expected a finite number"]),
    ("build-one-class", ["build", "--arch=proxyless_mobile", "--num_classes=1",
                         "--out={out}/n.keras"], 2, ["--num_classes=1: expected >= 2"]),
    ("build-2d-input", ["build", "--arch=proxyless_mobile", "--input_shape=28,28",
                        "--out={out}/n.keras"], 2, ["input_shape"]),
    ("build-text-input", ["build", "--arch=proxyless_mobile", "--input_shape=a,b,c",
                          "--out={out}/n.keras"], 2, ["input_shape"]),
    ("build-dropout-above-1", ["build", "--arch=proxyless_mobile", "--dropout=1.5",
                               "--out={out}/n.keras"], 2, ["--dropout=1.5: expected in [0, 1)"]),
    ("build-out-is-a-folder", ["build", "--arch=proxyless_mobile", "--out={folder}"], 2,
     ["folder"]),
    ("build-out-under-a-file", ["build", "--arch=proxyless_mobile", "--out={blocker}/n.keras"], 1,
     ["blocker"]),
    ("build-bad-space", ["build", "--arch={arch}", "--space={bad_space}",
                         "--out={out}/n.keras"], 2, ["bad_space.json"]),
    # zoo
    ("zoo-unknown-net", ["zoo", "show", "no_such_net"], 2, ["no_such_net"]),
    ("zoo-profile-unknown-net", ["zoo", "profile", "--name=no_such_net"], 2, ["no_such_net"]),
    ("zoo-unknown-action", ["zoo", "bogus"], 2, ["bogus"]),
    # search
    ("search-missing-space", ["search", "--space={out}/none.json", "--workdir={out}/w"], 2,
     ["none.json"]),
    ("search-binary-space", ["search", "--space={binary}", "--workdir={out}/w"], 2,
     ["not UTF-8 text"]),
    ("search-negative-epochs", ["search", "--space={space}", "--search_epochs=-1",
                                "--workdir={out}/w"], 2, ["--search_epochs=-1: expected >= 0"]),
    ("search-zero-arch-lr", ["search", "--space={space}", "--arch_lr=0", "--workdir={out}/w"], 2,
     ["--arch_lr=0.0: expected > 0"]),
    ("search-nan-arch-lr", ["search", "--space={space}", "--arch_lr=nan", "--workdir={out}/w"],
     2, ["--arch_lr=nan: expected a finite number"]),
    ("search-negative-target", ["search", "--space={space}", "--target_latency=-1",
                                "--workdir={out}/w"], 2, ["--target_latency=-1.0: expected > 0"]),
    ("search-nan-target", ["search", "--space={space}", "--target_latency=nan",
                           "--workdir={out}/w"], 2, ["--target_latency=nan: expected a finite"]),
    ("search-unknown-loss", ["search", "--space={space}", "--loss=bogus", "--workdir={out}/w"], 2,
     ["--loss", "bogus"]),
    ("search-missing-table", ["search", "--space={space}", "--latency_table={out}/none.json",
                              "--target_latency=1", "--workdir={out}/w"], 2, ["none.json"]),
    ("search-broken-table", ["search", "--space={space}", "--latency_table={broken_json}",
                             "--target_latency=1", "--workdir={out}/w"], 2, ["broken.json"]),
    ("search-table-of-another-precision", [
        "search", "--space={space}", "--latency_table={table}", "--latency_precision=float32",
        "--target_latency=0.1", "--workdir={out}/w"], 2, ["precision 'int8', not 'float32'"]),
    ("search-unknown-dataset", ["search", "--space={space}", "--dataset=no_such_data",
                                "--workdir={out}/w"], 2, ["no_such_data"]),
    ("search-empty-data-dir", ["search", "--space={space}", "--dataset=fashion_mnist",
                               "--data_dir={folder}", "--workdir={out}/w"], 2, ["folder"]),
    ("search-zero-batch", ["search", "--space={space}", "--search_batch_size=0",
                           "--workdir={out}/w"], 2, ["--search_batch_size=0: expected >= 1"]),
    ("search-temperature-above-1", ["search", "--space={space}", "--arch_temperature=2",
                                    "--workdir={out}/w"], 2,
     ["--arch_temperature=2.0: expected in (0, 1]"]),
    ("search-momentum-1", ["search", "--space={space}", "--momentum=1", "--workdir={out}/w"], 2,
     ["--momentum=1.0: expected in [0, 1)"]),
    ("search-workdir-is-a-file", ["search", "--space={space}", "--loss=ce", "--workdir={blocker}",
                                  "--dataset=fashion_mnist", "--search_examples=64"], 1,
     ["blocker"]),
    ("search-in-a-training-workdir", ["search", "--space={space}", "--loss=ce",
                                      "--workdir={train_workdir}", "--dataset=fashion_mnist",
                                      "--image_size=8", "--search_examples=64",
                                      "--holdout_examples=32", "--search_batch_size=16"],
     2, ["holds no search run"]),
    # train
    ("train-missing-arch", ["train", "--arch={out}/none.json", "--epochs=1",
                            "--workdir={out}/w"], 2,
     ["none.json"]),
    ("train-nan-lr", ["train", "--arch={arch}", "--lr=nan", "--workdir={out}/w"], 2,
     ["--lr=nan: expected a finite number"]),
    ("train-negative-lr", ["train", "--arch={arch}", "--lr=-1", "--workdir={out}/w"], 2,
     ["--lr=-1.0: expected > 0"]),
    ("train-zero-epochs", ["train", "--arch={arch}", "--epochs=0", "--workdir={out}/w"], 2,
     ["epochs=0: expected >= 1"]),
    ("train-warmup-longer-than-training", ["train", "--arch={arch}", "--epochs=2",
                                           "--warmup_epochs=5", "--workdir={out}/w"], 2,
     ["warmup_epochs=5.0: expected <= epochs"]),
    ("train-min-lr-above-lr", ["train", "--arch={arch}", "--lr=0.1", "--min_lr=1",
                               "--epochs=1", "--workdir={out}/w"], 2, ["min_lr=1.0: expected <= lr"]),
    ("train-label-smoothing-1", ["train", "--arch={arch}", "--label_smoothing=1",
                                 "--workdir={out}/w"], 2, ["--label_smoothing=1.0: expected in"]),
    ("train-unknown-precision", ["train", "--arch={arch}", "--mixed_precision=float8",
                                 "--workdir={out}/w"], 2, ["--mixed_precision", "float8"]),
    ("train-missing-warm-start", ["train", "--arch={arch}", "--warm_start={out}/none.keras",
                                  "--dataset=fashion_mnist", "--image_size=16",
                                  "--train_examples=64", "--epochs=1", "--batch_size=16",
                                  "--workdir={out}/w"], 2,
     ["none.keras"]),
    ("train-unknown-dataset", ["train", "--arch={arch}", "--dataset=no_such_data",
                               "--epochs=1", "--workdir={out}/w"], 2, ["no_such_data"]),
    ("train-negative-val-limit", ["train", "--arch={arch}", "--val_examples=-1",
                                  "--workdir={out}/w"], 2, ["--val_examples=-1: expected >= 0"]),
    ("train-in-a-search-workdir", ["train", "--arch={arch}", "--workdir={search_workdir}",
                                   "--dataset=fashion_mnist", "--image_size=16",
                                   "--train_examples=64", "--epochs=1", "--batch_size=16"], 2,
     ["holds no training run"]),
    # export
    ("export-missing-model", ["export", "--model={out}/none.keras", "--out={out}/n.tflite"], 2,
     ["none.keras"]),
    ("export-fake-keras-file", ["export", "--model={fake_keras}", "--out={out}/n.tflite",
                                "--mode=float32"], 2, ["fake.keras"]),
    ("export-binary-model", ["export", "--model={binary}", "--out={out}/n.tflite",
                             "--mode=float32"], 2, ["binary"]),
    ("export-unknown-mode", ["export", "--model={model}", "--mode=int4", "--out={out}/n.tflite"],
     2, ["--mode", "int4"]),
    ("export-wrong-extension", ["export", "--model={model}", "--mode=float32", "--out={out}/n.bin"],
     2, [".tflite"]),
    ("export-zero-calibration", ["export", "--model={model}", "--calibration_examples=0",
                                 "--out={out}/n.tflite"], 2,
     ["--calibration_examples=0: expected >= 1"]),
    ("export-agreement-above-1", ["export", "--model={model}", "--min_agreement=2",
                                  "--out={out}/n.tflite"], 2,
     ["--min_agreement=2.0: expected in [0, 1]"]),
    ("export-zero-verify-examples", ["export", "--model={model}", "--verify_examples=0",
                                     "--out={out}/n.tflite"], 2,
     ["--verify_examples=0: expected >= 1"]),
    ("export-zero-qat-epochs", ["export", "--model={model}", "--mode=qat", "--qat_epochs=0",
                                "--out={out}/n.tflite"], 2, ["--qat_epochs=0: expected >= 1"]),
    ("export-broken-table", ["export", "--model={model}", "--arch={arch}", "--mode=float32",
                             "--nolatency", "--noverify", "--latency_table={broken_json}",
                             "--out={out}/n.tflite"], 2, ["broken.json"]),
    ("export-table-of-another-precision", [
        "export", "--model={model}", "--arch={arch}", "--mode=float32", "--nolatency",
        "--noverify", "--latency_table={table}", "--out={out}/n.tflite"], 2,
     ["precision 'int8', not 'float32'"]),
    ("export-out-under-a-file", ["export", "--model={model}", "--mode=float32", "--noverify",
                                 "--out={blocker}/n.tflite"], 1, ["blocker"]),
    # latency
    ("latency-no-action", ["latency"], 2, ["build"]),
    ("latency-unknown-action", ["latency", "bogus"], 2, ["bogus"]),
    ("latency-build-missing-space", ["latency", "build", "--space={out}/none.json",
                                     "--out={out}/t.json"], 2, ["none.json"]),
    ("latency-build-empty-binary", ["latency", "build", "--space={space}",
                                    "--device=linux:{empty_program}", "--out={out}/t.json"], 2,
     ["is empty (0 bytes)"]),
    ("latency-build-not-a-program", ["latency", "build", "--space={space}",
                                     "--device=linux:{text_program}", "--out={out}/t.json"], 2,
     ["is not a program (no ELF header)"]),
    ("latency-build-unknown-device", ["latency", "build", "--space={space}", "--device=bogus",
                                      "--out={out}/t.json"], 2, ["bogus"]),
    ("latency-build-unknown-precision", ["latency", "build", "--space={space}",
                                         "--precision=int4", "--out={out}/t.json"], 2,
     ["--precision", "int4"]),
    ("latency-build-zero-threads", ["latency", "build", "--space={space}", "--threads=0",
                                    "--out={out}/t.json"], 2, ["--threads=0: expected >= 1"]),
    ("latency-build-zero-runs", ["latency", "build", "--space={space}", "--num_runs=0",
                                 "--out={out}/t.json"], 2, ["--num_runs=0: expected >= 1"]),
    ("latency-predict-missing-table", ["latency", "predict", "--table={out}/none.json",
                                       "--arch={arch}"], 2, ["none.json"]),
    ("latency-predict-broken-table", ["latency", "predict", "--table={broken_json}",
                                      "--arch={arch}"], 2, ["broken.json"]),
    ("latency-predict-binary-table", ["latency", "predict", "--table={binary}", "--arch={arch}"],
     2, ["binary"]),
    ("latency-predict-nothing-to-predict", ["latency", "predict", "--table={table}"], 2,
     ["--arch", "--keras_model"]),
    ("latency-predict-unknown-op", ["latency", "predict", "--table={table}",
                                    "--arch={unknown_op}"], 2, ["k9_e9"]),
    ("latency-predict-fake-keras-file", ["latency", "predict", "--table={table}",
                                         "--keras_model={fake_keras}"], 2, ["fake.keras"]),
    ("latency-predict-missing-tflite", ["latency", "predict", "--table={table}",
                                        "--tflite={out}/none.tflite"], 2, ["none.tflite"]),
    ("latency-predict-tflite-not-a-model", ["latency", "predict", "--table={table}",
                                            "--tflite={broken_json}"], 2, ["TFLite"]),
    ("latency-predict-two-nets", ["latency", "predict", "--table={table}", "--arch={arch}",
                                  "--tflite={out}/n.tflite"], 2, ["exactly one"]),
    ("latency-validate-unknown-net", ["latency", "validate", "--table={table}",
                                      "--nets=resnet50@224"], 2,
     ["resnet50@224", "FAMILY one of"]),
    ("latency-import-broken-yaml", ["latency", "import", "--yaml={broken_yaml}",
                                    "--out={out}/t.json"], 2, ["broken.yaml"]),
    ("latency-import-missing-yaml", ["latency", "import", "--yaml={out}/none.yaml",
                                     "--out={out}/t.json"], 2, ["none.yaml"]),
    ("latency-show-list-json", ["latency", "show", "--table={list_json}"], 2, ["list.json"]),
    ("latency-export-under-a-file", ["latency", "export", "--table={table}",
                                     "--yaml={blocker}/t.yaml"], 1, ["blocker"]),
    ("latency-validate-negative-archs", ["latency", "validate", "--table={table}",
                                         "--num_archs=-1"], 2, ["--num_archs=-1: expected >= 0"]),
    ("latency-validate-negative-state-passes", ["latency", "validate", "--table={table}",
                                                "--state_passes=-1"], 2,
     ["--state_passes=-1: expected >= 0"]),
    # show
    ("show-broken-arch", ["show", "--arch={broken_json}", "--out={out}/a.png"], 2,
     ["broken.json"]),
    ("show-missing-history", ["show", "--history={out}/none.jsonl", "--out={out}/h.png"], 2,
     ["none.jsonl"]),
    # demo
    ("demo-fraction-above-1", ["demo", "--target_fraction=2", "--workdir={out}/w"], 2,
     ["--target_fraction=2.0: expected in [0, 1]"]),
    ("demo-two-targets", ["demo", "--target_ms=1", "--target_fraction=0.5",
                          "--workdir={out}/w"], 2, ["not both"]),
    ("demo-zero-epochs", ["demo", "--epochs=0", "--workdir={out}/w"], 2,
     ["epochs=0: expected >= 1"]),
    ("demo-unknown-runner", ["demo", "--runner=bogus", "--workdir={out}/w"], 2, ["bogus"]),
    ("demo-workdir-is-a-file", ["demo", "--workdir={blocker}"], 1, ["blocker"]),
    ("demo-missing-space", ["demo", "--space={out}/none.json", "--workdir={out}/w"], 2,
     ["none.json"]),
    ("demo-unknown-precision", ["demo", "--precision=int4", "--workdir={out}/w"], 2,
     ["--precision", "int4"]),
    ("demo-no-holdout", ["demo", "--holdout_examples=0", "--workdir={out}/w"], 2,
     ["--holdout_examples=0: expected >= 1"]),
]


# Cases run in a fresh interpreter (`run_pxnas`): dispatch, a flag, an OS
# fault, a file's contents.
FRESH = {"unknown-subcommand", "search-nan-arch-lr", "build-out-under-a-file",
         "latency-predict-broken-table"}


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """Every file a case reads, by name."""
    from pxnas_tf.latency import LatencyTable, TableMetadata, space_keys
    from pxnas_tf.models import build_model

    root = tmp_path_factory.mktemp("bad_input")
    arch = tiny16_arch(classes=10)
    paths = {"folder": root / "folder", "blocker": root / "blocker"}
    paths["folder"].mkdir()
    paths["blocker"].write_text("a file where a folder should be\n")

    def write(name, filename, content):
        path = root / filename
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths[name] = path

    write("binary", "binary", bytes(range(256)) * 4)
    write("empty", "empty.json", b"")
    write("broken_json", "broken.json", '{"name": "net", "ops": [')
    write("list_json", "list.json", "[1, 2, 3]\n")
    write("broken_yaml", "broken.yaml", "key: [unclosed\n  - : :\n")
    write("fake_keras", "fake.keras", "this is not a Keras zip archive\n")
    write("empty_program", "empty_program", b"")
    write("text_program", "text_program", "benchmark_model\n")
    for name in ("empty_program", "text_program"):
        paths[name].chmod(0o755)
    arch_doc = arch.to_dict(inline_space=True)
    write("arch", "arch.json", json.dumps(arch_doc))
    write("unknown_op", "unknown_op.json",
          json.dumps({**arch_doc, "ops": ["k9_e9", *arch_doc["ops"][1:]]}))
    write("short_arch", "short.json", json.dumps({**arch_doc, "ops": arch_doc["ops"][:1]}))
    space = tiny16_space_dict(classes=10)
    write("space", "space.json", json.dumps(space))
    write("bad_space", "bad_space.json",
          json.dumps({**space, "stem": {**space["stem"], "width": -8}}))
    model = root / "net.keras"
    build_model(arch).save(model)
    paths["model"] = model
    table = LatencyTable(TableMetadata(device="test phone", threads=1, precision="int8",
                                       space=arch.space.name))
    table.update({k: 0.01 for k in space_keys(arch.space)})
    paths["table"] = root / "table.json"
    table.save(str(paths["table"]))
    # Workdirs holding the other command's run record.
    for name, record in (("train_workdir", {"format": "pxnas_tf.train_run/v1", "config": {}}),
                         ("search_workdir", {"format": "pxnas_tf.search_run/v1", "config": {}})):
        folder = root / name
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(record))
        paths[name] = folder
    return {name: str(path) for name, path in paths.items()}


@pytest.mark.parametrize("case,args,code,phrases", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(files, pxnas_forked, tmp_path, case, args, code, phrases):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(out=out, **files) for a in args]
    result = (run_pxnas if case in FRESH else pxnas_forked.run)(*argv, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("pxnas: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert result.returncode == code, (result.returncode, lines[0])
    for phrase in phrases:
        assert phrase.format(out=out, **files) in lines[0], lines[0]
    # Nothing half-written: no output, no temporary file.
    leftovers = [os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out)
                 for f in fs]
    assert leftovers == []


def test_the_sweep_covers_every_subcommand():
    from pxnas_tf.cli.main import COMMANDS
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    assert {c[1][0] for c in CASES} >= set(COMMANDS)
    assert FRESH <= {c[0] for c in CASES}


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
