"""Comparing latency / accuracy fronts: the pure arithmetic and the verdicts
of the Pareto benchmarks (bench/pareto.py, bench/specialization.py), kept
apart from the steps that produce the figures (bench/common.py) so that
tests check them on made-up measurements."""

from __future__ import annotations

import bisect
import statistics
from typing import Sequence

# Targets and fronts -------------------------------------------------------------

def spread_targets(fastest: float, slowest: float, fractions: Sequence[float],
                   scale: str = "log") -> list[float]:
    """Latency targets at `fractions` (0 = fastest, 1 = slowest) of the
    range, on a log scale (fastest * (slowest / fastest) ** f) or linear."""
    if not 0 < fastest < slowest:
        raise ValueError(f"need 0 < fastest < slowest, got {fastest}, {slowest}")
    for f in fractions:
        if not 0.0 < f < 1.0:
            raise ValueError(f"target fractions must lie strictly between 0 and 1, got {f}")
    if scale == "log":
        return [fastest * (slowest / fastest) ** f for f in fractions]
    if scale == "linear":
        return [fastest + f * (slowest - fastest) for f in fractions]
    raise ValueError(f"unknown scale {scale!r}: expected 'log' or 'linear'")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (latency, accuracy) points no other point beats on both (lower or
    equal latency and higher or equal accuracy, one strictly), by latency."""
    front = []
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((lat, acc))
    return front


def accuracy_at(front: Sequence[tuple[float, float]], latency: float,
                slowest: float | None = None) -> float | None:
    """Accuracy of the front at `latency`, linear between its points (a
    front is a staircase; interpolating credits the baseline with nets it
    could have had in between). Past the front's last point and up to
    `slowest` (the slowest baseline measured, which the front dropped as
    dominated), the front's last, best accuracy: that baseline is faster and
    at least as accurate. None below the fastest point or past `slowest`."""
    lats = [p[0] for p in front]
    if not front or latency < lats[0]:
        return None
    if latency > lats[-1]:
        return front[-1][1] if slowest is not None and latency <= slowest else None
    i = bisect.bisect_left(lats, latency)
    if lats[i] == latency:
        return front[i][1]
    (l0, a0), (l1, a1) = front[i - 1], front[i]
    return a0 + (a1 - a0) * (latency - l0) / (l1 - l0)


def latency_at(front: Sequence[tuple[float, float]], accuracy: float) -> float | None:
    """Latency the front needs to reach `accuracy` (linear between points).
    None outside the front's accuracy range (above its best point, or below
    its fastest one: how much faster a smaller net could be is unknown)."""
    if not front or accuracy > front[-1][1] or accuracy < front[0][1]:
        return None
    if accuracy == front[0][1]:
        return front[0][0]
    for (l0, a0), (l1, a1) in zip(front, front[1:]):
        if a0 < accuracy <= a1:
            return l0 + (l1 - l0) * (accuracy - a0) / (a1 - a0)
    return None  # unreachable for a front (accuracy rises with latency)


def probability_spread(probabilities: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(mean, max) over blocks of how far the most probable op stands above
    uniform (max p - 1/N): how decided a search ended."""
    gaps = [max(p) - 1.0 / len(p) for p in probabilities]
    return sum(gaps) / len(gaps), max(gaps)


def best_pass(passes: Sequence[float]) -> float:
    """The figure kept from several passes: the lowest (others only add time)."""
    return min(passes)



# The comparison of a run ---------------------------------------------------------


def summarize(rows: list[dict]) -> dict:
    """The comparison: each searched net against the MobileNetV2 front (and
    against all baselines) at matched latency and matched accuracy."""
    point = lambda r: (r["latency"]["median_ms"], r["exports"]["int8"]["tflite_top1"])
    searched = [r for r in rows if r["kind"] == "searched"]
    mbv2_points = [point(r) for r in rows if r["kind"] == "mobilenet_v2"]
    mbv2 = pareto_front(mbv2_points)
    slowest = max((p[0] for p in mbv2_points), default=None)
    baselines = [r for r in rows if r["kind"] != "searched"]
    out = []
    for r in searched:
        lat, acc = point(r)
        base_acc = accuracy_at(mbv2, lat, slowest)
        base_lat = latency_at(mbv2, acc)
        dominated_by = [b["name"] for b in baselines
                        if point(b)[0] <= lat and point(b)[1] >= acc]
        out.append({"name": r["name"], "latency_ms": lat, "top1": acc,
                    "mbv2_top1_at_latency": base_acc,
                    "gain_points": None if base_acc is None else 100 * (acc - base_acc),
                    "mbv2_latency_at_top1": base_lat,
                    "speedup": None if base_lat is None else base_lat / lat,
                    "dominated_by": dominated_by})
    return {"mbv2_front": mbv2, "searched": out}


def across_seeds(rows: list[dict], per_seed: dict[int, dict]) -> list[dict]:
    """Each net over the seeds: mean latency and top-1 with their spread; for a
    searched net also its gain over the same seed's MobileNetV2 front at its
    latency (and speed-up at its top-1), averaged over the seeds with a
    standard error (the seeds are independent runs of the whole method)."""
    def stats(values):
        values = [v for v in values if v is not None]
        if not values:
            return None
        sd = statistics.stdev(values) if len(values) > 1 else None
        return {"mean": statistics.fmean(values), "sd": sd, "n": len(values),
                "se": None if sd is None else sd / len(values) ** 0.5}

    by_name = {c["name"]: c for summary in per_seed.values() for c in summary["searched"]}
    out = []
    for base in dict.fromkeys(r["base"] for r in rows):
        part = [r for r in rows if r["base"] == base]
        cmp_ = [by_name[r["name"]] for r in part if r["name"] in by_name]
        out.append({"name": base, "kind": part[0]["kind"], "group": part[0]["group"],
                    "short": part[0]["short"], "seeds": [r["seed"] for r in part],
                    "latency_ms": stats([r["latency"]["median_ms"] for r in part]),
                    "top1": stats([r["exports"]["int8"]["tflite_top1"] for r in part]),
                    "gain_points": stats([c["gain_points"] for c in cmp_]) if cmp_ else None,
                    "speedup": stats([c["speedup"] for c in cmp_]) if cmp_ else None})
    return out


def _mean_sd(stat: dict | None, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    if stat is None:
        return "-"
    text = f"{scale * stat['mean']:.{digits}f}{unit}"
    return text + (f" +/- {scale * stat['sd']:.{digits}f}" if stat["sd"] is not None else "")


def seeds_section(across: list[dict], seeds: list[int], means_plot: str) -> list[str]:
    """The comparison of the means over the seeds, and its verdict
    (`means_plot`: the file name of the means plot, shown in it)."""
    lines = ["", f"### Over the {len(seeds)} seeds ({', '.join(map(str, seeds))})", "",
             "Every search and every training was repeated with each seed (its own data "
             "subset, initialisation and path sampling; a searched net's arch may differ per "
             "seed: the method is what is repeated). Means +/- standard deviation over the "
             "seeds; *gain* is a searched net's top-1 minus the same seed's MobileNetV2 front "
             "at its measured latency, *speed-up* the front's latency at its top-1 over its "
             "own, each averaged over the seeds where defined (n), with the standard error "
             "of that mean.", "",
             f"![means over the seeds]({means_plot})", "",
             "| net | kind | int8 latency ms | int8 top-1 | gain (points), n, s.e. | "
             "speed-up, n, s.e. |", "|---|---|---:|---:|---:|---:|"]
    for a in sorted(across, key=lambda a: a["latency_ms"]["mean"]):
        g, sp = a["gain_points"], a["speedup"]
        gain = "-" if g is None else (f"{g['mean']:+.2f}, {g['n']}, "
                                      + ("-" if g["se"] is None else f"{g['se']:.2f}"))
        speed = "-" if sp is None else (f"{sp['mean']:.2f}x, {sp['n']}, "
                                        + ("-" if sp["se"] is None else f"{sp['se']:.2f}"))
        lines.append(f"| {a['name']} | {a['kind']} | {_mean_sd(a['latency_ms'], digits=3)} | "
                     f"{_mean_sd(a['top1'], 100, unit='%')} | {gain} | {speed} |")
    lines += ["", "### Verdict over the seeds", ""]
    shown = True
    for a in (a for a in across if a["kind"] == "searched"):
        g = a["gain_points"]
        if g is None or g["se"] is None:
            lines.append(f"- {a['name']}: fewer than two seeds inside the MobileNetV2 latency "
                         "range; no verdict.")
            shown = False
            continue
        if g["n"] < len(a["seeds"]):
            lines.append(f"- {a['name']}: inside the MobileNetV2 latency range with {g['n']} "
                         f"of its {len(a['seeds'])} seeds; a mean over those alone would leave "
                         "out seeds by their outcome: no verdict.")
            shown = False
            continue
        if g["mean"] > 2 * g["se"]:
            word = "more accurate than MobileNetV2 at matched latency (mean gain above 2 s.e.)"
        elif g["mean"] < -2 * g["se"]:
            word = "less accurate than MobileNetV2 at matched latency (mean gain below -2 s.e.)"
            shown = False
        else:
            word = "not resolved: the mean gain is within 2 s.e. of zero"
            shown = False
        lines.append(f"- {a['name']}: gain {g['mean']:+.2f} points +/- {g['se']:.2f} s.e. over "
                     f"{g['n']} seeds: {word}.")
    lines.append("- The goal (every searched net more accurate than MobileNetV2 at matched "
                 f"latency, beyond the seed noise): {'shown' if shown else 'NOT shown'} by "
                 "this run.")
    return lines



def verdict(summary: dict) -> list[str]:
    """Plain statements from the measured comparison (no judgement added)."""
    out = []
    cs = summary["searched"]
    at_lat = [c for c in cs if c["gain_points"] is not None]
    wins = [c for c in at_lat if c["gain_points"] > 0.5]
    losses = [c for c in at_lat if c["gain_points"] < -0.5]
    out.append(f"- Matched latency: {len(at_lat)} of {len(cs)} searched nets fall inside the "
               f"MobileNetV2 latency range; {len(wins)} are more accurate by more than 0.5 "
               f"points, {len(losses)} less accurate by more than 0.5 points, "
               f"{len(at_lat) - len(wins) - len(losses)} within 0.5 points.")
    at_acc = [c for c in cs if c["speedup"] is not None]
    faster = [c for c in at_acc if c["speedup"] > 1.05]
    out.append(f"- Matched accuracy: {len(at_acc)} searched nets reach a top-1 that some width "
               f"reaches; {len(faster)} of them run more than 5% faster than MobileNetV2 at "
               f"that top-1" + (" (speed-ups " + ", ".join(f"{c['speedup']:.2f}x" for c in at_acc)
                                + ")" if at_acc else "") + ".")
    dominated = [c for c in cs if c["dominated_by"]]
    out.append(f"- {len(dominated)} of {len(cs)} searched nets are dominated (slower and less "
               "accurate, or equal) by a baseline" + (
                   ": " + "; ".join(f"{c['name']} by {', '.join(c['dominated_by'])}"
                                    for c in dominated) if dominated else "") + ".")
    return out
