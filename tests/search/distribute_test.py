"""The same search under tf.distribute: MirroredStrategy on 2 logical CPU
devices equals one device on the same global batch, and a real 2-process
MultiWorkerMirroredStrategy run on 127.0.0.1 completes a short search.

Logical devices must be configured before TensorFlow starts, so these run
in fresh subprocesses.

Batch norm normalises each replica's share of the batch with that share's
statistics (as data-parallel training does; synchronised BN cannot run
inside the mixed ops' `tf.switch_case` branches under MirroredStrategy, whose
cross-replica sums there are unsupported). To compare with one device on
the same global batch exactly, every global batch of the Mirrored test is
[A; A]: each replica sees A, so per-replica and global statistics agree,
while losses, gradients and their all-reduce still go through the
distributed path (global-batch averaging, summed gradients, the same
sampled path on both replicas).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tiny import TINY_SPACE, search_args

HERE = os.path.dirname(os.path.abspath(__file__))

MIRRORED = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from tiny import arrays, tiny_space
from pxnas_tf.search import LatencyModel, Search, SearchData, make_config

def doubled(n, seed):
    x, y = arrays(n, seed=seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)
    ds = ds.map(lambda a, b: (tf.concat([a, a], 0), tf.concat([b, b], 0)))  # [A; A]
    return ds.repeat()

space = tiny_space()
latency = LatencyModel.from_macs(space)
out = {}
for mode in sys.argv[3].split(","):
    grad_mode, _, weights = mode.partition(":")  # e.g. "full_v2:shared"
    for name, strategy in (("one", tf.distribute.get_strategy()),
                           ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        data = SearchData(train=doubled(32, 0), arch=doubled(16, 1), arch_eval=doubled(16, 1).take(2),
                          steps_per_epoch=4, batch_size=8, name="toy", input_shape=(8, 8, 1),
                          num_classes=4)
        config = make_config("toy", grad_mode=grad_mode, candidate_weights=weights or "independent",
                             batch_size=8, warmup_epochs=1, epochs=1,
                             arch_delay_epochs=0, arch_every=1, arch_lr=0.05, loss="add#linear",
                             target_latency=sum(latency.bounds()) / 2, reinforce_samples=3, seed=1)
        search = Search(space, data, config, os.path.join(sys.argv[2], mode, name), latency,
                        strategy, progress=False)
        result = search.run()
        out.setdefault(mode, {})[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "probabilities": result.probabilities, "arch_steps": result.arch_steps,
            "weights": [v.numpy().tolist() for v in search.state.supernet.weight_variables[:6]],
            "all_weights_sum": float(sum(abs(v.numpy()).sum() for v in search.state.supernet.weights)),
            "holdout_accuracy": result.holdout_accuracy}
print("RESULT " + json.dumps(out))
"""


def _run(script, *args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_mirrored_two_devices_equal_one_device(tmp_path):
    result = _run(MIRRORED, HERE, str(tmp_path), "full_v2,two,reinforce")
    for mode, runs in result.items():
        one, two = runs["one"], runs["mirrored"]
        assert one["replicas"] == 1 and two["replicas"] == 2
        assert one["arch_steps"] == two["arch_steps"] == 4
        np.testing.assert_allclose(two["probabilities"][0], one["probabilities"][0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(two["probabilities"][1], one["probabilities"][1], rtol=1e-4, atol=1e-6)
        for a, b in zip(two["weights"], one["weights"]):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)
        assert two["all_weights_sum"] == pytest.approx(one["all_weights_sum"], rel=1e-5)
        assert two["holdout_accuracy"] == pytest.approx(one["holdout_accuracy"])
        # The logits did move (the comparison is not between two untouched states).
        assert np.ptp(one["probabilities"][0]) > 1e-3, mode


SHARED_ON_TWO_REPLICAS = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from tiny import tiny_data, tiny_space
from pxnas_tf.search import Search, SearchError, make_config

config = make_config("toy", batch_size=8, loss="ce", candidate_weights="shared")
try:
    Search(tiny_space(), tiny_data(), config, sys.argv[2],
           strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), progress=False)
except SearchError as e:
    print("RESULT " + __import__("json").dumps(str(e)))
"""


def test_shared_candidate_weights_on_two_replicas_is_a_clear_error(tmp_path):
    message = _run(SHARED_ON_TWO_REPLICAS, HERE, str(tmp_path / "run"))
    assert "runs on one replica for now" in message and "--strategy=default" in message


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_search_completes(tmp_path):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(TINY_SPACE))
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                       TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            procs.append(subprocess.Popen(
                [sys.executable, *search_args(space_file, tmp_path / "run", "--strategy=multi_worker")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outs = [p.communicate(timeout=420) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-4000:]
    assert "2 replica(s)" in outs[0][0] and "Search finished" in outs[0][0]
    assert "Search finished" not in outs[1][0]  # only the chief reports and writes
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["weight_steps"] == 3 * (128 // 16) and summary["arch_steps"] == 2 * 4
    assert not [f for f in os.listdir(tmp_path / "run") if f.startswith(".tmp-")]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
