"""The targets of bench/specialization.py and the arithmetic of its verdicts
(kept apart from the steps so that tests check them on made-up figures).
The tf runner's timing of Keras models runs in a child process of its own
(`pxnas_tf.latency.measure.tf_runner.time_keras_files_in_child`).

A target is a runtime on this machine with its own costs: LiteRT files on
the host runner (precision, threads, XNNPACK or the builtin kernels, batch 1)
or Keras models in the TensorFlow runtime (`tf:cpu`, batched).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class Target:
    """One measuring target.

    Attributes:
        name: its name in --targets.
        precision: ``int8`` (full-integer files) or ``float32``.
        threads: inference threads (tf: TensorFlow's intra-op threads).
        xnnpack: LiteRT's XNNPACK delegate (host only; else its builtin kernels).
        runner: ``host`` (LiteRT files) or ``tf:cpu`` (Keras models).
        batch: inference batch size.
        label: how the report names it.
    """

    name: str
    precision: str
    threads: int
    xnnpack: bool
    runner: str
    batch: int
    label: str

    @property
    def mode(self) -> str:
        """The export whose file it times and whose top-1 speaks for it."""
        return "int8" if self.precision == "int8" else "float32"

    @property
    def is_tf(self) -> bool:
        return self.runner.startswith("tf:")

    def describe(self) -> str:
        """What is timed, for the report."""
        if self.is_tf:
            return (f"the trained Keras models in the TensorFlow runtime on this CPU "
                    f"(`{self.runner}`, graph mode, {self.threads} intra-op thread(s)), float32, "
                    f"batch {self.batch} (ms per batch of {self.batch})")
        kernels = "XNNPACK" if self.xnnpack else "LiteRT's builtin kernels (no XNNPACK)"
        files = "int8 full-integer" if self.mode == "int8" else "float32"
        return f"LiteRT, the {files} files, {self.threads} thread(s), {kernels}, batch 1"


KINDS = {t.name: t for t in [
    Target("int8_t1", "int8", 1, True, "host", 1, "int8, 1 thread"),
    Target("float32_t2", "float32", 2, True, "host", 1, "float32, 2 threads"),
    Target("int8_t1_builtin", "int8", 1, False, "host", 1, "int8, 1 thread, builtin kernels"),
    Target("float32_t2_builtin", "float32", 2, False, "host", 1,
           "float32, 2 threads, builtin kernels"),
    Target("tf_b8", "float32", 1, True, "tf:cpu", 8, "TensorFlow, float32, batch 8, 1 thread"),
]}
DEFAULT = ("int8_t1", "float32_t2_builtin", "tf_b8")
LETTERS = "ABCDEFGH"


def parse_targets(names: Sequence[str]) -> list[Target]:
    """The targets named (at least two, each once, in the order given).

    Raises:
        ValueError: one line naming the bad value and the choices.
    """
    names = [n.strip() for n in names if n.strip()]
    choices = ", ".join(KINDS)
    for n in names:
        if n not in KINDS:
            raise ValueError(f"--targets: unknown target {n!r}; choose from {choices}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"--targets names {', '.join(twice)} twice; each target once")
    if len(names) < 2:
        raise ValueError(f"--targets needs at least two targets, got {names or 'none'}; "
                         f"choose from {choices}")
    if len(names) > len(LETTERS):
        raise ValueError(f"--targets takes at most {len(LETTERS)} targets, got {len(names)}")
    return [KINDS[n] for n in names]


def letter(targets: Sequence[Target], target: Target) -> str:
    return LETTERS[list(targets).index(target)]


def seed_suffix(seed: int) -> str:
    """Records of seed 0 carry no suffix (the single-seed runs' names), others _s<seed>."""
    return "" if seed == 0 else f"_s{seed}"


# Verdicts -------------------------------------------------------------------------

def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fastest(column: dict[str, float]) -> set[str]:
    """The keys of the lowest value (all of them on a tie)."""
    low = min(column.values())
    return {k for k, v in column.items() if v == low}


def speed_verdict(target: Target, column: dict[str, float], labels: dict[str, str]) -> tuple[
        bool, str]:
    """Whether the net searched for `target` is the fastest on it (`column`:
    net's target name -> measured ms on `target`), and the report's line."""
    own = column[target.name]
    others = {k: v for k, v in column.items() if k != target.name}
    rival = min(others, key=others.get)
    if own < others[rival]:
        return True, (f"its own net is the fastest: {own:.3f} ms, {others[rival] / own:.2f}x "
                      f"faster than the next, the net for {labels[rival]} "
                      f"({others[rival]:.3f} ms)")
    return False, (f"its own net is NOT the fastest: {own:.3f} ms, the net for {labels[rival]} "
                   f"takes {others[rival]:.3f} ms ({own / others[rival]:.2f}x faster)")


def accuracy_gap(own: Sequence[float], other: Sequence[float]) -> tuple[float, float | None]:
    """(mean gap in points, two standard errors of that gap in points; None
    with fewer than two seeds on either side)."""
    gap = 100 * (statistics.fmean(own) - statistics.fmean(other))
    if len(own) < 2 or len(other) < 2:
        return gap, None
    se = math.sqrt(statistics.variance(own) / len(own) + statistics.variance(other) / len(other))
    return gap, 200 * se


def accuracy_verdict(target: Target, top1: dict[str, list[float]],
                     labels: dict[str, str]) -> tuple[bool, str]:
    """Is the net searched for `target` as accurate as the others (`top1`:
    net's target name -> its top-1 per seed, in the target's precision)
    within the seed noise (two standard errors of each gap)? The line
    names every gap."""
    parts, comparable = [], True
    for k, values in top1.items():
        if k == target.name:
            continue
        gap, noise = accuracy_gap(top1[target.name], values)
        if noise is None:
            parts.append(f"{gap:+.2f} points against the net for {labels[k]} (one seed: no "
                         "seed noise to compare with)")
            comparable = False
            continue
        word = ("within the seed noise" if abs(gap) <= noise else
                "more accurate beyond the seed noise" if gap > 0 else
                "LESS accurate beyond the seed noise")
        comparable &= gap >= -noise
        parts.append(f"{gap:+.2f} points against the net for {labels[k]} (noise "
                     f"+/-{noise:.2f}: {word})")
    return comparable, "; ".join(parts)
