"""bench/latency_repeatability.py: the ceiling arithmetic, and a short real
run (two rounds of two nets timed in LiteRT) with its report."""

import json
import subprocess
import sys

import pytest

from pxnas_tf.testing import REPO, load_bench, quiet_env

bench = load_bench("latency_repeatability")


def test_best_prediction_covers_the_most_values_within_10pct():
    c, n = bench.best_prediction([1.0, 1.05, 1.15, 1.5])
    assert n == 3  # 1.0, 1.05 and 1.15 share [1.035, 1.1]; 1.5 lies apart
    assert all(abs(c / v - 1) <= 0.10 + 1e-9 for v in (1.0, 1.05, 1.15))
    assert bench.best_prediction([1.0, 1.3])[1] == 1  # 1.3 / 1.0 > 1.1 / 0.9
    assert bench.best_prediction([1.0, 1.22])[1] == 2  # 0.9 * 1.22 < 1.1 * 1.0
    assert bench.best_prediction([]) == (0.0, 0)


def test_ceiling_counts_pairs_and_rounds():
    out = bench.ceiling({"steady": [1.0, 1.02, 0.99], "jumpy": [1.0, 1.0, 1.6]})
    assert out["pairs"] == pytest.approx(5 / 6)
    assert out["per_round"] == pytest.approx([1.0, 1.0, 0.5])
    assert out["best"]["jumpy"]["rounds_within"] == 2


@pytest.mark.timing  # times two nets in LiteRT
def test_a_short_run_writes_rounds_and_keeps_earlier_reports(tmp_path):
    out = tmp_path / "report.md"
    out.write_text("# old\n\n" + bench.MARKER + "\n\n## Run of an earlier day\n")
    args = [sys.executable, f"{REPO}/bench/latency_repeatability.py", "--precisions=int8",
            "--nets=cnn@32", "--nozoo", "--num_archs=1", "--rounds=2", "--gap_s=0",
            "--passes=1", f"--workdir={tmp_path / 'w'}", f"--out={out}"]
    proc = subprocess.run(args, capture_output=True, text=True, env=quiet_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rounds = json.loads((tmp_path / "w" / "int8.rounds.json").read_text())["rounds"]
    assert len(rounds) == 2 and set(rounds[0]["passes"]) == {"cnn@32", "random_000"}
    assert all(v[0] > 0 for r in rounds for v in r["passes"].values())
    text = out.read_text()
    assert text.index("### int8") < text.index("## Run of an earlier day")
    assert "| cnn@32 | cnn |" in text and "| random_000 | space |" in text
