"""How busy this machine is apart from the measuring process (Linux /proc).

Latency measured while other processes run is not the target's latency: on
a 2-core VM one busy process elsewhere can triple an inference time. The
host runner therefore times rounds only while the rest of the machine is
idle: `LoadMonitor.other_cpus` returns the CPUs' worth of time that other
processes (and the hypervisor, as steal time) used since the last call, and
`LoadMonitor.busier_than` tells whether that exceeds a limit by more than
the counters' resolution. Elsewhere than Linux it reports 0 (no gating).

The counters count whole clock ticks (10 ms at the usual 100 Hz), so in a
30 ms round one tick of a kernel thread reads as 0.33 CPUs. On the 2-vCPU
VM of docs/benchmarks/latency_foreign.md that happened in 15% of 30 ms
windows of a quiet machine (0% of 100 ms windows): judged without the tick
forgiven, those rounds were thrown away and each cost a 0.2 s pause.
"""

from __future__ import annotations

import os
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_machine_busy() -> float | None:
    """Busy seconds of all CPUs together: user, nice, system, irq, softirq,
    steal (idle and iowait excluded)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(x) for x in fields[1:]]
    busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7) if i < len(values))
    return busy / _TICK


def _read_self_busy() -> float | None:
    """This process's user + system seconds, all threads."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def busy_other_than_self(machine: float, own: float) -> float:
    """Pure: machine busy seconds minus own busy seconds, floored at 0."""
    return max(0.0, machine - own)


def exceeds(other_s: float, elapsed_s: float, max_load: float, resolution_s: float) -> bool:
    """Pure: did others' `other_s` busy seconds in `elapsed_s` exceed
    `max_load` CPUs by more than one counter tick (`resolution_s`)?"""
    return other_s - resolution_s > max_load * elapsed_s


class LoadMonitor:
    """`other_cpus()`: CPUs' worth of time used by everything but this process
    since the previous call (or construction)."""

    def __init__(self):
        self.enabled = _read_machine_busy() is not None and _read_self_busy() is not None
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        if not self.enabled:
            return time.monotonic(), 0.0, 0.0
        return time.monotonic(), _read_machine_busy() or 0.0, _read_self_busy() or 0.0

    def _since_last(self) -> tuple[float, float]:
        """Others' busy seconds and the seconds elapsed since the last call."""
        now = self._sample()
        (t0, m0, s0), (t1, m1, s1) = self._last, now
        self._last = now
        if not self.enabled or t1 - t0 <= 0:
            return 0.0, 0.0
        return busy_other_than_self(m1 - m0, s1 - s0), t1 - t0

    def other_cpus(self) -> float:
        other_s, elapsed_s = self._since_last()
        return other_s / elapsed_s if elapsed_s > 0 else 0.0

    def busier_than(self, max_load: float) -> bool:
        """Whether others used more than `max_load` CPUs since the last call,
        one tick of the counters forgiven (see the module docstring)."""
        other_s, elapsed_s = self._since_last()
        return exceeds(other_s, elapsed_s, max_load, 1.0 / _TICK)

    def reset(self) -> None:
        self._last = self._sample()
