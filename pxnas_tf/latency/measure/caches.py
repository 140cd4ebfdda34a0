"""The CPU caches of this machine (sysfs), which the weight-streaming and
context terms of the latency model are sized by."""

from __future__ import annotations

import os
import re

SYSFS_CACHES = "/sys/devices/system/cpu/cpu0/cache"


def parse_size(text: str) -> int:
    """``"512K"`` / ``"8192K"`` / ``"32M"`` / ``"1048576"`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a cache size: {text!r}")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(m.group(1)) * scale


def cpu_caches(root: str = SYSFS_CACHES) -> dict[str, int]:
    """Data / unified cache sizes of CPU 0 by level (``{"L1": .., "L2": ..,
    "L3": ..}``, bytes) from sysfs; {} where sysfs does not say."""
    out: dict[str, int] = {}
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return out
    for entry in entries:
        folder = os.path.join(root, entry)
        try:
            with open(os.path.join(folder, "type"), encoding="utf-8") as f:
                kind = f.read().strip()
            with open(os.path.join(folder, "level"), encoding="utf-8") as f:
                level = int(f.read().strip())
            with open(os.path.join(folder, "size"), encoding="utf-8") as f:
                size = parse_size(f.read())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified"):
            out[f"L{level}"] = size
    return out
