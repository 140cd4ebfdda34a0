"""The GPU check: what the search costs on one GPU at the paper's scale.

    python bench/gpu_check.py [--out=DIR] [--tiny] [--budget_s=420]

On one GPU (default sizes: `proxyless_imagenet` at 224x224, batch 256), it
measures and writes to DIR/gpu_check.json and DIR/gpu_check.md (default
docs/benchmarks; `python bench/report.py` joins the section):

- search steps (the search's own weight and arch step functions, paths
  sampled as in the search) in modes full_v2, two and full, and plain
  training of the derived net of the largest arch (the trainer's model and
  compile), each with mixed precision (mixed_float16) and XLA on and off:
  images/s and peak device memory (`get_memory_info` after
  `reset_memory_stats`), each configuration in a fresh process;
  out-of-memory is recorded as "did not fit";
- the memory ratios full_v2 / plain and full / full_v2;
- the GPU-hours of the paper's ImageNet search schedule at the measured
  rates, beside the paper's 200;
- images/s of the ImageNet input pipeline (JPEG decode + the project's
  augmentation) on this host's cores, on synthetic JPEG files written here;
- the tf runner's latency of proxyless_gpu, proxyless_mobile and
  MobileNetV2 at batch 8 (`tf:gpu`).

Configurations run in priority order; once --budget_s is spent the rest are
recorded as skipped, so that the whole check ends in about 8 minutes.
Without a GPU (or with --tiny) the same code runs at tiny sizes on the CPU
(the space's first stage at 32x32, batch 8, float32 without XLA, `tf:cpu`)
and the report says that no GPU was found.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from bench import gpu_check_steps as steps  # noqa: E402
from pxnas_tf.knobs import MIXED_OP_MODES  # noqa: E402

PRECISIONS = ("float32", "mixed_float16")
# (full size, tiny) defaults of the flags left unset
SIZES = {"image_size": (224, 32), "batch_size": (256, 8), "steps": (10, 3), "jpegs": (256, 12),
         "budget_s": (420.0, 150.0)}


def define_flags() -> None:
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks"),
                        "Folder of gpu_check.json and gpu_check.md.")
    flags.DEFINE_boolean("tiny", None, "Tiny sizes on the CPU (default: when no GPU is found).")
    flags.DEFINE_string("space", "proxyless_imagenet", "Search-space preset or JSON file.")
    flags.DEFINE_integer("image_size", None, "Input size (default 224; tiny 32).")
    flags.DEFINE_integer("batch_size", None, "Batch of every step (default 256; tiny 8).")
    flags.DEFINE_integer("steps", None, "Timed steps per configuration (default 10; tiny 3).")
    flags.DEFINE_list("modes", list(MIXED_OP_MODES), "Search modes.")
    flags.DEFINE_list("precisions", None, "float32, mixed_float16 (default both; tiny float32).")
    flags.DEFINE_list("xla", None, "XLA settings, off and/or on (default both; tiny off).")
    flags.DEFINE_integer("jpegs", None, "Synthetic JPEG files for the input pipeline "
                         "(default 256; tiny 12).")
    flags.DEFINE_float("budget_s", None, "Seconds for the step configurations; later ones are "
                       "skipped (default 420; tiny 150).")
    flags.DEFINE_string("workdir", "/tmp/pxnas_gpu_check", "Synthetic JPEG files.")
    flags.DEFINE_string("worker", None, "Internal: one configuration, as KIND:MODE:PRECISION:XLA.")


FLAGS = flags.FLAGS


def _setting(name: str, tiny: bool):
    value = getattr(FLAGS, name)
    return SIZES[name][tiny] if value is None else value


def check_flags() -> str | None:
    """A one-line problem with the flags, or None."""
    for name in ("image_size", "batch_size", "steps", "jpegs", "budget_s"):
        value = getattr(FLAGS, name)
        if value is not None and value <= 0:
            return f"--{name} must be > 0, got {value}"
    if FLAGS.image_size is not None and FLAGS.image_size < 32:
        return f"--image_size must be >= 32 (five stride-2 stages), got {FLAGS.image_size}"
    for name, valid in (("modes", MIXED_OP_MODES), ("precisions", PRECISIONS),
                        ("xla", ("off", "on"))):
        bad = [v for v in getattr(FLAGS, name) or [] if v not in valid]
        if bad or getattr(FLAGS, name) == []:
            return f"--{name}: expected a comma-separated subset of {','.join(valid)}, got " \
                   f"{','.join(getattr(FLAGS, name) or []) or 'nothing'}"
    return None


def configurations(tiny: bool) -> list[tuple]:
    """(kind, mode, precision, xla) in priority order, so that a spent
    --budget_s skips the least needed: first every mode in float32 without
    XLA (the references and the memory claim), then plain and full_v2 with
    mixed precision and XLA, then the rest."""
    precisions = FLAGS.precisions or (["float32"] if tiny else list(PRECISIONS))
    xlas = [x == "on" for x in FLAGS.xla or (["off"] if tiny else ["off", "on"])]
    modes = [None] + [m for m in ("full_v2", "full", "two") if m in FLAGS.modes]
    configs = [("plain" if m is None else "search", m, p, x) for x in xlas for p in precisions
               for m in modes]

    def priority(c):
        reference = c[2] == "float32" and not c[3]
        return (not (c[1] in (None, "full_v2") or reference), c[3], c[2] != "float32",
                modes.index(c[1]))

    return sorted(configs, key=priority)


def label(row: dict) -> str:
    name = row["mode"] if row["kind"] == "search" else "plain"
    return f"{name} {row['precision']}{' +XLA' if row['xla'] else ''}"


def _run_worker(config: tuple, tiny: bool, timeout: float) -> dict:
    kind, mode, precision, xla = config
    cmd = [sys.executable, os.path.abspath(__file__),
           f"--worker={kind}:{mode}:{precision}:{'on' if xla else 'off'}",
           f"--space={FLAGS.space}", "--tiny" if tiny else "--notiny",
           f"--image_size={_setting('image_size', tiny)}",
           f"--batch_size={_setting('batch_size', tiny)}", f"--steps={_setting('steps', tiny)}"]
    row = {"kind": kind, "mode": mode, "precision": precision, "xla": xla}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**row, "status": "skipped",
                "error": f"out of the time budget after {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {**row, "status": "failed", "error": f"worker exit {out.returncode}: {tail}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_steps(tiny: bool) -> list[dict]:
    budget = _setting("budget_s", tiny)
    start, rows = time.monotonic(), []
    for config in configurations(tiny):
        left = budget - (time.monotonic() - start)
        if left < 5:
            row = dict(zip(("kind", "mode", "precision", "xla"), config), status="skipped",
                       error=f"--budget_s={budget:g} spent")
        else:
            row = _run_worker(config, tiny, left)
        rows.append(row)
        figures = (f"{row['images_per_s']:.1f} img/s, peak {_mib(row['peak_bytes'])} MiB"
                   if row["status"] == "ok" else f"{row['status']}: {row.get('error', '')}")
        print(f"  {label(row):<28} {figures} ({row.get('seconds', 0):.0f} s)", flush=True)
    return rows


def _mib(n) -> str:
    return f"{n / 2**20:,.1f}"


def memory_ratios(rows: list[dict]) -> dict:
    """Per precision/XLA setting: peak full_v2 / plain and full / full_v2
    (None where either did not run; the reason is in `notes`)."""
    out = {}
    for setting in sorted({(r["precision"], r["xla"]) for r in rows}):
        ok = {(r["mode"] or "plain"): r for r in rows
              if (r["precision"], r["xla"]) == setting and r["status"] == "ok"}
        status = {m: "not run" for m in ("plain", "full_v2", "full")}
        status.update({(r["mode"] or "plain"): r["status"] for r in rows
                       if (r["precision"], r["xla"]) == setting})

        def ratio(a, b):
            if a in ok and b in ok:
                return ok[a]["peak_bytes"] / ok[b]["peak_bytes"]
            return None

        key = setting[0] + ("+xla" if setting[1] else "")
        out[key] = {"full_v2_over_plain": ratio("full_v2", "plain"),
                    "full_over_full_v2": ratio("full", "full_v2"),
                    "notes": {m: s for m, s in status.items() if s != "ok" and m != "two"}}
    return out


def projection(rows: list[dict]) -> dict | None:
    """GPU-hours of the paper's schedule at the fastest full_v2 setting."""
    ok = [r for r in rows
          if r["kind"] == "search" and r["mode"] == "full_v2" and r["status"] == "ok"]
    if not ok:
        return None
    best = max(ok, key=lambda r: r["images_per_s"])
    return {**steps.projected_gpu_hours(best["weight_images_per_s"], best["arch_images_per_s"]),
            "from": label(best)}


def device() -> dict:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if not gpus:
        return {"gpu": False, "name": "no GPU found, ran on CPU at tiny size"}
    details = tf.config.experimental.get_device_details(gpus[0])
    return {"gpu": True, "name": details.get("device_name") or gpus[0].name,
            "compute_capability": list(details.get("compute_capability") or [])}


def _fmt(x, spec=".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def report(result: dict, command: str) -> str:
    from bench import common

    dev, tiny = result["device"], result["tiny"]
    s = result["settings"]
    machine = common.machine()
    if dev["gpu"]:
        machine = machine.replace("CPU only", f"GPU {dev['name']}")
    lines = [f"# GPU check{' (CPU tiny run)' if tiny else ''}", "",
             f"Date: {result['date']}. Machine: {machine}.", "", f"Command: `{command}`", "",
             f"Device: **{dev['name']}**." + (
                 " This is the CPU tiny run (the same code at tiny sizes): its figures test the "
                 "check, they say nothing about a GPU. No GPU has run the full-size check yet: "
                 "`python bench/gpu_check.py --out=DIR` on one." if tiny else ""), "",
             f"Space `{s['space']}`" + (" reduced to its first stage's 2 blocks, a 64-wide "
                                        "head and 10 classes" if tiny else "") +
             f" at {s['image_size']}x{s['image_size']}, batch "
             f"{s['batch_size']}, {s['steps']} timed steps after 2 warm-up calls; each "
             "configuration in a fresh process; peak memory from `get_memory_info('"
             f"{s['memory_device']}')` after `reset_memory_stats`. Search: the search's own "
             "weight and arch steps (paths drawn from p); its images/s mixes 5 weight steps "
             "and 1 arch step as the schedule does. Plain: training of the derived net of the "
             "largest arch (every block k7_e6), the trainer's model and compile.", "",
             "| configuration | status | images/s | weight step img/s | arch step img/s | "
             "peak MiB | first call s |", "|---|---|---|---|---|---|---|"]
    for r in result["steps"]:
        if r["status"] == "ok":
            lines.append(f"| {label(r)} | ok | {r['images_per_s']:.1f} | "
                         f"{_fmt(r.get('weight_images_per_s'), '.1f')} | "
                         f"{_fmt(r.get('arch_images_per_s'), '.1f')} | {_mib(r['peak_bytes'])} | "
                         f"{r['first_call_s']} |")
        else:
            lines.append(f"| {label(r)} | {r['status']}: {common.md_code(r['error'])} | | | | | "
                         "|")
    if tiny:
        lines += ["", "The tiny run defaults to float32 without XLA: mixed_float16 is a GPU "
                  "precision (emulated slowly on a CPU), and XLA compiling the supernet's "
                  "steps took over 90 s per configuration on this 2-core CPU; "
                  "`--precisions=float32,mixed_float16 --xla=off,on` runs them here too."]
    lines += ["", "Peak-memory ratios (the paper: binarized paths need about the memory of "
              "training one plain net; all paths, about N times more):", ""]
    for key, r in result["memory_ratios"].items():
        notes = "; ".join(f"{m}: {st}" for m, st in r["notes"].items())
        lines.append(f"- {key}: full_v2 / plain {_fmt(r['full_v2_over_plain'])}, full / full_v2 "
                     f"{_fmt(r['full_over_full_v2'])}" + (f" ({notes})" if notes else ""))
    p = result["projection"]
    lines += ["", ("Projected search cost: **{:.0f} GPU-hours** for the paper's ImageNet search "
                   "({}) at the rates of {}, against the paper's {} GPU-hours (Cai et al. 2019, "
                   "Table 2).{}").format(p["hours"], p["schedule"], p["from"], p["paper_hours"],
                                         " At tiny size this number is no estimate." if tiny
                                         else "")
              if p else "Projected search cost: no full_v2 configuration ran.", ""]
    pipe, jp = result["pipeline"], result["jpegs"]
    best = max((r["images_per_s"] for r in result["steps"]
                if r["kind"] == "search" and r["status"] == "ok"), default=None)
    lines += [f"Input pipeline: **{pipe['images_per_s']:.0f} images/s** on {pipe['host_cores']} "
              f"host cores (`image_folder` with the ImageNet transforms: JPEG decode, random "
              f"resized crop to {pipe['image_size']}, flip, normalise; batch "
              f"{pipe['batch_size']}) on {jp['files']} **synthetic** JPEG files "
              f"({jp['width']}x{jp['height']}, mean {jp['mean_kib']} KiB; ImageNet's average "
              "about 110 KiB)" + (f", {pipe['images_per_s'] / best:.2f}x the fastest search "
                                  f"configuration's {best:.0f} images/s." if best else "."), "",
              f"Latency through the tf runner (`{result['latency_device']}`, float32, batch "
              f"{result['latency'][0]['batch'] if result['latency'] else 8}, "
              f"{s['image_size']}x{s['image_size']}):", "", "| net | ms per batch |", "|---|---|"]
    lines += [f"| {r['net']} | {r['ms']:.2f} |" for r in result["latency"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    problem = check_flags()
    if problem:
        print(f"gpu_check: error: {problem}", file=sys.stderr)
        return 2
    if FLAGS.worker:
        kind, mode, precision, xla = FLAGS.worker.split(":")
        space = steps.space_for(FLAGS.space, FLAGS.image_size, FLAGS.tiny)
        print(json.dumps(steps.run_config(kind, None if mode == "None" else mode, precision,
                                          xla == "on", space, FLAGS.batch_size, FLAGS.steps)))
        return 0
    from pxnas_tf import fileio

    dev = device()
    tiny = (not dev["gpu"]) if FLAGS.tiny is None else FLAGS.tiny
    print(f"device: {dev['name']}" + (" (tiny sizes)" if tiny and dev["gpu"] else ""), flush=True)
    image_size, batch_size = _setting("image_size", tiny), _setting("batch_size", tiny)
    rows = run_steps(tiny)
    jpegs = steps.write_jpegs(os.path.join(FLAGS.workdir, "jpegs"), _setting("jpegs", tiny))
    pipe = steps.pipeline_rate(os.path.join(FLAGS.workdir, "jpegs"), image_size, batch_size,
                               batches=max(2, _setting("jpegs", tiny) // batch_size))
    print(f"  input pipeline: {pipe['images_per_s']:.0f} images/s on {pipe['host_cores']} cores "
          f"(synthetic JPEGs)", flush=True)
    latency_device = "tf:gpu" if dev["gpu"] and not tiny else "tf:cpu"
    latency = steps.zoo_latency(latency_device, image_size, 8, quick=tiny)
    for r in latency:
        print(f"  {latency_device} {r['net']:<18} {r['ms']:.2f} ms at batch {r['batch']}",
              flush=True)
    result = {
        "date": datetime.date.today().isoformat(), "device": dev, "tiny": tiny,
        "settings": {"space": FLAGS.space, "image_size": image_size, "batch_size": batch_size,
                     "steps": _setting("steps", tiny), "memory_device": "GPU:0" if dev["gpu"]
                     else "CPU:0"},
        "steps": rows, "memory_ratios": memory_ratios(rows), "projection": projection(rows),
        "jpegs": {**jpegs, "synthetic": True}, "pipeline": pipe,
        "latency_device": latency_device, "latency": latency,
    }
    command = ("python bench/gpu_check.py " + " ".join(argv[1:])).strip()
    text = report(result, command)
    print("\n" + text)
    os.makedirs(FLAGS.out, exist_ok=True)
    fileio.atomic_write_json(os.path.join(FLAGS.out, "gpu_check.json"), result)
    fileio.atomic_write_text(os.path.join(FLAGS.out, "gpu_check.md"), text)
    print(f"wrote {os.path.join(FLAGS.out, 'gpu_check.json')} and gpu_check.md")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
