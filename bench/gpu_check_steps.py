"""The measurements of bench/gpu_check.py, each a plain function of its
settings (no flags): one step configuration (search or plain training, run
in a fresh process by the script), the ImageNet input pipeline on synthetic
JPEG files, and the tf runner's latency of the zoo nets.

Everything runs through the project's own code: the search's step functions
(`pxnas_tf.search.SearchSteps.weight_step` / `arch_step`, paths sampled as
the search samples them), the trainer's model and compile
(`pxnas_tf.train.model_setup.training_model`, `trainer.compile_model`, Keras
loss scaling under mixed_float16), the `image_folder` source with the
ImageNet transforms of `pxnas_tf.data.splits` (the same decode, random
resized crop and flip as imagenet2012 through tfds), and the tf runner of
`pxnas latency build --device=tf:...`.
"""

from __future__ import annotations

import os
import time

# The paper's ImageNet search (docs: /work/shared/design/proxylessnas.md §3).
IMAGENET_TRAIN = 1_281_167
ARCH_HOLDOUT = 50_000
WARMUP_EPOCHS, SEARCH_EPOCHS, ARCH_EVERY, ARCH_DELAY_EPOCHS = 40, 120, 5, 1
PAPER_GPU_HOURS = 200  # Cai et al., ICLR 2019, Table 2: search cost of ProxylessNAS
ZOO_NETS = ("proxyless_gpu", "proxyless_mobile", "mobilenet_v2")


def space_for(name: str, image_size: int, tiny: bool):
    """The search space at `image_size`; tiny: its first stage of 2 blocks,
    a 64-wide head and 10 classes (the same candidates and zero op)."""
    from pxnas_tf.search_space import load_space

    space = load_space(name, input_shape=[image_size, image_size, 3])
    if tiny:
        first = space.stages[0]
        space = space.replace(name=f"{space.name}_tiny", num_classes=10, head_width=64,
                              stages=[{"width": first.width, "blocks": 2, "stride": first.stride}])
    return space


def largest_arch(space):
    """Every block its largest-MACs candidate (zero excluded): the memory
    reference, as in bench/search_memory.py."""
    from pxnas_tf.models.profile import candidate_macs
    from pxnas_tf.search_space import Arch

    _, per_block = candidate_macs(space)
    ops = []
    for block, macs in zip(space.blocks(), per_block):
        j = max((j for j, op in enumerate(block.candidates) if op != "zero"), key=lambda j: macs[j])
        ops.append(block.candidates[j])
    return Arch(space, tuple(ops), "largest")


def memory_device() -> str:
    import tensorflow as tf
    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"


def _batch(space, batch_size: int):
    import tensorflow as tf
    images = tf.random.stateless_normal((batch_size, *space.input_shape), seed=[0, 1])
    labels = tf.random.stateless_uniform((batch_size,), [2, 3], 0, space.num_classes, tf.int32)
    return images, labels


def _timed(fn, steps: int) -> tuple[float, float]:
    """(first call s, median s of `steps` further calls); `fn` returns
    something whose fetch waits for the device."""
    import numpy as np

    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if not steps:
        return first, float("nan")
    fn()  # a second warm-up call
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def _out_of_memory(error: Exception) -> bool:
    import tensorflow as tf
    text = str(error)
    return isinstance(error, tf.errors.ResourceExhaustedError) or "RESOURCE_EXHAUSTED" in text \
        or "Out of memory" in text or "OOM" in text


def _error_line(error: Exception) -> str:
    """Type and last line (a graph error's first line is only "in user code:")."""
    name = type(error).__name__
    last = (str(error).strip().splitlines() or [""])[-1].strip()[:300]
    return last if last.startswith(name) else f"{name}: {last}"


def run_config(kind: str, mode: str | None, precision: str, xla: bool, space, batch_size: int,
               steps: int) -> dict:
    """One configuration's throughput and peak memory; "did not fit" on an
    out-of-memory error, "failed" with the first line of any other error."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    row = {"kind": kind, "mode": mode, "precision": precision, "xla": xla}
    start = time.perf_counter()
    try:
        row.update(_search(mode, precision, xla, space, batch_size, steps) if kind == "search"
                   else _plain(precision, xla, space, batch_size, steps))
        row.setdefault("status", "ok")
    except Exception as e:  # recorded, not raised: the other configurations still run
        row.update(status="did not fit" if _out_of_memory(e) else "failed", error=_error_line(e))
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def _peak(device: str, fn) -> int:
    import tensorflow as tf
    tf.config.experimental.reset_memory_stats(device)
    fn()
    return int(tf.config.experimental.get_memory_info(device)["peak"])


def _search(mode, precision, xla, space, batch_size, steps) -> dict:
    """The search's own weight and arch steps (paths drawn from p, as in
    the search epochs), on one repeated batch through a distributed iterator."""
    import tensorflow as tf

    from pxnas_tf.search import LatencyModel, SearchState, SearchSteps, make_config
    from pxnas_tf.train.model_setup import dtype_policy

    latency = LatencyModel.from_macs(space)
    config = make_config("imagenet2012", grad_mode=mode, batch_size=batch_size, loss="mul#log",
                         target_latency=sum(latency.bounds()) / 2, jit_compile=xla,
                         arch_delay_epochs=0)
    strategy = tf.distribute.get_strategy()
    with dtype_policy(precision):
        state = SearchState(space, config, strategy, steps_per_epoch=1000)
        search = SearchSteps(state, config, latency, strategy, batch_size)
    data = tf.data.Dataset.from_tensors(_batch(space, batch_size)).repeat().prefetch(2)
    it = iter(strategy.experimental_distribute_dataset(data))
    sampled = tf.constant(False)
    weight = lambda: search.weight_step(it, sampled)["loss"].numpy()  # noqa: E731
    arch = lambda: search.arch_step(it)["arch_loss"].numpy()  # noqa: E731
    device = memory_device()
    weight_first, _ = _timed(weight, 0)
    arch_first, _ = _timed(arch, 0)
    times = {}

    def measure():
        times["weight"] = _timed(weight, steps)[1]
        times["arch"] = _timed(arch, steps)[1]

    peak = _peak(device, measure)
    out = {"weight_images_per_s": batch_size / times["weight"], "peak_bytes": peak,
           "first_call_s": round(weight_first + arch_first, 1)}
    # The schedule's mix: ARCH_EVERY weight steps, then one arch step.
    mixed = (ARCH_EVERY + 1) * batch_size / (ARCH_EVERY * times["weight"] + times["arch"])
    return {**out, "arch_images_per_s": batch_size / times["arch"], "images_per_s": mixed}


def _plain(precision, xla, space, batch_size, steps) -> dict:
    """Ordinary training of the derived net of the largest arch: the
    trainer's model (dropout, L2, float32 classifier) and compile (SGD
    Nesterov, label smoothing; Keras loss scaling under mixed_float16)."""
    import keras

    from pxnas_tf.train import TrainConfig
    from pxnas_tf.train.model_setup import training_model
    from pxnas_tf.train.trainer import compile_model

    config = TrainConfig(batch_size=batch_size, epochs=1, mixed_precision=precision)
    model = training_model(largest_arch(space), config, precision)
    compile_model(model, config, steps_per_epoch=1000)
    model.jit_compile = xla
    images, labels = _batch(space, batch_size)
    onehot = keras.ops.one_hot(labels, space.num_classes)
    step = lambda: model.train_on_batch(images, onehot)  # noqa: E731 (returns numbers: synced)
    first, _ = _timed(step, 0)
    times = {}
    peak = _peak(memory_device(), lambda: times.setdefault("s", _timed(step, steps)[1]))
    return {"images_per_s": batch_size / times["s"], "peak_bytes": peak,
            "params": int(sum(v.numpy().size for v in model.trainable_variables)),
            "first_call_s": round(first, 1)}


# The input pipeline ---------------------------------------------------------------

def write_jpegs(folder: str, count: int, height: int = 350, width: int = 400,
                seed: int = 0) -> dict:
    """`count` synthetic JPEG files of ImageNet-like size in the image-folder
    layout (train/c0, train/c1, val/c0): smooth random colour fields with
    noise, so that they compress like photos rather than like white noise.
    Returns their number and mean file size."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    sizes = []
    for i in range(count + 1):
        sub = os.path.join(folder, "val", "c0") if i == count else \
            os.path.join(folder, "train", f"c{i % 2}")
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, f"img_{i:05d}.jpg")
        if not os.path.exists(path):
            coarse = rng.uniform(0, 255, (1, height // 25, width // 25, 3)).astype("float32")
            image = tf.image.resize(coarse, (height, width), "bicubic")[0]
            image += rng.normal(0, 8, (height, width, 3)).astype("float32")
            data = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality=90)
            tf.io.write_file(path, data)
        if i < count:
            sizes.append(os.path.getsize(path))
    return {"files": count, "height": height, "width": width,
            "mean_kib": round(sum(sizes) / len(sizes) / 1024, 1)}


def pipeline_rate(folder: str, image_size: int, batch_size: int, batches: int) -> dict:
    """Images/s of the training split of `pxnas_tf.data.load("image_folder")`
    (read, JPEG decode with crop, random resized crop, flip, normalise,
    batch) on this host's cores, after one warm-up batch."""
    from pxnas_tf.data import load

    splits = load("image_folder", folder, batch_size=batch_size, image_size=image_size,
                  holdout_examples=0, repeat=True)
    it = iter(splits.train)
    next(it)[0].numpy()
    start = time.perf_counter()
    for _ in range(batches):
        next(it)[0].numpy()
    seconds = time.perf_counter() - start
    return {"images_per_s": batches * batch_size / seconds, "batches": batches,
            "batch_size": batch_size, "image_size": image_size, "host_cores": os.cpu_count()}


# Latency through the tf runner ----------------------------------------------------------

def zoo_latency(device: str, image_size: int, batch: int, quick: bool) -> list[dict]:
    """Latency (ms per batch) of the zoo nets through the tf runner on
    `device` (``tf:gpu`` or ``tf:cpu``), float32, batch `batch`."""
    from pxnas_tf.latency.measure.devices import make_runner
    from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings
    from pxnas_tf.models import build_model, zoo

    settings = (MeasureSettings(warmup_runs=2, runs=3, min_rounds=2, max_rounds=3, min_quiet=1,
                                max_wait_s=5.0) if quick else
                MeasureSettings(warmup_runs=20, runs=20, min_rounds=5, max_rounds=15,
                                max_wait_s=30.0))
    runner = make_runner(device, threads=None, settings=settings, tf_batch=batch)
    models = []
    for name in ZOO_NETS:
        arch = zoo.get_arch(name, input_shape=[image_size, image_size, 3])
        models.append(BenchModel(name, "", keras=lambda b, a=arch: build_model(a, batch_size=b)))
    rows = []
    for model, m in runner.measure(models):
        rows.append({"net": model.name, "ms": m.value_ms, "batch": batch, "flags": list(m.flags),
                     "device": runner.metadata()["device"]})
    return sorted(rows, key=lambda r: ZOO_NETS.index(r["net"]))


def projected_gpu_hours(weight_images_per_s: float, arch_images_per_s: float) -> dict:
    """Hours of the paper's ImageNet search at these rates: warm-up and
    search epochs of weight steps over the training images less the arch
    holdout, one arch step per ARCH_EVERY weight steps after the first
    search epoch."""
    train = IMAGENET_TRAIN - ARCH_HOLDOUT
    weight_images = (WARMUP_EPOCHS + SEARCH_EPOCHS) * train
    arch_images = (SEARCH_EPOCHS - ARCH_DELAY_EPOCHS) * train / ARCH_EVERY
    hours = (weight_images / weight_images_per_s + arch_images / arch_images_per_s) / 3600
    return {"hours": hours, "paper_hours": PAPER_GPU_HOURS, "weight_images": weight_images,
            "arch_images": int(arch_images),
            "schedule": f"{WARMUP_EPOCHS} warm-up + {SEARCH_EPOCHS} search epochs x {train:,} "
                        f"images, 1 arch step per {ARCH_EVERY} weight steps"}
