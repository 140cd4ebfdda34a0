"""The machine's state while nets are validated, against its state during the build.

A prediction is a table's: the target as it ran while the table was built.
On a shared VM the same model files run at other speeds hours later, and
not all by one factor: other tenants' load, invisible to /proc/stat, takes
CPU time from every model, and their memory traffic takes the last-level
cache from the models that need it. The same float32 nets' lowest passes on
this host's 2-vCPU EPYC, in five runs over a day (2026-12-06): small nets
(under 1 MB) within 0.97-1.07 of each other, nets of 10-30 MB 0.92-1.41.

So a validation times, with its nets and interleaved with them, two sets of
the table's own models whose build-time values the table holds:

- ``keys``: the table keys of its in-net drift reference
  (`in_net.reference_keys`): blocks and probes that run in the caches;
- ``nets``: its large random in-net nets (`in_net.NUM_LARGE`), as large as
  the keras.applications nets: the cache-sized ones.

Each kind's `speeds` is the median, over its models, of their lowest pass
now over their value in the table. A validation whose machine runs more
than `TOL` slower than during the build takes up to `EXTRA_PASSES` more
passes of everything, `PAUSE_S` apart (the lowest pass is the quiet
machine's time), and reports the state it ends in (`verdict`): its errors
include it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

from pxnas_tf.latency.build import block_models, in_net

TOL = 0.05
EXTRA_PASSES = 2
PAUSE_S = 60.0
KINDS = {"keys": "small models", "nets": "cache-sized nets"}


@dataclasses.dataclass(frozen=True)
class Reference:
    """One model of the table timed again with the validation nets.

    Attributes:
        name: ``ref:<key>`` or ``ref:<spec>`` (never a validation net's name).
        path: its ``.tflite`` file (from the table's build).
        build_ms: its value in the table (the key's lowest pass, the net's
            ``ms`` in the in-net record).
        kind: ``"keys"`` or ``"nets"``.
    """

    name: str
    path: str
    build_ms: float
    kind: str


def references(in_net_record: Mapping | None, models_dir: str, precision: str,
               stem_kernel: int = block_models.DEFAULT_STEM_KERNEL) -> list[Reference]:
    """The reference models of a table from its in-net record (its drift
    reference keys and its large nets) whose files are still in `models_dir`
    (``TABLE.models/PRECISION``); none for a table without one."""
    record = in_net_record or {}
    out = []
    for key, ref in sorted((record.get("reference") or {}).items()):
        path = os.path.join(models_dir, block_models.file_name(key, stem_kernel))
        if ref.get("table_ms", 0) > 0 and os.path.isfile(path):
            out.append(Reference(f"ref:{key}", path, float(ref["table_ms"]), "keys"))
    nets = record.get("nets") or {}
    for spec in in_net.specs(0, in_net.NUM_LARGE):
        path = in_net.net_path(os.path.join(models_dir, "in_net"), spec, precision)
        if (nets.get(spec) or {}).get("ms", 0) > 0 and os.path.isfile(path):
            out.append(Reference(f"ref:{spec}", path, float(nets[spec]["ms"]), "nets"))
    return out


def speeds(refs: Sequence[Reference], runs: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Pure: kind -> the median over its references of (lowest pass now) /
    (value in the table) (`in_net.drift`'s rule); kinds without a timed
    reference are left out."""
    by_kind: dict[str, dict] = {}
    for ref in refs:
        if runs.get(ref.name):
            by_kind.setdefault(ref.kind, {})[ref.name] = {"runs": runs[ref.name],
                                                          "table_ms": ref.build_ms}
    return {kind: in_net.drift(timed) for kind, timed in by_kind.items()}


def is_slower(state: Mapping[str, float], tol: float = TOL) -> bool:
    """Pure: the machine runs more than `tol` slower than during the build
    on some kind of reference."""
    return any(v > 1.0 + tol for v in state.values())


def verdict(state: Mapping[str, float], tol: float = TOL) -> str:
    """Pure: what a state more than `tol` off the build's means for the
    figures measured in it (``""`` within `tol`)."""
    if is_slower(state, tol):
        return (f"the machine ran more than {tol:.0%} slower than during the build: the errors "
                "include it (run again later: the passes resume and the lowest is kept)")
    if any(v < 1.0 - tol for v in state.values()):
        return (f"the machine ran more than {tol:.0%} faster than during the build: the table was "
                "measured in a slow spell and predicts high by about that much (build it again "
                "on a quiet machine)")
    return ""


def describe(state: Mapping[str, float]) -> str:
    """``"small models x1.02, cache-sized nets x1.15 of their times in the
    table"`` (or a sentence saying no reference was timed)."""
    if not state:
        return "no reference models (a table without in-net nets or its models folder)"
    parts = [f"{KINDS.get(kind, kind)} x{state[kind]:.3f}" for kind in KINDS if kind in state]
    return ", ".join(parts) + " of their times in the table"


def interleave(names: Sequence[str], refs: Sequence[str]) -> list[str]:
    """Pure: `names` with `refs` spread evenly among them (so that a slow
    spell lands on references and nets alike)."""
    at: dict[int, list[str]] = {}
    for j, ref in enumerate(refs):
        at.setdefault(round(j * len(names) / len(refs)), []).append(ref)
    out = []
    for i, name in enumerate(names):
        out += at.pop(i, [])
        out.append(name)
    return out + [ref for rest in at.values() for ref in rest]
