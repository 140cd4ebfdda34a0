"""The same search under tf.distribute: MirroredStrategy on 2 logical CPU
devices and a real 2-process MultiWorkerMirroredStrategy run on 127.0.0.1
equal one device, with independent and with shared candidate weights.

Logical devices and the multi-worker strategy must be configured before
TensorFlow starts, so these run in fresh subprocesses.

Batch norm normalises each replica's share of the batch with that share's
statistics (as data-parallel training does; synchronised BN cannot run
inside the mixed ops' `tf.switch_case` branches under MirroredStrategy, whose
cross-replica sums there are unsupported). So every global batch of the
distributed runs is [A; A] (each replica sees A, by Mirrored's split and by
the multi-worker DATA sharding alike) and the reference is one device on A
alone: the same mathematics (each replica's loss is its share of the global
mean, the summed gradients are A's), while losses, gradients and their
all-reduce still go through the distributed path (global-batch averaging,
summed gradients, the same sampled path on every replica). One device on
[A; A] itself is not a usable reference: in a deep space its sums over 8
examples instead of 4 already move the first weight step of the early
layers by ~1e-3 (measured on `proxyless_small` at 28 px), and the sampled
paths amplify that, whereas two replicas equal one device on A to the bit.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from pxnas_tf.testing import pxnas_command, quiet_env, search_args

HERE = os.path.dirname(os.path.abspath(__file__))

# argv: tests dir, workdir, comma-separated modes ("full_v2", "two:shared", ...),
# role: "mirrored" (2 logical CPU devices), "worker" (multi-worker, TF_CONFIG
# set) or "one" (one device on A alone). Prints RESULT {mode: summary}.
SEARCH = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
here, workdir, modes, role = sys.argv[1:5]
from pxnas_tf.distribute import make_strategy
from pxnas_tf.search import LatencyModel, Search, SearchData, make_config
if role == "worker":
    strategy = make_strategy("multi_worker")
elif role == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = make_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    # One strategy serves every search of this process (see distribute.py).
    assert make_strategy("mirrored", ["/cpu:0", "/cpu:1"]) is strategy
else:
    strategy = tf.distribute.get_strategy()
tf.config.experimental.enable_op_determinism()
from pxnas_tf.testing import arrays, tiny_space

def batches(n, seed):
    x, y = arrays(n, seed=seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)
    if role != "one":
        ds = ds.map(lambda a, b: (tf.concat([a, a], 0), tf.concat([b, b], 0)))  # [A; A]
    return ds.repeat()

batch = 4 if role == "one" else 8
space = tiny_space()
latency = LatencyModel.from_macs(space)
out = {}
for mode in modes.split(","):
    grad_mode, _, weights = mode.partition(":")
    data = SearchData(train=batches(32, 0), arch=batches(16, 1), arch_eval=batches(16, 1).take(2),
                      steps_per_epoch=4, batch_size=batch, name="toy", input_shape=(8, 8, 1),
                      num_classes=4)
    config = make_config("toy", grad_mode=grad_mode, candidate_weights=weights or "independent",
                         batch_size=batch, warmup_epochs=1, epochs=1,
                         arch_delay_epochs=0, arch_every=1, arch_lr=0.05, loss="add#linear",
                         target_latency=sum(latency.bounds()) / 2, reinforce_samples=3, seed=1)
    search = Search(space, data, config, os.path.join(workdir, mode), latency, strategy,
                    progress=False)
    result = search.run()
    out[mode] = {
        "replicas": strategy.num_replicas_in_sync,
        "probabilities": result.probabilities, "arch_steps": result.arch_steps,
        "weights": [v.numpy().tolist() for v in search.state.supernet.weight_variables],
        "holdout_accuracy": result.holdout_accuracy}
print("RESULT " + json.dumps(out))
"""

# The mirrored test runs the modes the multi-worker test below leaves out
# (two, reinforce:shared) and full_v2: the two strategies cover every mode
# together, each run costing a supernet trace per mode (about 20 s).
MODES = "full_v2,two,reinforce:shared"


def _run(script, *args, timeout=600):
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=timeout, env=quiet_env())
    assert out.returncode == 0, out.stderr[-4000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _assert_equal_runs(one: dict, other: dict, replicas: int) -> None:
    for mode, ref in one.items():
        run = other[mode]
        assert ref["replicas"] == 1 and run["replicas"] == replicas
        assert ref["arch_steps"] == run["arch_steps"] == 4
        for p, q in zip(run["probabilities"], ref["probabilities"]):
            np.testing.assert_allclose(p, q, rtol=0, atol=1e-6, err_msg=mode)
        assert len(run["weights"]) == len(ref["weights"])
        for a, b in zip(run["weights"], ref["weights"]):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=0, atol=1e-6, err_msg=mode)
        assert run["holdout_accuracy"] == pytest.approx(ref["holdout_accuracy"])
        # The logits did move (the comparison is not between two untouched states).
        assert np.ptp(ref["probabilities"][0]) > 1e-3, mode


@pytest.mark.slow
def test_mirrored_two_devices_equal_one_device(tmp_path):
    one = _run(SEARCH, HERE, str(tmp_path / "one"), MODES, "one")
    mirrored = _run(SEARCH, HERE, str(tmp_path / "mirrored"), MODES, "mirrored")
    _assert_equal_runs(one, mirrored, replicas=2)


SECOND_STRATEGY = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pxnas_tf.testing import tiny_data, tiny_space
from pxnas_tf.search import Search, SearchError, make_config

config = make_config("toy", batch_size=8, loss="ce", warmup_epochs=1, epochs=1)
for i, candidates in enumerate([("k3_e3",), ("k3_e3", "k5_e6")]):  # two model sizes
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # a new one each time
    search = Search(tiny_space(candidates), tiny_data(), config,
                    os.path.join(sys.argv[2], str(i)), strategy=strategy, progress=False)
    try:
        search.run()
    except SearchError as e:
        print("RESULT " + __import__("json").dumps([i, str(e)]))
        break
"""


@pytest.mark.slow
def test_a_second_strategy_in_one_process_is_a_clear_error(tmp_path):
    index, message = _run(SECOND_STRATEGY, HERE, str(tmp_path))
    assert index == 1  # the first search ran, the second one's all-reduce collided
    assert "more than one MirroredStrategy" in message and "one strategy per" in message


def test_only_the_collective_key_collision_is_explained():
    from pxnas_tf.distribute import explain_collective_error
    collision = ValueError("Collective ops is aborted by: Shape mismatch in the collective "
                           "instance 100. Op at device ... expected shape [12916]")
    assert "one strategy per process" in str(explain_collective_error(collision))
    assert explain_collective_error(ValueError("Incompatible shapes: [4] vs. [8]")) is None


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _two_workers(command: list, timeout: int, alongside=lambda: None):
    """Runs `command` as workers 0 and 1 of a 2-worker cluster on
    127.0.0.1 and `alongside()` meanwhile; returns ([(stdout, stderr)] of the
    workers, what `alongside` returned), both workers having exited 0."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            env = quiet_env(TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}))
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, env=env))
        extra = alongside()
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-4000:]
    return outs, extra


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_search_completes(tmp_path, space_file):
    outs, _ = _two_workers(pxnas_command(*search_args(space_file, tmp_path / "run",
                                                      "--strategy=multi_worker",
                                                      "--candidate_weights=shared")), timeout=420)
    assert "2 replica(s)" in outs[0][0] and "Search finished" in outs[0][0]
    assert "Search finished" not in outs[1][0]  # only the chief reports and writes
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["weight_steps"] == 3 * (128 // 16) and summary["arch_steps"] == 2 * 4
    assert not [f for f in os.listdir(tmp_path / "run") if f.startswith(".tmp-")]


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_equals_one_device(tmp_path):
    modes = "full_v2,reinforce,full_v2:shared,two:shared"
    outs, one = _two_workers(
        [sys.executable, "-c", SEARCH, HERE, str(tmp_path / "workers"), modes, "worker"],
        timeout=600,
        alongside=lambda: _run(SEARCH, HERE, str(tmp_path / "one"), modes, "one"))
    for stdout, _ in outs:
        line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
        _assert_equal_runs(one, json.loads(line[len("RESULT "):]), replicas=2)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
