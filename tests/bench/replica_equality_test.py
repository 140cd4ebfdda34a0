"""bench/replica_equality.py end to end on a 2-block space at 8x8: the
three runs per kind in their own processes, the report, the exit status."""

import json
import os
import subprocess
import sys

import pytest

from pxnas_tf.testing import REPO, load_bench, quiet_env, tiny_space_dict

SCRIPT = os.path.join(REPO, "bench", "replica_equality.py")


def _bench(tmp_path, *extra):
    space = tmp_path / "tiny10.json"
    space.write_text(json.dumps(tiny_space_dict(classes=10, name="tiny10")))
    out = tmp_path / "replicas.md"
    proc = subprocess.run(
        [sys.executable, SCRIPT, f"--space={space}", "--image_size=8", "--kinds=shared",
         f"--out={out}", f"--workdir={tmp_path / 'work'}", *extra],
        capture_output=True, text=True, timeout=900, env=quiet_env())
    return proc, (out.read_text() if out.exists() else "")


@pytest.mark.slow
def test_two_replicas_equal_one_device_and_the_report_says_so(tmp_path):
    proc, report = _bench(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 replica(s) on /cpu:0, /cpu:1" in proc.stdout
    rows = [l.split(" | ") for l in report.splitlines() if l.startswith("| shared |")]
    by_run = {r[1]: (float(r[2]), float(r[3].rstrip(" |"))) for r in rows}
    assert set(by_run) == {"one_AA", "replicas"}
    assert max(by_run["replicas"]) <= 1e-5
    assert "equal one device on A within 1e-05" in report and "Command: `" in report


def test_differences_are_the_largest_over_probabilities_and_every_weight(tmp_path):
    import numpy as np

    differences = load_bench("replica_equality").differences

    ref = {"probabilities": np.array([0.2, 0.5, 0.3]), "w0": np.zeros((2, 2)), "w1": np.ones(3)}
    run = {"probabilities": np.array([0.2, 0.49, 0.31]), "w0": np.zeros((2, 2)),
           "w1": np.array([1.0, 1.0, 1.25])}
    np.savez(tmp_path / "ref.npz", **ref)
    np.savez(tmp_path / "run.npz", **run)
    diff = differences(str(tmp_path / "ref.npz"), str(tmp_path / "run.npz"))
    assert diff["probability"] == pytest.approx(0.01)
    assert diff["weight"] == pytest.approx(0.25)
    assert diff["moved"] == pytest.approx(0.3)
    np.savez(tmp_path / "other.npz", probabilities=ref["probabilities"], w0=ref["w0"])
    with pytest.raises(ValueError, match="different weights"):
        differences(str(tmp_path / "ref.npz"), str(tmp_path / "other.npz"))
