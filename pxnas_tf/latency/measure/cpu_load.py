"""How busy this machine is apart from the measuring process (Linux /proc).

Latency measured while other processes run is not the target's latency: on
a 2-core VM one busy process elsewhere can triple an inference time. The
host runner therefore times rounds only while the rest of the machine is
idle: `LoadMonitor.other_cpus` returns the CPUs' worth of time that other
processes (and the hypervisor, as steal time) used since the last call.
Elsewhere than Linux it reports 0 (no gating).
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

    def other_cpus(self) -> float:
        now = self._sample()
        (t0, m0, s0), (t1, m1, s1) = self._last, now
        self._last = now
        if not self.enabled or t1 - t0 <= 0:
            return 0.0
        return busy_other_than_self(m1 - m0, s1 - s0) / (t1 - t0)

    def reset(self) -> None:
        self._last = self._sample()
