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
# What the figures say, written by hand after the runs of 2026-12-07 (update
# it with the figures when the model changes).
FINDINGS = """### Tenth round: runtime buffers lose the in-cache discount as a net outgrows the L3 (2026-12-07, late morning, AMD EPYC VM)

The tables above are this round's last two builds (int8 09:41-09:57,
float32 09:58-10:14), both with the model as it now is. Every build of the
round is kept whole in [history.md](history.md#latency_foreign_epyc_tenth_e),
and the seventh round's tables that stood here until now are there too
([history.md](history.md#latency_foreign_epyc_seventh_a)). This host ran
int8 nets about 2x slower than the last rounds' (mobilenetv2_a0.5@96's ops
alone 0.302 ms against 0.157 ms) under the same CPU description.

- **The lead: the zoo's 7x7 nets were always low in int8.** A fresh int8
  build with the ninth round's model
  ([history.md](history.md#latency_foreign_epyc_tenth_a)): random archs +
  test nets 2.6% / 100% / 0.99, test nets 100%, but zoo:proxyless_gpu
  -19.4%, zoo:proxyless_mobile -21.3% and zoo:proxyless_mobile_14 -16.2%
  (the foreign nets with the zoo 84%).
- **Where the time goes** (int8 zoo:proxyless_mobile at 32x32 on that
  table):
  - its ops timed alone sum to 0.604 ms, and the op model gives 0.602. The
    zoo nets pad explicitly before their stride-2 convs, and their ops could
    not be timed alone until the probes built such ops as valid ones
    (`block_models.probe_layers`);
  - whole, it ran 1.197 ms in the validation (1.09-1.18 ms an hour later);
  - its resident memory is 31.5 MB, and the model's footprint 29.9 MB, 26.9
    of them the buffers of its 7x7 depthwise ops;
  - cut after each of its last blocks and timed whole against the sum of
    its ops alone, it ran 0.00, 0.07, 0.22 and 0.51 ms beyond them at 15,
    18, 22 and 30 MB. The weight-streaming curve gives 0.10, 0.16, 0.27 and
    0.50 ms there, and the streaming term (the curve above its in-cache
    rate) 0.00, 0.03, 0.12 and 0.29 ms. Past about half the L3, such a net
    pays nearly the whole curve.
- **Why the context chains did not catch it**: near the L3's size, chains
  of the 7x7 blocks cost different amounts from one build to the next. The
  1x1x256 k7_e3 chain at 21 MB ran 0.105 ms beyond its copies alone in one
  build and 0.254 ms in the next. The first build's chains saw none of what
  its own validation found, so its 1x1 groups fit a rate of 0.
- **The change** (`streaming.hidden_share`): the in-cache discount no
  longer applies to a net's runtime buffers once the net outgrows half the
  last-level cache. It fades linearly to none at the cache's size, while
  weights and tensors keep their discount. The context groups are fitted
  net of the new term, so older context records are fitted again on load
  (format v3). With it, the prefixes above get 0.00, 0.04, 0.16 and 0.44 ms.
  - Nets of ops (the keras.applications nets) have no buffers, and int8
    random archs stay under half the L3, so neither changes.
- **Three variants on all five builds of the round** (offline with the real
  code on each build's kept measurements, the context groups and the op
  model fitted again). The rule was fixed before the last two builds ran:
  take the variant that meets every goal on the most builds; on a tie, the
  one with the fewest zoo misses.

  | build | none (the ninth round's) | fade on the whole footprint | fade on the buffers (taken) |
  |---|---|---|---|
  | int8, 08:33 ([a](history.md#latency_foreign_epyc_tenth_a)) | 84%, not met | 100%, met | 95%, met |
  | float32, 09:03 ([b](history.md#latency_foreign_epyc_tenth_b)) | 95%, met | 84%, not met | 89%, not met |
  | int8, 09:23 ([c](history.md#latency_foreign_epyc_tenth_c)) | 100%, met | 100%, met | 100%, met |
  | int8, 09:41 ([d](history.md#latency_foreign_epyc_tenth_d)) | 100%, met | 100%, met | 100%, met |
  | float32, 09:58 ([e](history.md#latency_foreign_epyc_tenth_e)) | 84%, not met | 79%, not met | 89%, not met |

  (Each cell: the foreign nets with the zoo within 10%, then whether every
  goal was met.)
  - Every goal met: 3 of 5 builds for each variant.
  - Zoo nets missed: 6, 6 and 4. So the fade on the buffers was taken.
  - Fading the whole footprint over-prices float32 nets of 40 MB that are
    half weights: zoo:proxyless_gpu and proxyless_mobile_14 +11% to +20%,
    against +4% to +10% with the buffers' fade.
  - The random archs and test nets moved by at most 0.2 points of MAPE
    under any variant.
- **Tried offline, not taken: the zoo nets as nets of ops.** A zoo net
  at 32x32 has no layer in the table; the op model prices its layers as
  table entries (blocks timed alone). Pricing it as a whole net of ops
  instead (the in-net factors, as the keras.applications nets get) moved
  zoo:mobilenet_v2 from -6% to -13% to +2% to +4% and proxyless_cpu from
  -6% to -8% to +2% to +6%, in both precisions. But float32
  zoo:proxyless_gpu went from +4%/+8% to +8%/+14%, and proxyless_mobile_14
  from +8%/+10% to +12%/+16%. On the five builds the zoo misses stayed at 4.
- **int8 with the change**: every goal met on all three int8 builds.
  - The two fresh builds made with it: random archs + test nets 1.7% /
    100% / 0.99 and 1.5% / 100% / 0.99; test nets 100% within 10%;
    foreign nets with the zoo 100% (zoo -7.1% to +7.5%).
  - The first build, refitted offline: 95% (zoo:proxyless_mobile -10.8%).
- **float32 with the change**: random archs + test nets 2.4% / 98% / 0.97,
  test nets 93% within 10%, foreign nets with the zoo 89%: 17 of 19 (goal
  90%). The misses were efficientnetb0@64 (-15.8%) and zoo:mobilenet_v2
  (-10.4%); the other build, refitted offline, also reached 89%. The
  validation found the machine's cache-sized nets x1.033 of their build
  times. float32's misses move from build to build, as
  [latency_repeatability.md](latency_repeatability.md) found: the same
  files range up to 1.53x within 17 minutes on this host.
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
