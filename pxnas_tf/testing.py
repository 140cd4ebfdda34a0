"""The test harness: tiny search spaces and archs, in-memory and on-disk
data, a keras-hub-style round trip for custom layers, the `pxnas` command
as a subprocess, busy processes for the load-gate tests, and the bench
scripts as modules. Used by tests/ (and by tests' subprocess scripts).

It sits at the top of the package's layers, beside the CLI (see
.importlinter): it may import any package and none imports it, so it can
never close an import cycle.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from pxnas_tf.data import fashion_mnist, write_idx
from pxnas_tf.search import SearchData
from pxnas_tf.search_space import Arch, load_space

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Spaces and archs ----------------------------------------------------------------

def tiny_space_dict(candidates=("k3_e3", "k5_e6"), *, size: int = 8, channels: int = 1,
                    classes: int = 4, blocks: int = 2, stages=None, zero_op: bool = True,
                    head_width: int = 16, name: str = "tiny") -> dict:
    """A space small enough to build, search, measure and convert in
    seconds, as the JSON document a user would write: a stride-1 stem 8
    wide, a first block 8 wide (k3_e1), then `stages` as (width, blocks,
    stride) tuples (by default one stage of `blocks` 8-wide stride-1 blocks,
    all residual, so the zero op is a candidate from the first) and a head
    `head_width` wide. Every test space is a variation of this one."""
    stages = stages if stages is not None else ((8, blocks, 1),)
    return {
        "name": name, "input_shape": [size, size, channels], "num_classes": classes,
        "stem": {"width": 8, "kernel": 3, "stride": 1},
        "first_block": {"width": 8, "op": "k3_e1"},
        "stages": [{"width": w, "blocks": n, "stride": s} for w, n, s in stages],
        "candidates": list(candidates), "zero_op": zero_op, "head_width": head_width,
    }


def tiny_space(candidates=("k3_e3", "k5_e6"), **changes):
    """`tiny_space_dict(candidates, **changes)` loaded as a SearchSpace."""
    return load_space(tiny_space_dict(candidates, **changes))


def tiny16_space_dict(classes: int = 4, channels: int = 1, name: str = "tiny16") -> dict:
    """The 16x16 variation: two strided stages (8 wide x 2 blocks, 16 wide x
    1), head 32, candidates k3_e3 and k5_e6. Its 3 searchable blocks have
    two widths and two resolutions, and the first of each stage has no
    residual (where shared weights and the zero op's absence matter)."""
    return tiny_space_dict(size=16, channels=channels, classes=classes,
                           stages=((8, 2, 2), (16, 1, 2)), head_width=32, name=name)


def tiny16_arch(classes: int = 4, channels: int = 1) -> Arch:
    """The arch of the 16x16 space with a skipped block: k3_e3, zero, k5_e6."""
    return Arch(load_space(tiny16_space_dict(classes, channels)), ("k3_e3", "zero", "k5_e6"),
                "tiny_arch")


# For `pxnas search` / `pxnas demo` runs on Fashion-MNIST resized to 8x8.
TINY_SPACE = tiny_space_dict(("k3_e3", "k5_e3"), classes=10, name="tiny10")


# A hand-picked arch of proxyless_imagenet (21 searchable blocks) and the
# latency-table keys of its layers, written out by hand from the grammar:
# the predictor's and `pxnas latency`'s tests check their sums against the
# published table (tests/latency/testdata/proxylessnas_mobile_trim.yaml).
HAND_OPS = [
    "k3_e3", "k5_e3", "zero", "k7_e6",     # stage 0: 112 -> 56, width 24
    "k5_e6", "zero", "zero", "k3_e3",      # stage 1: 56 -> 28, width 40
    "k7_e3", "k3_e6", "k5_e3", "zero",     # stage 2: 28 -> 14, width 80
    "k5_e3", "k3_e3", "zero", "k7_e6",     # stage 3: 14, width 96
    "k7_e6", "k5_e6", "k3_e3", "zero",     # stage 4: 14 -> 7, width 192
    "k7_e6",                               # stage 5: 7, width 320
]
HAND_KEYS = [
    "Conv-input:224x224x3-output:112x112x32",
    "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0",
    "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0",
    "expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:5-stride:1-idskip:1",
    "expanded_conv-input:56x56x24-output:56x56x24-expand:6-kernel:7-stride:1-idskip:1",
    "expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0",
    "expanded_conv-input:28x28x40-output:28x28x40-expand:3-kernel:3-stride:1-idskip:1",
    "expanded_conv-input:28x28x40-output:14x14x80-expand:3-kernel:7-stride:2-idskip:0",
    "expanded_conv-input:14x14x80-output:14x14x80-expand:6-kernel:3-stride:1-idskip:1",
    "expanded_conv-input:14x14x80-output:14x14x80-expand:3-kernel:5-stride:1-idskip:1",
    "expanded_conv-input:14x14x80-output:14x14x96-expand:3-kernel:5-stride:1-idskip:0",
    "expanded_conv-input:14x14x96-output:14x14x96-expand:3-kernel:3-stride:1-idskip:1",
    "expanded_conv-input:14x14x96-output:14x14x96-expand:6-kernel:7-stride:1-idskip:1",
    "expanded_conv-input:14x14x96-output:7x7x192-expand:6-kernel:7-stride:2-idskip:0",
    "expanded_conv-input:7x7x192-output:7x7x192-expand:6-kernel:5-stride:1-idskip:1",
    "expanded_conv-input:7x7x192-output:7x7x192-expand:3-kernel:3-stride:1-idskip:1",
    "expanded_conv-input:7x7x192-output:7x7x320-expand:6-kernel:7-stride:1-idskip:0",
    "Conv_1-input:7x7x320-output:7x7x1280",
    "Logits-input:7x7x1280-output:1000",
]


# Data -----------------------------------------------------------------------------

def arrays(n: int, size: int = 8, classes: int = 4, seed: int = 0):
    """Learnable toy images: class c has a bright square at corner c."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype("int32")
    images = rng.normal(0, 0.3, (n, size, size, 1)).astype("float32")
    h = size // 2
    for i, c in enumerate(labels):
        r, col = divmod(int(c) % 4, 2)
        images[i, r * h:(r + 1) * h, col * h:(col + 1) * h, 0] += 1.5
    return images, labels


def tiny_data(n_train: int = 64, n_arch: int = 32, batch: int = 8, size: int = 8,
              classes: int = 4, seed: int = 0, steps_per_epoch: int | None = None) -> SearchData:
    """SearchData over in-memory arrays, reshuffled every epoch in an order
    that is a stateless function of (seed, epoch): the same whatever
    TensorFlow's global seed was when the data was made (a `shuffle` seed is
    combined with it, so two calls around a `set_random_seed` would differ)."""
    def ds(n, s):
        x, y = arrays(n, size, classes, s)
        x, y = tf.constant(x), tf.constant(y)
        orders = tf.data.Dataset.counter().map(
            lambda epoch: tf.random.experimental.stateless_shuffle(
                tf.range(n), seed=tf.stack([tf.cast(s, tf.int64), epoch])))
        return (orders.unbatch().map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
                .batch(batch, drop_remainder=True))
    x, y = arrays(n_arch, size, classes, seed + 1)
    arch_eval = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return SearchData(train=ds(n_train, seed), arch=ds(n_arch, seed + 1), arch_eval=arch_eval,
                      steps_per_epoch=steps_per_epoch or n_train // batch, batch_size=batch,
                      name="toy", input_shape=(size, size, 1), num_classes=classes,
                      sizes={"train": n_train, "arch": n_arch})


def write_fashion_mnist(folder, n_train: int = 200, n_test: int = 50, gz: bool = True,
                        images=None, **override) -> str:
    """A small dataset as Fashion-MNIST's four IDX files in `folder` (what
    `data_dir` points at): 28x28 uint8 images, image i labelled i % 10.

    Unless `images` (N >= n_train, 28, 28) is given, image i carries its own
    index in pixels (0, 0) and (0, 1) on grey, so that a test can follow
    every example through a pipeline (`example_ids` reads it back).
    `override` replaces whole arrays by their key in `fashion_mnist.FILES`
    (train_images, train_labels, ...), to write inconsistent files."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        idx = np.arange(n)
        if images is None:
            pixels = np.full((n, 28, 28), 128, np.uint8)
            pixels[:, 0, 0], pixels[:, 0, 1] = idx % 256, idx // 256
        else:
            pixels = np.asarray(images, np.uint8)[:n]
        written[f"{split}_images"], written[f"{split}_labels"] = pixels, (idx % 10).astype(np.uint8)
    written.update(override)
    for key, stem in fashion_mnist.FILES.items():
        write_idx(os.path.join(folder, stem + (".gz" if gz else "")), written[key])
    return str(folder)


def example_ids(images, norm) -> np.ndarray:
    """The indices `write_fashion_mnist` wrote into (N, H, W, C) images the
    pipeline normalised with `norm` but did not augment or resize."""
    pixels = np.rint((np.asarray(images)[..., 0] * norm.std[0] + norm.mean[0]) * 255)
    pixels = pixels.astype(np.int64)
    return pixels[:, 0, 0] + 256 * pixels[:, 0, 1]


# The CLI ---------------------------------------------------------------------------

def pxnas_command(*args) -> list[str]:
    """`pxnas ARGS...` as an argv for this interpreter (no console script
    needed: it runs from a source checkout too)."""
    return [sys.executable, "-m", "pxnas_tf.cli.main", *map(str, args)]


def quiet_env(**extra) -> dict:
    """This environment with TensorFlow's C++ logging off (its start-up
    lines would bury a subprocess's own stderr in failure messages)."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def run_pxnas(*args, timeout: float = 600, cwd=None) -> subprocess.CompletedProcess:
    """`pxnas ARGS...` run to its end as a real process; stdout and stderr
    captured as text."""
    return subprocess.run(pxnas_command(*args), capture_output=True, text=True,
                          env=quiet_env(), cwd=cwd, timeout=timeout)


class ForkServer:
    """`pxnas ARGS...` as real processes forked from one server process that
    has already imported TensorFlow, Keras and pxnas_tf: each command runs
    the console script's `run` in a process of its own (its own exit code,
    stdout, stderr, signal handlers and flags) without the seconds of
    imports every fresh interpreter spends. The server
    (`pxnas_tf.cli.fork_server`) never runs a TensorFlow op, so each child
    starts TensorFlow's runtime itself.

    For the many short commands of the bad-input sweeps; a few cases there
    still go through `run_pxnas`, so the entry point itself stays tested.
    """

    def __init__(self):
        self._log = tempfile.TemporaryFile()  # the server's own stderr (TensorFlow's start-up)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pxnas_tf.cli.fork_server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=quiet_env())
        self._buffer = b""

    def _reply(self, timeout: float | None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("pxnas (forked)", timeout)
            chunk = os.read(fd, 65536)
            if not chunk:
                self._log.seek(0)
                log = self._log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"the fork server ended (exit {self._proc.wait()}):\n{log}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, *args, timeout: float = 600, cwd=None) -> subprocess.CompletedProcess:
        """Like `run_pxnas`: runs to its end, stdout and stderr as text."""
        with tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
            request = {"args": [str(a) for a in args], "cwd": None if cwd is None else str(cwd),
                       "stdout": out, "stderr": err}
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
            pid = self._reply(timeout)["pid"]  # the first waits for the server's imports
            try:
                code = self._reply(timeout)["code"]
            except subprocess.TimeoutExpired:
                os.kill(pid, 9)
                self._reply(60.0)
                raise
            with open(out, encoding="utf-8", errors="replace") as f_out, \
                    open(err, encoding="utf-8", errors="replace") as f_err:
                return subprocess.CompletedProcess(["pxnas", *request["args"]], code,
                                                   f_out.read(), f_err.read())

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        self._log.close()


def search_args(space_file, workdir, *extra) -> list[str]:
    """`pxnas search` arguments for a 2-epoch search of `TINY_SPACE` on
    128 Fashion-MNIST images at 8x8 (a few seconds of search)."""
    return ["search", f"--space={space_file}", "--dataset=fashion_mnist", "--image_size=8",
            "--search_examples=128", "--holdout_examples=64", "--search_batch_size=16",
            f"--workdir={workdir}", "--search_warmup_epochs=1", "--search_epochs=2",
            "--arch_delay_epochs=0", "--arch_every=2",
            "--loss=add#linear", "--target_latency=0.06", "--arch_lr=0.05", "--noprogress",
            *extra]


# Machine load ----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc.

    Raises:
        ProcessLookupError: the process has ended (a zombie, or gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        raise ProcessLookupError(f"process {pid} has ended") from None
    if fields[0] in ("Z", "X"):
        raise ProcessLookupError(f"process {pid} has ended")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_cpu(pid: int, seconds: float, timeout: float = 60.0) -> None:
    """Returns once `pid` has used `seconds` more CPU time. Tests that need
    another process to have loaded the machine wait on this rather than on
    a wall-clock guess, which a busy machine can make too short."""
    start, deadline = cpu_seconds(pid), time.monotonic() + timeout
    while cpu_seconds(pid) - start < seconds:
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} got under {seconds} s of CPU in {timeout} s")
        time.sleep(0.01)


@contextlib.contextmanager
def busy_processes(n: int = 1):
    """`n` processes each spinning on a CPU: all of them running (each has
    used CPU time) when the block starts, killed when it ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        for p in procs:
            wait_for_cpu(p.pid, 0.1)
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


# Custom layers ---------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="pxnas_tf.testing")
class LayerProbe(keras.Model):
    """A model around one layer, calling `method` with JSON-able keyword
    arguments (`tensors` names the ones to pass as tensors), so that layers
    without a plain `call(x)` save and load inside a `.keras` file too."""

    def __init__(self, layer, method: str = "call", kwargs: dict | None = None,
                 tensors: tuple[str, ...] = (), **base):
        super().__init__(**base)
        self.layer = layer
        self.method, self.kwargs, self.tensors = method, dict(kwargs or {}), tuple(tensors)

    def call(self, x):
        kwargs = {k: tf.constant(v) if k in self.tensors else v for k, v in self.kwargs.items()}
        if self.method == "call":
            return self.layer(x, **kwargs)
        if not self.layer.built:  # a method other than __call__ does not build the layer
            self.layer.build(tuple(x.shape))
        return getattr(self.layer, self.method)(x, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"layer": keras.saving.serialize_keras_object(self.layer),
                       "method": self.method, "kwargs": self.kwargs,
                       "tensors": list(self.tensors)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)


def _distinct_weights(layer, seed: int) -> None:
    """Gives every float weight of `layer` a value no initialiser gives
    (BN statistics and scales included: positive, away from 0 and 1), so
    that a weight left out of a save, or restored into the wrong variable,
    changes the output."""
    rng = np.random.default_rng(seed)
    values = []
    for w in layer.weights:
        shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
        if not np.issubdtype(np.dtype(w.dtype), np.floating):
            values.append(keras.ops.convert_to_numpy(w))
        elif name.endswith(("variance", "gamma")):
            values.append(rng.uniform(0.5, 1.5, shape).astype(w.dtype))
        else:
            values.append(rng.normal(0.0, 0.3, shape).astype(w.dtype))
    layer.set_weights(values)


def _plain(value):
    """Tuples as lists, recursively: how a config holds sequences."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def check_layer_round_trip(cls, init_kwargs: dict, inputs, folder: str, *,
                           method: str = "call", call_kwargs: dict | None = None,
                           tensors: tuple[str, ...] = (), expected_shape=None,
                           seed: int = 0) -> np.ndarray:
    """keras-hub-style checks of a custom layer `cls(**init_kwargs)`, each
    of which can fail:

    1. `get_config` holds every constructor argument with its value;
    2. the layer builds and runs on `inputs` (`method` with `call_kwargs`;
       `tensors` names the ones passed as tensors) and gives the shape its
       `compute_output_shape` declares, and `expected_shape` if given;
    3. `from_config` gives a layer with the same config that, given the
       same weights, computes the same output;
    4. inside a model saved to `folder`/probe.keras and loaded back, the
       same layer class, config and output (every weight saved and restored
       in place: they are set to distinct random values first).

    Returns the output."""
    layer = cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config and _plain(config[key]) == _plain(value), (
            f"{cls.__name__}.get_config: {key}={config.get(key, '(missing)')!r}, "
            f"constructed with {value!r}")
    probe = LayerProbe(layer, method, call_kwargs, tensors)
    probe(inputs)  # builds the layer
    _distinct_weights(layer, seed)
    out = np.asarray(probe(inputs))
    declared = tuple(layer.compute_output_shape(tuple(inputs.shape)))
    assert tuple(out.shape) == declared, (out.shape, declared)
    if expected_shape is not None:
        assert tuple(out.shape) == tuple(expected_shape), (out.shape, expected_shape)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone_probe = LayerProbe(clone, method, call_kwargs, tensors)
    clone_probe(inputs)  # builds it
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone_probe(inputs)), out, rtol=1e-6, atol=1e-6)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "probe.keras")
    probe.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layer) is cls and loaded.layer.get_config() == config
    np.testing.assert_allclose(np.asarray(loaded(inputs)), out, rtol=1e-6, atol=1e-6)
    return out


# Bench scripts --------------------------------------------------------------------

def load_bench(name: str):
    """bench/NAME.py of this checkout as a module, loaded from its file (the
    bench scripts are not part of the installed package, and tests do not
    edit sys.path to reach them)."""
    module_name = f"bench.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = os.path.join(REPO, "bench", f"{name}.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the bench scripts come with the source checkout")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]  # no half-run module for the next caller
        raise
    return module
