"""Does the search on N replicas compute what one device computes? Three
runs of the same search side by side, for each kind of candidate weights.

    python bench/replica_equality.py [--space=proxyless_small] [--image_size=28]
        [--replicas=2] [--kinds=shared,independent] [--steps=4]

Every run starts from the same seed and takes the same sampled paths:

    one_A       one device, batch A of --batch_size images: the reference
    one_AA      one device on [A; ...; A] (N copies of A): the same
                mathematics (the loss is a mean, batch-norm statistics of
                N copies are A's), summed in another order
    replicas    MirroredStrategy over N replicas on [A; ...; A], each
                replica getting A: N GPUs when there are N, else N logical
                CPU devices

each in its own process (logical devices must be set before TensorFlow
starts), under TensorFlow op determinism, on synthetic images of the
space's input size (a class-dependent bright square on noise; the check is
numerical, the data only has to be learnable). Each search is --steps
warm-up weight steps, then --steps weight steps each followed by an arch
step. Printed and written to docs/benchmarks/replicas.md: the largest
difference from one_A in op probability and in any weight. The script
exits 1 when `replicas` differs from one_A by more than --tolerance in
either (a distributed path that computes something else), whatever one_AA
does: in a deep space, summing over N copies instead of one already moves
the first weight step of the early layers, and the sampled paths amplify
that, so one_AA shows how large pure rounding grows, not a fault.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402


def define_flags() -> None:
    """The flags (defined only when run as a script, so that importing the
    module for its functions defines none)."""
    flags.DEFINE_string("space", "proxyless_small", "Search-space preset or JSON file.")
    flags.DEFINE_integer("image_size", 28, "Input size (1 channel, 10 classes).")
    flags.DEFINE_integer("replicas", 2, "Replicas of the distributed run.")
    flags.DEFINE_list("kinds", ["shared", "independent"], "Candidate-weight kinds to check.")
    flags.DEFINE_enum("grad_mode", "full_v2", ["full_v2", "two", "reinforce"], "Gradient mode.")
    flags.DEFINE_integer("steps", 4, "Weight steps per epoch (one warm-up and one search epoch).")
    flags.DEFINE_integer("batch_size", 4, "Images in A (each replica's batch).")
    flags.DEFINE_float("tolerance", 1e-5, "Largest accepted |difference| of `replicas` from one_A.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "replicas.md"),
                        "Report file.")
    flags.DEFINE_string("workdir", "/tmp/pxnas_replica_equality", "Search workdirs and results.")
    # Internal: one run in this process.
    flags.DEFINE_string("role", None, "one_A, one_AA or replicas (internal).")
    flags.DEFINE_string("kind", None, "Candidate weights of the run (internal).")
    flags.DEFINE_string("json", None, "Result file of the run (internal).")


FLAGS = flags.FLAGS

ROLES = ("one_A", "one_AA", "replicas")


def _images(n: int, size: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype("int32")
    images = rng.normal(0, 0.3, (n, size, size, 1)).astype("float32")
    h = size // 2
    for i, c in enumerate(labels):
        r, col = divmod(int(c) % 4, 2)
        images[i, r * h:(r + 1) * h, col * h:(col + 1) * h, 0] += 1.0 + 0.25 * (int(c) // 4)
    return images, labels


def _strategy(role: str):
    import tensorflow as tf

    if role != "replicas":
        return tf.distribute.get_strategy(), "one device"
    n = FLAGS.replicas
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= n:
        devices = [f"/gpu:{i}" for i in range(n)]
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        devices = [f"/cpu:{i}" for i in range(n)]
    from pxnas_tf.distribute import make_strategy
    return make_strategy("mirrored", devices), ", ".join(devices)


def run_one(role: str, kind: str, result_path: str) -> None:
    """One search; saves its op probabilities and weights to `result_path` (npz)."""
    strategy, where = _strategy(role)
    import numpy as np
    import tensorflow as tf

    from pxnas_tf.search import LatencyModel, Search, SearchData, make_config
    from pxnas_tf.search_space import load_space

    tf.config.experimental.enable_op_determinism()
    size, steps, b = FLAGS.image_size, FLAGS.steps, FLAGS.batch_size
    copies = 1 if role == "one_A" else FLAGS.replicas
    space = load_space(FLAGS.space, input_shape=[size, size, 1], num_classes=10)
    latency = LatencyModel.from_macs(space)

    def batches(n, seed):
        x, y = _images(n, size, seed)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(b, drop_remainder=True)
        ds = ds.map(lambda a, c: (tf.concat([a] * copies, 0), tf.concat([c] * copies, 0)))
        return ds.repeat()

    data = SearchData(train=batches(b * steps, 0), arch=batches(b * steps, 1),
                      arch_eval=batches(b * 2, 2).take(2), steps_per_epoch=steps,
                      batch_size=b * copies, name="synthetic", input_shape=(size, size, 1),
                      num_classes=10)
    config = make_config("synthetic", grad_mode=FLAGS.grad_mode, candidate_weights=kind,
                         batch_size=b * copies, warmup_epochs=1, epochs=1, arch_delay_epochs=0,
                         arch_every=1, arch_lr=0.05, loss="add#linear",
                         target_latency=sum(latency.bounds()) / 2, reinforce_samples=3, seed=1)
    workdir = os.path.join(FLAGS.workdir, kind, role)
    shutil.rmtree(workdir, ignore_errors=True)  # each run from scratch, whatever ran there before
    t0 = time.monotonic()
    search = Search(space, data, config, workdir, latency, strategy, progress=False)
    result = search.run()
    weights = {f"w{i}": v.numpy() for i, v in enumerate(search.state.supernet.weight_variables)}
    np.savez(result_path, probabilities=np.concatenate(result.probabilities), **weights)
    print(f"  {kind:12s} {role:9s} {strategy.num_replicas_in_sync} replica(s) on {where}, "
          f"{time.monotonic() - t0:.0f} s", flush=True)


def differences(ref_path: str, path: str) -> dict:
    """Largest |difference| in op probability and in any weight."""
    import numpy as np

    with np.load(ref_path) as ref, np.load(path) as run:
        weights = [k for k in ref.files if k != "probabilities"]
        if sorted(weights) != sorted(k for k in run.files if k != "probabilities"):
            raise ValueError(f"{path} and {ref_path} hold different weights: not the same net")
        return {"probability": float(np.max(np.abs(run["probabilities"] - ref["probabilities"]))),
                "weight": max(float(np.max(np.abs(run[k] - ref[k]))) for k in weights),
                "moved": float(np.ptp(ref["probabilities"]))}


def _child(role: str, kind: str, result_path: str) -> None:
    argv = [sys.executable, os.path.abspath(__file__), f"--role={role}", f"--kind={kind}",
            f"--space={FLAGS.space}", f"--image_size={FLAGS.image_size}",
            f"--replicas={FLAGS.replicas}", f"--grad_mode={FLAGS.grad_mode}",
            f"--steps={FLAGS.steps}", f"--batch_size={FLAGS.batch_size}",
            f"--workdir={FLAGS.workdir}", f"--json={result_path}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    sys.stdout.write(out.stdout)
    if out.returncode:
        raise RuntimeError(f"the {kind} {role} run failed:\n{out.stderr[-3000:]}")


def report(rows: list[dict], command: str) -> str:
    from bench.common import section_head

    lines = section_head("Search on several replicas vs one device", command) + [
        f"Space `{FLAGS.space}` at {FLAGS.image_size}x{FLAGS.image_size}x1, grad mode "
        f"{FLAGS.grad_mode}, {FLAGS.steps} warm-up weight steps then {FLAGS.steps} weight + "
        f"{FLAGS.steps} arch steps, A = {FLAGS.batch_size} synthetic images, "
        f"{FLAGS.replicas} replicas, op determinism on. Largest |difference| from one device "
        "on A:",
        "",
        "| candidate weights | run | op probability | any weight |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['role']} | {r['probability']:.2e} | {r['weight']:.2e} |")
    failed = [r for r in rows if r["role"] == "replicas" and not r["ok"]]
    lines += ["", (f"**{len(failed)} distributed run(s) differ from one device by more than "
                   f"{FLAGS.tolerance:g}.**") if failed else
              (f"The distributed runs equal one device on A within {FLAGS.tolerance:g} "
               f"(op probabilities moved by up to {max(r['moved'] for r in rows):.3f} over the "
               "run, so the comparison is not between untouched states). one_AA, the same "
               "mathematics on one device summed in another order, shows how far rounding "
               "alone carries the run: it is no reference for the distributed path."), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    del argv
    if FLAGS.role:
        run_one(FLAGS.role, FLAGS.kind, FLAGS.json)
        return 0
    from pxnas_tf import fileio

    os.makedirs(FLAGS.workdir, exist_ok=True)
    rows = []
    for kind in FLAGS.kinds:
        paths = {role: os.path.join(FLAGS.workdir, f"{kind}_{role}.npz") for role in ROLES}
        for role in ROLES:
            _child(role, kind, paths[role])
        for role in ROLES[1:]:
            diff = differences(paths["one_A"], paths[role])
            ok = diff["probability"] <= FLAGS.tolerance and diff["weight"] <= FLAGS.tolerance
            rows.append({"kind": kind, "role": role, "ok": ok, **diff})
            print(f"  {kind:12s} {role:9s} vs one_A: probability {diff['probability']:.2e}, "
                  f"weight {diff['weight']:.2e}", flush=True)
    command = "python bench/replica_equality.py " + " ".join(sys.argv[1:])
    text = report(rows, command.strip())
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)
    print(f"wrote {FLAGS.out}")
    return 0 if all(r["ok"] for r in rows if r["role"] == "replicas") else 1


if __name__ == "__main__":
    define_flags()
    app.run(main)
