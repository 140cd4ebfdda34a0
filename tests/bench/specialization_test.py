"""bench/specialization.py's new paths: the targets (bench/targets.py), timing
Keras models with the tf runner through bench/common.py's `measure`, and the
N x N report on made-up figures. The whole benchmark (three latency tables,
three searches, nine trainings) takes about an hour on 2 cores: no
end-to-end run here."""

import os
import subprocess
import sys

import keras
import pytest

from pxnas_tf.testing import REPO, load_bench, quiet_env

specialization = load_bench("specialization")  # first: it puts the checkout on sys.path
common = load_bench("common")
targets = load_bench("targets")

# Few, short rounds: these tests check the plumbing, not the figures.
TINY = {"warmup_runs": 2, "runs": 3, "round_s": 0.005, "min_rounds": 2, "max_rounds": 3,
        "min_quiet": 1}


# Targets --------------------------------------------------------------------------

def test_targets_parse_in_order():
    chosen = targets.parse_targets(["int8_t1", "float32_t2_builtin", "tf_b8"])
    assert [t.name for t in chosen] == ["int8_t1", "float32_t2_builtin", "tf_b8"]
    tf = chosen[2]
    assert (tf.runner, tf.batch, tf.precision, tf.threads, tf.mode) == ("tf:cpu", 8, "float32",
                                                                        1, "float32")
    assert (chosen[1].xnnpack, chosen[1].threads, chosen[0].mode) == (False, 2, "int8")
    assert [targets.letter(chosen, t) for t in chosen] == ["A", "B", "C"]
    assert [t.name for t in targets.parse_targets(["int8_t1", "float32_t2"])] == \
        ["int8_t1", "float32_t2"]


@pytest.mark.parametrize("names, words", [
    (["int8_t1", "fp16_t4"], ["'fp16_t4'", "int8_t1, float32_t2", "tf_b8"]),
    (["int8_t1", "int8_t1"], ["int8_t1 twice"]),
    (["tf_b8"], ["at least two"]),
])
def test_bad_targets_are_named_with_the_choices(names, words):
    with pytest.raises(ValueError) as e:
        targets.parse_targets(names)
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value)


def test_the_script_refuses_a_bad_target_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, os.path.join(REPO, "bench", "specialization.py"),
                          "--targets=int8_t1,bogus", f"--workdir={tmp_path}"],
                         capture_output=True, text=True, env=quiet_env(), cwd=REPO, timeout=120)
    assert run.returncode != 0
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and "'bogus'" in err[0] and "float32_t2_builtin" in err[0], run.stderr
    assert not os.listdir(tmp_path)  # refused before anything ran


def test_the_tf_table_has_its_own_name(tmp_path):
    """A finished step is found by its name (the resume path): the tf
    target's table is table_float32_t1_tf_b8, apart from the LiteRT ones."""
    record = {"path": "x.json", "runner": "tf:cpu", "batch": 8}
    common.save(str(tmp_path / "table_float32_t1_tf_b8.done.json"), record)
    assert common.table(str(tmp_path), "float32", 1, runner="tf:cpu", batch=8) == record
    assert not os.path.exists(tmp_path / "table_float32_t1_tf_b8.done.json.lock")


# Timing -----------------------------------------------------------------------------

def _tiny_model(width: int) -> keras.Model:
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x))


@pytest.mark.timing
def test_measure_times_keras_models_with_the_tf_runner(tmp_path, tiny_arch):
    files = {}
    for width in (4, 32):
        path = str(tmp_path / f"net{width}.keras")
        _tiny_model(width).save(path)
        files[f"net{width}"] = path
    arch_path = str(tmp_path / "tiny_arch.json")
    tiny_arch.save(arch_path)
    files["tiny_arch"] = arch_path  # an arch is built at the batch
    out = common.measure(str(tmp_path), "tf_test", files, threads=1, passes=1, max_wait_s=5,
                         runner="tf:cpu", batch=2, settings=TINY)
    assert set(out) == set(files)
    for r in out.values():
        assert r["median_ms"] > 0 and len(r["passes"]) == 1
        assert r["device"].startswith("tf:cpu")
    # Resumable: a second pass adds one figure per model, the kept one the lowest.
    again = common.measure(str(tmp_path), "tf_test", files, threads=1, passes=2, max_wait_s=5,
                           runner="tf:cpu", batch=2, settings=TINY)
    for r in again.values():
        assert len(r["passes"]) == 2 and r["median_ms"] == min(r["passes"])


@pytest.mark.timing
def test_measure_times_litert_files_on_the_host(tmp_path):
    from pxnas_tf.latency.build.tflite_ops import keras_to_tflite

    files = {}
    for width in (4, 32):
        path = tmp_path / f"net{width}.tflite"
        path.write_bytes(keras_to_tflite(_tiny_model(width), "float32"))
        files[f"net{width}"] = str(path)
    out = common.measure(str(tmp_path), "host_test", files, threads=1, passes=1, max_wait_s=5,
                         xnnpack=False, settings=TINY)
    assert all(r["median_ms"] > 0 and len(r["passes"]) == 1 for r in out.values())


# The report -------------------------------------------------------------------------

def _net(arch, top1_int8, top1_float):
    return [{"name": f"searched_{arch}" + targets.seed_suffix(s), "train_seed": s,
             "arch": arch, "params": 1000, "macs": 2e6,
             "exports": {"int8": {"tflite_top1": a}, "float32": {"tflite_top1": b}}}
            for s, (a, b) in enumerate(zip(top1_int8, top1_float))]


def _report(ms, accuracies=None):
    """A report on made-up figures: `ms[target][net]` measured."""
    chosen = targets.parse_targets(list(targets.DEFAULT))
    names = [t.name for t in chosen]
    accuracies = accuracies or {n: [0.80, 0.81, 0.79] for n in names}
    tables = {n: {"fastest_ms": 0.1, "slowest_ms": 2.0, "note": "70 entries"} for n in names}
    searches = {n: {"target_ms": 0.3, "seconds": 120, "predicted_ms": 0.29, "derived_by": "band",
                    "probability_gap_mean": 0.5} for n in names}
    nets = {n: _net(f"k3_e{i}", accuracies[n], accuracies[n]) for i, n in enumerate(names)}
    lat = {t: {n: {"median_ms": v, "passes": [v, v + 0.01], "flags": []}
               for n, v in ms[t].items()} for t in names}
    preds = {n: {t: 0.3 for t in names} for n in names}
    search, train = common.SearchBudget(), common.TrainBudget()
    info = {"command": "python bench/specialization.py", "wall_s": 60, "machine": "a CPU",
            "load": "0.1", "budgets": (search, train), "level": "at one level", "passes": 2,
            "figure": "specialization3.png", "label": "", "findings": True, "from_first": None}
    return specialization.report(chosen, tables, searches, nets, lat, preds, info)


MS = {"int8_t1": {"int8_t1": 0.25, "float32_t2_builtin": 0.9, "tf_b8": 0.5},
      "float32_t2_builtin": {"int8_t1": 1.1, "float32_t2_builtin": 0.8, "tf_b8": 1.0},
      "tf_b8": {"int8_t1": 2.0, "float32_t2_builtin": 2.5, "tf_b8": 2.2}}


def test_report_has_a_three_by_three_table_with_the_fastest_per_column_in_bold():
    text = _report(MS)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "k3_e" in line]
    assert len(rows) == 3
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    for column in (4, 5, 6):  # the measured columns: A, B, C
        bold = [i for i, row in enumerate(cells) if row[column].startswith("**")]
        assert len(bold) == 1
    # A's and B's own nets are the fastest there; on C the net for A is.
    assert [next(i for i, r in enumerate(cells) if r[c].startswith("**")) for c in (4, 5, 6)] \
        == [0, 1, 0]
    assert "**0.250** (0.250, 0.260)" in rows[0]
    assert "80.00 ± 1.00% (80.00, 81.00, 79.00)" in rows[0]
    assert "Why (the first run)" not in text  # the first run's notes are of two targets


def test_report_gives_a_verdict_per_target():
    text = _report(MS)
    speed = [line for line in text.splitlines() if line.startswith("- Speed on")]
    assert len(speed) == 3
    assert "**A**" in speed[0] and "the fastest: 0.250 ms, 2.00x faster" in speed[0]
    assert "**B**" in speed[1] and "1.25x faster than the next" in speed[1]
    assert "**C**" in speed[2] and "NOT the fastest" in speed[2] and "A (int8" in speed[2]
    accuracy = [line for line in text.splitlines() if line.startswith("- Accuracy on")]
    assert len(accuracy) == 3 and all("within the seed noise" in line for line in accuracy)
    assert "NOT met: its own net is the fastest on 2 of 3 targets" in text
    assert "on 3 of 3." in text


def test_an_accuracy_gap_beyond_the_seed_noise_is_reported():
    ms = {t: {n: (0.5 if n == t else 1.0) for n in MS} for t in MS}
    accuracies = {"int8_t1": [0.75, 0.76, 0.75], "float32_t2_builtin": [0.81, 0.80, 0.81],
                  "tf_b8": [0.80, 0.81, 0.80]}
    text = _report(ms, accuracies)
    line = next(x for x in text.splitlines() if x.startswith("- Accuracy on **A**"))
    assert "LESS accurate beyond the seed noise" in line
    assert "Goal** (each net the fastest on its own target at comparable accuracy): NOT met" \
        in text
    assert "fastest on 3 of 3 targets" in text and "on 2 of 3." in text


def test_one_seed_gives_no_noise_estimate():
    gap, noise = targets.accuracy_gap([0.80], [0.79])
    assert gap == pytest.approx(1.0) and noise is None
    gap, noise = targets.accuracy_gap([0.80, 0.82], [0.79, 0.79])
    assert gap == pytest.approx(2.0) and noise == pytest.approx(200 * (0.0002 / 2) ** 0.5)
