"""The footprint factor: ops run slower inside a net that outgrows the caches.

The in-net factors (`op_model.fit_in_net`) scale each op family's time
inside a whole net. They do not see the net's size: on a 2-vCPU EPYC VM
that reports a 32 MB L3, float32 nets whose footprint F (weights plus
written tensors, `streaming.footprint_bytes`) passes about 8 MB run slower
than their ops alone by a share that grows with F (random nets as large as
the keras.applications ones: -2% at 8-9 MB, -9% at 12 MB, -15% at 17 MB,
-22% at 28-31 MB; docs/benchmarks/latency_foreign.md). Each op's data then
comes from further away. So a net's ops, after their in-net factors, are
scaled by

    1 + s * max(0, F_MB - F0_MB),   F0 = last-level cache / 4

with s fit (least squares on relative errors, at least 0) to the random
nets of the in-net calibration, after their family factors (which are fit
to the nets below `LARGE_SEED0` only). F0 was chosen
on the tuning nets among LLC / 8, 3 LLC / 16, LLC / 4, 5 LLC / 16, 3 LLC / 8
and LLC / 2; int8 nets (at most 9 MB here) stay below it.
"""

from __future__ import annotations

from typing import Sequence

FROM_LLC_SHARE = 0.25  # F0 as a share of the last-level cache
MIN_NETS = 4           # nets past F0 that a slope needs
# The in-net calibration's random nets from this seed on are large ones
# (`pxnas_tf.latency.build.foreign_nets`): s is fit on all of them, the family
# factors on the others only (with the large nets in their fit, int8 test nets
# went from 93% to 79% within 10%).
LARGE_SEED0 = 2000


def is_large(spec: str) -> bool:
    """Whether an in-net spec ``synth_s<seed>@<size>`` is one of the large nets."""
    try:
        return int(spec.split("_s", 1)[1].split("@", 1)[0]) >= LARGE_SEED0
    except (IndexError, ValueError):
        return False


def threshold_mb(caches: dict | None) -> float | None:
    """F0 in MB for a target's caches (None where its caches are unknown)."""
    return FROM_LLC_SHARE * max(caches.values()) / 1e6 if caches else None


def factor(footprint_mb: float, per_mb: float, from_mb: float) -> float:
    """The factor on a net's ops of `footprint_mb`."""
    return 1.0 + per_mb * max(0.0, footprint_mb - from_mb)


def fit(nets: Sequence[tuple[float, float, float, float]], from_mb: float) -> float:
    """s from nets given as (ops ms after their in-net factors, other ms
    (overhead, streaming), measured ms, footprint MB): the least-squares
    slope of the relative residual on `ops ms * max(0, F - from_mb) / ms`,
    at least 0; 0 when fewer than `MIN_NETS` nets pass `from_mb` (int8 here:
    one random net of 80 does, and a slope through it alone would reach
    nets twice its size). Pure."""
    if sum(mb > from_mb for *_, mb in nets) < MIN_NETS:
        return 0.0
    num = den = 0.0
    for ops_ms, other_ms, ms, footprint_mb in nets:
        h = ops_ms * max(0.0, footprint_mb - from_mb) / ms
        num += h * (ms - ops_ms - other_ms) / ms
        den += h * h
    return max(0.0, num / den) if den > 0 else 0.0
