"""The latency model on nets from outside the search space (issue 21's
benchmark).

    python bench/latency_foreign.py [--precisions=int8,float32]
                                    [--workdir=runs/latency_foreign]

For each precision (host runner: LiteRT, 1 thread, XNNPACK):

1. builds (or resumes) the `proxyless_small` table with its calibration
   terms and the single-op probes (`pxnas latency build --probes`), timed;
2. validates it (`pxnas_tf.latency.build.validation.validate`) on 30 random
   archs of the space, the zoo nets, the 14 default `keras.applications`
   nets (`foreign_nets.DEFAULT_NETS`, the test set) and the 7 tuning nets
   (`foreign_nets.TUNING_NETS`, kept apart for choosing between model
   variants), each converted and measured whole with the table's pass rule;
3. measures every op of a few nets alone (`--isolate`) and compares the sum
   with the net measured whole: how much of the error is the op model's
   fit and how much is what running inside a net adds;
4. writes docs/benchmarks/latency_foreign.md: per group and family MAPE,
   share within 10 percent and Kendall tau, every foreign net's prediction and
   measurement, against the issue's goals, and the scatter plots
   docs/benchmarks/latency_foreign_<precision>.png.

Everything resumes: the table and the measured nets are saved as they come.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
GOALS = {"mape": 0.05, "within_10pct": 0.95, "kendall_tau": 0.95, "foreign_within_10pct": 0.90}
# What the figures say, written by hand after the run of 2026-12-07 (update
# it with the figures when the model changes).
FINDINGS = """### Ninth round: one-pixel products re-read their weights in a net (2026-12-07, morning, AMD EPYC VM)

The tables above are the seventh round's (its text follows, after the
eighth round's). This round's three fresh int8 builds are kept whole in
[history.md](history.md#latency_foreign_epyc_ninth_a).

- **What changed: the re-read term** (`pxnas_tf/latency/model/reread.py`).
  mobilenetv2_a1.4@32 was the test net missed most often (int8 -10.4% to
  -12.4% in five of eight kept tables); whole, it ran 0.109 ms against
  0.097 ms for its ops timed alone. Timed as prefixes cut after each
  block, it ran as its ops alone predict up to about 1 MB of footprint
  (within 0.0005 ms a block); past it, each block with 1x1 convs on 1x1
  maps ran 0.0013-0.0015 ms slower than predicted, and the head (a 448 ->
  1792 1x1 conv and a 1792 -> 1000 dense layer at one pixel) 0.0087 ms:
  about 0.0025 ms per MB of weights of such one-pixel products (MobileNetV2
  at alpha 1.0 the same). Alone they find their weights in L2; in a net
  that outgrows L2 they read them from L3 on every invoke, and with one to
  four uses a weight nothing hides it. A net of ops now gets r times the
  weights of its gemv and fc ops (each up to L2's worth) while its
  footprint passes L2, with r fit to the 80 random in-net nets timed whole
  (the large ones' heads hold up to 6.6 MB of such weights): 0.0011-0.0023
  ms per MB on eight int8 tables, 0 on float32 (0.0006 on one of seven).
- **Offline, on the eight int8 tables kept from fresh builds** (their
  nets' kept measurements): mobilenetv2_a1.4@32 went from -4% to -12% to
  -6% to +4%, and the tables that meet every goal from 4 to 5. On two
  older tables, already failing, more nets missed (mobilenetv3small_min@128
  +10.0% and +13.9% -> +12.2% and +16.0%, efficientnetb0@32 +10.4%).
- **A fresh int8 build with it** (10.7 min,
  [history.md](history.md#latency_foreign_epyc_ninth_a)): random archs +
  test nets 2.9% / 100% / 0.98, the test nets 100% within 10% (MAPE 2.8%;
  mobilenetv2_a1.4@32 -3.2%), the tuning nets 100%; but the foreign nets
  with the zoo 89% (17 of 19; goal 90%): zoo:proxyless_mobile -15.1% and
  proxyless_mobile_14 -11.5%. The machine during the validation x1.018 /
  x1.027 of the build's times.
- **A second fresh int8 build with it** (9.2 min,
  [history.md](history.md#latency_foreign_epyc_ninth_b)): every goal
  met. Random archs + test nets 1.9% / 100% / 0.98, the test nets 100%
  within 10% (MAPE 1.8%; mobilenetv2_a1.4@32 +0.4%,
  mobilenetv3small_min@128 +8.5%), the foreign nets with the zoo 95% (18
  of 19; zoo:proxyless_mobile -16.1%, proxyless_gpu -9.5%); the machine
  during the validation x0.987 / x1.027.
- **The zoo's 7x7 nets are the misses left, and copies are not the
  reason.** zoo:proxyless_mobile's 1x1-map tail (its last five 7x7 blocks,
  three shapes, 27.8 MB with their buffers) as one model ran 0.710 ms
  against 0.270 ms for its blocks alone, 0.016 ms a MB more; a chain of 3
  copies of the 1x1x256 k7_e6 block (32.2 MB), timed in the same passes,
  0.016 ms a MB as well (2026-12-07 07:00). So chains of distinct blocks
  would calibrate what copies do. Whole, the net runs its layers alone
  plus about 0.53 ms; the model gives 0.39-0.42 (streaming curve and
  context term), and the streaming curve of 1x1 convs read at 30 MB alone
  gives 0.42-0.47: near the L3's size, the buffers cost about 1.2x what
  the weight chains pay per MB, and where the knee lies moves with the
  L3 share other tenants leave (the same int8 file ranges 0.83-0.96 ms
  within 15 minutes, [latency_repeatability.md](latency_repeatability.md)).
- **Tried offline, not taken: buffers at the streaming curve's full rate**
  (no in-cache share subtracted for them, the context groups fitted again
  net of it): zoo:proxyless_mobile 3-6 points higher on six of eight
  int8 tables (-15.1% -> -12.2%, -8.2% -> -3.5%, -18.5% -> -14.2%, -14.0%
  -> -9.7%), but the random archs' MAPE worse on three older tables (5.5%
  -> 7.2%, 4.2% -> 4.9%, 3.0% -> 4.0%).
- **A third fresh int8 build with it** (9.7 min,
  [history.md](history.md#latency_foreign_epyc_ninth_c)): every goal
  met. Random archs + test nets 3.8% / 98% / 0.99, the test nets 100%
  within 10% (MAPE 2.3%), the foreign nets with the zoo 100% (19 of 19;
  zoo:proxyless_mobile -9.8%); the machine during the validation x0.993 /
  x0.985.
- Over the sixth to ninth rounds, int8 met every goal on 5 of 9 fresh
  builds (2 of 3 with the re-read term, whose test nets were 100% within
  10% in all three), float32 on 1 of 5. The int8 misses left are the
  zoo's nets with 7x7 blocks on 1x1 maps (zoo:proxyless_mobile -8% to
  -19% in the last nine int8 builds, always low); the float32 goal cannot
  be decided on this host.
"""


def define_flags() -> None:
    flags.DEFINE_list("precisions", ["int8", "float32"], "Table precisions.")
    flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "latency_foreign"), "Run folder.")
    flags.DEFINE_integer("num_archs", 30, "Random archs of the space.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "latency_foreign.md"),
                        "Report.")
    flags.DEFINE_list("isolate", ["mobilenetv2_a0.5@96", "mobilenetv3small@96",
                                  "efficientnetb0@64", "cnn@32", "mobilenetv2_a1.4@32",
                                  "mobilenet_a1.0@64", "mobilenetv3large@64"],
                      "Nets whose every op is also measured alone (a table of their ops).")
    flags.DEFINE_boolean("findings", True, "Append the hand-written findings (FINDINGS).")


def run_precision(precision: str) -> dict:
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.latency.build.foreign_nets import DEFAULT_NETS, TUNING_NETS
    from pxnas_tf.latency.build.validation import validate
    from pxnas_tf.latency.measure.host_runner import HostRunner
    from pxnas_tf.latency.model import metrics
    from pxnas_tf.latency.model.op_model import fit_table, in_net_nets, op_model_path
    from pxnas_tf.latency.model.table import load_table
    from pxnas_tf.search_space import load_space

    space = load_space("proxyless_small")
    path = os.path.join(FLAGS.workdir, f"{precision}.json")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    runner = HostRunner(threads=1)
    t0 = time.monotonic()
    report = build_table(space, runner, path, precision, probes=True)
    build_s = time.monotonic() - t0
    build_waited_s = runner.waited_s
    table = load_table(path)
    op_model = fit_table(table)
    op_model.save(op_model_path(path))
    rep = validate(table, path, runner, space, FLAGS.num_archs, zoo=True, op_model=op_model,
                   nets=list(DEFAULT_NETS) + list(TUNING_NETS),
                   log=lambda m: print(m, file=sys.stderr, flush=True))
    rows = rep.results

    def summary(subset):
        return metrics.summary([r.predicted_ms for r in subset], [r.measured_ms for r in subset])

    test = [r for r in rows if r.name in DEFAULT_NETS]
    tuning = [r for r in rows if r.name in TUNING_NETS]
    main = [r for r in rows if r.name not in TUNING_NETS and r.group != "zoo"]
    isolated = isolation(precision, path, runner, {r.name: r for r in rows})
    png = os.path.join(os.path.dirname(FLAGS.out), f"latency_foreign_{precision}.png")
    shutil.copyfile(rep.plot, png)
    return {"precision": precision, "table": path, "entries": len(table),
            "build_measured": report.measured, "build_s": build_s,
            "build_stages": report.stages_s, "build_waited_s": build_waited_s,
            "op_model": {"fit": op_model.fit_rel_rmse, "loo": op_model.loo_rel_rmse},
            "in_net": len(in_net_nets(table)), "factors": op_model.in_net,
            "ridge": op_model.in_net_ridge, "reread": op_model.reread_per_mb,
            "all": summary(main), "foreign": summary(test), "tuning": summary(tuning),
            "space": summary([r for r in rows if r.group == "space"]),
            "zoo": summary([r for r in rows if r.group == "zoo"]),
            "by_group": rep.by_group,
            "test_zoo": summary(test + [r for r in rows if r.group == "zoo"]),
            "nets": [(r.name, r.group, r.predicted_ms, r.measured_ms, _spread(r.runs))
                     for r in test + tuning + [r for r in rows if r.group == "zoo"]],
            "isolated": isolated, "png": os.path.basename(png), "machine": rep.machine,
            "zoo_size": space.input_shape[0],
            "validation_s": rep.elapsed_s}


def _stages(r: dict) -> str:
    """The build's stages and its waiting for a quiet machine, in minutes."""
    stages = r.get("build_stages") or {}
    if not stages:
        return ""
    return (": " + ", ".join(f"{name} {s / 60:.1f}" for name, s in stages.items())
            + f"; {r.get('build_waited_s', 0.0) / 60:.1f} of it waiting for a quiet machine")


def _machine_line(r: dict) -> str:
    """The validation's machine state against the build's (`machine_state`)."""
    from pxnas_tf.latency.build import machine_state

    m = r.get("machine") or {}
    state = m.get("state") or {}
    return (f"- Machine during the validation ({r.get('validation_s', 0) / 60:.1f} min, "
            f"{m.get('extra_passes', 0)} extra passes): {machine_state.describe(state)}"
            + (f": {machine_state.verdict(state)}." if machine_state.verdict(state) else "."))


def _spread(runs) -> float:
    """How far a net's slowest pass lies above its fastest (its passes run
    minutes apart)."""
    return max(runs) / min(runs) - 1 if runs else 0.0


def isolation(precision: str, table_path: str, runner, measured: dict) -> list[dict]:
    """Every op of the `--isolate` nets measured alone (a table of single-op
    keys, resumable) against the net measured whole."""
    import glob

    from pxnas_tf.latency.build import tflite_ops, validation
    from pxnas_tf.latency.build.builder import build_table, default_models_dir
    from pxnas_tf.latency.build.settings import BuildSettings
    from pxnas_tf.latency.model.ops import op_key
    from pxnas_tf.search_space import load_space

    folder = os.path.join(default_models_dir(table_path, precision), "nets")
    ops = {}
    for spec in FLAGS.isolate:
        (path,) = glob.glob(os.path.join(folder, validation._safe(spec) + "-*.tflite"))
        with open(path, "rb") as f:
            ops[spec] = tflite_ops.ops_of_tflite(f.read())
    keys = list(dict.fromkeys(op_key(op) for net in ops.values() for op in net))
    report = build_table(load_space("proxyless_small"), runner,
                         os.path.join(FLAGS.workdir, f"isolated_{precision}.json"), precision,
                         BuildSettings(weight_streaming=False, footprint=False, context=False),
                         keys=keys, progress=False)
    table = report.table
    overhead = min(float(v) for v in table.metadata.overhead["ms"].values())
    out = []
    for spec, net in ops.items():
        by_type = {}
        for op in net:
            by_type[op.type] = by_type.get(op.type, 0.0) + table.value(op_key(op), "median")
        total = sum(by_type.values()) + overhead
        out.append({"net": spec, "ops": len(net), "sum_ms": total,
                    "whole_ms": measured[spec].measured_ms,
                    "predicted_ms": measured[spec].predicted_ms,
                    "top": sorted(by_type.items(), key=lambda kv: -kv[1])[:3]})
    return out


def _fmt(s: dict) -> str:
    return (f"MAPE {s['mape']:.1%}, {s['within_10pct']:.0%} within 10%, "
            f"Kendall tau {s['kendall_tau']:.2f} ({s['n']} nets)")


def write_report(results: list[dict], command: str) -> None:
    from pxnas_tf import fileio
    from pxnas_tf.latency.measure.host_runner import cpu_description

    lines = ["## Latency of nets outside the space", "",
             f"Date: {datetime.date.today().isoformat()}. Command: `{command}`.", "",
             f"Machine: {cpu_description()}, {platform.platform()}, Python "
             f"{platform.python_version()}; LiteRT on the host, 1 thread, XNNPACK.", "",
             "Each table is `proxyless_small`'s with its calibration terms and the single-op "
             "probes (`pxnas latency build --probes`). Nets outside the space are converted "
             "at the table's precision and predicted from the ops of their TFLite graph "
             "(`predict_ops`: op model x in-net factors + per-invoke overhead + weight "
             "streaming curve); the op model is fit on the space's blocks and the "
             "probes, its in-net factors on random mobile nets timed whole (`in_net`). The 14 "
             "default `keras.applications` nets are the test set; the 7 tuning nets were "
             "kept apart for choosing between model variants. Goals (issue 21): over the "
             "foreign and random nets MAPE <= 5%, >= 95% within 10%, tau >= 0.95; the "
             "foreign nets alone >= 90% within 10%.", ""]
    for r in results:
        ok = lambda v, goal, low=False: "met" if (v <= goal if low else v >= goal) else "NOT met"
        a, f = r["all"], r["foreign"]
        lines += [f"### {r['precision']}", "",
                  f"- Table: {r['entries']} entries ({r['build_measured']} measurements this "
                  f"run, {r['build_s'] / 60:.1f} min" + _stages(r) + "); op model fit error "
                  f"{r['op_model']['fit']:.1%}, "
                  f"leave-one-out {r['op_model']['loo']:.1%}; "
                  f"in-net factors fit on {r.get('in_net', 0)} random mobile nets timed whole "
                  f"(ridge {r.get('ridge', 0):g}): " + (", ".join(
                      f"{k} {v:.2f}" for k, v in sorted(r.get("factors", {}).items())
                      if abs(v - 1) >= 0.05) or "none departs from 1 by 5% or more")
                  + (f"; one-pixel products re-read their weights at {r['reread']:.4f} ms per MB"
                     if "reread" in r else "") + ".",
                  f"- Random archs of the space: {_fmt(r['space'])}.",
                  f"- Test set (14 foreign nets): {_fmt(f)}: within-10% goal "
                  f"{ok(f['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  f"- Random archs + test set: {_fmt(a)}: MAPE {ok(a['mape'], GOALS['mape'], True)}"
                  f", within 10% {ok(a['within_10pct'], GOALS['within_10pct'])}, tau "
                  f"{ok(a['kendall_tau'], GOALS['kendall_tau'])}.",
                  f"- Tuning nets: {_fmt(r['tuning'])}.",
                  f"- Zoo nets at {r['zoo_size']}x{r['zoo_size']} (the space's input; table layers "
                  f"+ op model + context): {_fmt(r['zoo'])}.",
                  f"- Foreign nets (test set + zoo): {_fmt(r['test_zoo'])}: within-10% goal "
                  f"{ok(r['test_zoo']['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  _machine_line(r),
                  "", "Measured: the lowest of the net's passes (minutes apart; the spread is "
                  "how far the slowest lies above it).", "",
                  "| net | family | predicted ms | measured ms | error | passes' spread |",
                  "|---|---|---|---|---|---|"]
        for name, group, p, m, spread in r["nets"]:
            lines.append(f"| {name} | {group} | {p:.3f} | {m:.3f} | {p / m - 1:+.1%} "
                         f"| {spread:.0%} |")
        if r["isolated"]:
            lines += ["", "Every op measured alone (a model of that one op, the per-invoke "
                      "overhead taken out) and summed, against the net measured whole and "
                      "the prediction:", "",
                      "| net | ops | sum of ops alone | whole | sum / whole | predicted / whole "
                      "| largest op types (ms) |", "|---|---|---|---|---|---|---|"]
            for i in r["isolated"]:
                top = ", ".join(f"{t} {ms:.3f}" for t, ms in i["top"])
                lines.append(f"| {i['net']} | {i['ops']} | {i['sum_ms']:.3f} | "
                             f"{i['whole_ms']:.3f} | {i['sum_ms'] / i['whole_ms']:.2f} | "
                             f"{i['predicted_ms'] / i['whole_ms']:.2f} | {top} |")
        lines += ["", f"![{r['precision']}]({r['png']})", ""]
    if FLAGS.findings:
        lines += [FINDINGS]
    fileio.atomic_write_text(FLAGS.out, "\n".join(lines) + "\n")


def main(argv) -> None:
    del argv
    sys.path.insert(0, ROOT)
    command = "python bench/latency_foreign.py " + " ".join(sys.argv[1:])
    results = [run_precision(p) for p in FLAGS.precisions]
    write_report(results, command.strip())
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
