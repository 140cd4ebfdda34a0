"""How repeatable a whole net's measured latency is on this machine: the
ceiling that measurement noise puts on any latency model's "share within
10%" (issue 21's question: does the signal exceed its noise?).

    python bench/latency_repeatability.py [--precisions=float32,int8]
        [--rounds=6] [--gap_s=150] [--workdir=runs/latency_repeatability]

The nets are the foreign nets of bench/latency_foreign.py (the zoo nets at
the `proxyless_small` input, `foreign_nets.DEFAULT_NETS` and `TUNING_NETS`)
and 3 random archs of the space as small controls, converted as the
validation converts them (host runner: LiteRT, 1 thread, XNNPACK). Each
*round* times every net in 3 interleaved passes and keeps its lowest pass,
the figure a validation keeps; the rounds are `--gap_s` apart.

For each net, the best fixed prediction is the value that lies within 10%
of the most of its rounds (`ceiling`): no model, however good, can be
within 10% of more of them. Summed over the nets, that is the highest share
of (net, round) pairs any model could reach; per round, the share of nets
that the best fixed predictions reach in that round is what a validation
taken then could show at best. Where that share falls below the goal's
90%, the goal cannot be decided on this machine at that hour.

Each run adds its section to the top of `--out` (earlier runs are kept);
the rounds are saved in the work dir as they come (a rerun of the same
run resumes).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from typing import Sequence

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
TOL = 0.10
GOAL = 0.90  # issue 21: foreign nets within 10%
MARKER = "<!-- runs: newest first -->"


def define_flags() -> None:
    flags.DEFINE_list("precisions", ["float32", "int8"], "Model precisions.")
    flags.DEFINE_integer("rounds", 6, "Rounds per precision.", lower_bound=2)
    flags.DEFINE_float("gap_s", 150.0, "Seconds from the end of one round to the next.",
                       lower_bound=0.0)
    flags.DEFINE_integer("passes", 3, "Passes per round (its lowest kept).", lower_bound=1)
    flags.DEFINE_list("nets", None, "Foreign net specs (default: foreign_nets.DEFAULT_NETS and "
                      "TUNING_NETS).")
    flags.DEFINE_boolean("zoo", True, "Include the zoo nets.")
    flags.DEFINE_integer("num_archs", 3, "Random archs of the space (controls).", lower_bound=0)
    flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "latency_repeatability"),
                        "Run folder (converted nets, rounds).")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks",
                                            "latency_repeatability.md"), "Report (Markdown).")


# The arithmetic (pure) -------------------------------------------------------------

def best_prediction(values: Sequence[float], tol: float = TOL) -> tuple[float, int]:
    """(c, n): a prediction c within `tol` of the most `values` (|c / v - 1|
    <= tol), and how many. A prediction is within tol of v exactly when it
    lies in [(1 - tol) v, (1 + tol) v]; the most such intervals overlap at
    one of their lower ends."""
    best = (float(values[0]), 0) if values else (0.0, 0)
    for v in values:
        c = (1 - tol) * v
        n = sum(1 for w in values if (1 - tol) * w <= c * (1 + 1e-12) and c <= (1 + tol) * w
                * (1 + 1e-12))
        if n > best[1]:
            best = (c, n)
    return best


def ceiling(rounds: dict[str, Sequence[float]], tol: float = TOL) -> dict:
    """For nets' round values {net: [ms per round]}: each net's best fixed
    prediction (`best_prediction`), the share of all (net, round) pairs they
    reach (``pairs``), and per round the share of nets within `tol` of
    their prediction (``per_round``). Pure."""
    best = {name: best_prediction(v, tol) for name, v in rounds.items()}
    total = sum(len(v) for v in rounds.values())
    count = max((len(v) for v in rounds.values()), default=0)
    per_round = []
    for i in range(count):
        hits = [abs(best[n][0] / v[i] - 1) <= tol + 1e-9 for n, v in rounds.items() if len(v) > i]
        per_round.append(sum(hits) / len(hits) if hits else 0.0)
    return {"pairs": sum(n for _, n in best.values()) / total if total else 0.0,
            "per_round": per_round, "best": {n: {"ms": c, "rounds_within": k}
                                              for n, (c, k) in best.items()}}


# Measuring ---------------------------------------------------------------------------

def _nets():
    from pxnas_tf.latency.build.foreign_nets import DEFAULT_NETS, TUNING_NETS
    from pxnas_tf.latency.build.validation import validation_nets
    from pxnas_tf.search_space import load_space

    specs = FLAGS.nets if FLAGS.nets is not None else list(DEFAULT_NETS) + list(TUNING_NETS)
    return validation_nets(load_space("proxyless_small"), FLAGS.num_archs, zoo=FLAGS.zoo,
                           nets=specs)


def run_precision(precision: str) -> dict:
    from tqdm import tqdm

    from pxnas_tf import fileio
    from pxnas_tf.latency.build.validation import net_file
    from pxnas_tf.latency.measure.host_runner import HostRunner
    from pxnas_tf.latency.measure.runner import BenchModel

    nets = _nets()
    folder = os.path.join(FLAGS.workdir, precision)
    os.makedirs(folder, exist_ok=True)
    files = {n.name: net_file(n, precision, folder) for n in tqdm(
        nets, desc=f"converting nets ({precision})", unit="net", file=sys.stderr)}
    state_path = os.path.join(FLAGS.workdir, f"{precision}.rounds.json")
    state = {"rounds": [], "started": time.strftime("%Y-%m-%d %H:%M")}
    try:
        with open(state_path, encoding="utf-8") as f:
            saved = json.load(f)
        if all(set(r["passes"]) == set(files) for r in saved["rounds"]):
            state = saved  # the same nets: resume
        else:
            print(f"{state_path} holds other nets' rounds: starting over", file=sys.stderr)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{state_path} cannot be read ({e}): starting over", file=sys.stderr)
    runner = HostRunner(threads=1)
    models = [BenchModel(n.name, files[n.name]) for n in nets]
    while len(state["rounds"]) < FLAGS.rounds:
        if state["rounds"]:
            time.sleep(FLAGS.gap_s)
        passes: dict[str, list[float]] = {}
        start = time.strftime("%H:%M:%S")
        for _ in range(FLAGS.passes):
            for model, m in runner.measure(models):
                passes.setdefault(model.name, []).append(round(m.value_ms, 6))
        state["rounds"].append({"start": start, "passes": passes})
        fileio.atomic_write_json(state_path, state)
        print(f"{precision}: round {len(state['rounds'])}/{FLAGS.rounds} ({start})",
              file=sys.stderr, flush=True)
    rounds = {n.name: [min(r["passes"][n.name]) for r in state["rounds"]] for n in nets}
    return {"precision": precision, "groups": {n.name: n.group for n in nets},
            "rounds": rounds, "starts": [r["start"] for r in state["rounds"]],
            "started": state["started"],
            "pass_spread": {n.name: max(max(r["passes"][n.name]) / min(r["passes"][n.name])
                                        for r in state["rounds"]) for n in nets},
            "foreign": ceiling({n.name: rounds[n.name] for n in nets if n.group != "space"}),
            "control": ceiling({n.name: rounds[n.name] for n in nets if n.group == "space"})}


# Report ------------------------------------------------------------------------------

def section(results: list[dict], command: str) -> str:
    from pxnas_tf.latency.measure.host_runner import cpu_model_name

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## Run of {now} ({cpu_model_name()}, {os.cpu_count()} CPUs; LiteRT, 1 thread, "
             "XNNPACK)", "", f"`{command}`", ""]
    for r in results:
        f, c = r["foreign"], r["control"]
        worst = min(f["per_round"], default=0.0)
        lines += [f"### {r['precision']} (rounds from {r['starts'][0]} to {r['starts'][-1]})", "",
                  f"- Foreign nets ({len(f['best'])}): the best fixed predictions reach "
                  f"{f['pairs']:.0%} of (net, round) pairs within 10%; per round "
                  + ", ".join(f"{s:.0%}" for s in f["per_round"])
                  + f" (lowest {worst:.0%}: a validation then "
                  + ("could not" if worst < GOAL else "could")
                  + f" reach the goal's {GOAL:.0%}).",
                  f"- Random archs of the space (controls, {len(c['best'])}): {c['pairs']:.0%}.",
                  "", "| net | group | lowest ms | highest ms | highest / lowest | rounds "
                  "within 10% of the best prediction | widest pass spread in a round |",
                  "|---|---|---|---|---|---|---|"]
        order = sorted(r["rounds"], key=lambda n: -max(r["rounds"][n]) / min(r["rounds"][n]))
        for name in order:
            v = r["rounds"][name]
            best = (f["best"] if name in f["best"] else c["best"])[name]
            lines.append(f"| {name} | {r['groups'][name]} | {min(v):.3f} | {max(v):.3f} | "
                         f"{max(v) / min(v):.2f} | {best['rounds_within']}/{len(v)} | "
                         f"{r['pass_spread'][name]:.2f} |")
        lines.append("")
    return "\n".join(lines)


def write_report(text: str) -> None:
    from pxnas_tf import fileio

    head = ("# Repeatability of whole-net latency on this machine\n\n"
            "Written by `bench/latency_repeatability.py` (its docstring says what is "
            "measured and how the ceiling is computed). Each run adds a section at the top; "
            "every earlier run is kept below.\n\n" + MARKER + "\n")
    old = ""
    if os.path.exists(FLAGS.out):
        with open(FLAGS.out, encoding="utf-8") as f:
            doc = f.read()
        old = doc.split(MARKER, 1)[1].lstrip("\n") if MARKER in doc else ""
    fileio.atomic_write_text(FLAGS.out, head + "\n" + text + ("\n" + old if old else ""))


def main(argv) -> None:
    del argv
    results = [run_precision(p) for p in FLAGS.precisions]
    write_report(section(results, " ".join(["python", "bench/latency_repeatability.py"]
                                           + sys.argv[1:])))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    define_flags()
    app.run(main)
