"""Kernel probes: single-op models at sampled shapes, measured into a table
so that its op model can predict nets outside the search space.

The search space's blocks hold only 1x1 convs, depthwise convs, one stem
conv, an add and the classifier. Real mobile nets also run hard-swish,
swish, sigmoid, squeeze-and-excitation multiplies, max pooling, concatenation,
wide regular convs and softmax. `probe_ops` samples each op type over the
shapes such nets have at inputs of 32 to 224 pixels (a fixed seed, so a
resumed build measures the same probes); `pxnas latency build --probes`
adds their keys (`pxnas_tf.latency.model.ops.op_key`) to the table, and the
op model fits one cost model per op type from them together with the
space's blocks.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from pxnas_tf.latency.model import op_model
from pxnas_tf.latency.model.ops import Op, op_key, ops_of_key
from pxnas_tf.latency.model.table import LatencyTable
from pxnas_tf.search_space.space import conv_out_size

SIZES = (1, 2, 3, 4, 5, 7, 8, 10, 14, 16, 20, 28, 32, 40, 56, 64, 80, 112)
CHANNELS = (3, 8, 16, 24, 32, 40, 48, 64, 72, 96, 120, 144, 192, 240, 288, 320, 384, 480,
            576, 672, 960, 1024, 1280)
# Bump when the sampled set or a probe's model changes (3: add_s, mul_s; 4: swish, 1x1
# convs at 1-4 pixels, more fc and pool probes, and same-shape add / mul of two
# activations, x (+|*) x, where a constant operand ran another, 4x slower int8 MUL
# kernel than a net's activations do; 5: the constant of add_s / mul_s is a Rescaling's, not
# a random draw, which could send an int8 ADD to a 30x slower kernel; 6: 8 depthwise
# probes per kernel and stride).
PROBES_VERSION = 6
MAX_MACS = 40e6      # a probe runs well under a few ms
# Stems (a regular conv of the 1- or 3-channel image) run another kernel
# than convs of many channels and have their own coefficients
# (`op_model.group_of`); they are sampled at image sizes.
MAX_ELEMS = 400_000  # element-wise probes: up to 80x80x64 or so
# How many probes of each type: more for the types whose cost depends on
# more than their element count.
# Depthwise convs: each kernel and stride has its own coefficients (`op_model.group_of`),
# so each gets its own probes (a 36-probe draw over all of them had left 7x7 stride 2
# with 2 probes for 6 coefficients, and 3x3 stride 2 with 5 at small maps only).
DW_GROUPS = tuple(f"dw{k}_s{s}" for k in (3, 5, 7) for s in (1, 2))
COUNTS = {"conv1x1": 40, "gemv": 24, "convkxk": 24, "stem": 12, "gconv": 8,
          **{g: 8 for g in DW_GROUPS}, "fc": 16, "pool": 16,
          "avgpool": 8, "maxpool": 8, "pad": 8, "add": 12, "mul": 12, "add_s": 6, "mul_s": 6,
          "concat": 8,
          "hswish": 10, "swish": 10, "sigmoid": 10, "act": 8, "softmax": 6, "reshape": 6}
# A probe whose one pass lies this far off the op model's fit gets passes
# until two agree (`suspect_probes`).
SUSPECT_FACTOR = 2.0


def _pick(rng, values, low=None, high=None):
    values = [v for v in values if (low is None or v >= low) and (high is None or v <= high)]
    return int(values[rng.integers(len(values))])


def _sample(kind: str, rng) -> Op | None:
    h = _pick(rng, SIZES)
    c = _pick(rng, CHANNELS, low=8)
    if kind == "gemv":  # a 1x1 conv at 1 or 2x2 pixels (squeeze-and-excitation, the last stages)
        h = _pick(rng, (1, 1, 2))
        cin, cout = _pick(rng, CHANNELS, low=8), _pick(rng, CHANNELS, low=8)
        return Op("conv", (h, h, cin), (h, h, cout))
    if kind in ("conv1x1", "convkxk", "stem", "gconv"):
        k = 1 if kind == "conv1x1" else _pick(rng, (1, 3)) if kind == "gconv" \
            else _pick(rng, (3, 3, 3, 5))
        s = 1 if kind == "conv1x1" else _pick(rng, (1, 2, 2)) if kind == "stem" \
            else _pick(rng, (1, 2))
        h = max(_pick(rng, (16, 28, 32, 48, 64, 80, 96, 112, 128, 160)) if kind == "stem" else h, k)
        cin = (_pick(rng, (1, 3)) if kind == "stem" else
               _pick(rng, (8, 16, 24, 32, 64, 96, 128)) if kind == "convkxk" else c)
        groups = _pick(rng, (2, 4, 8)) if kind == "gconv" else 1
        cout = _pick(rng, CHANNELS, low=8, high=256 if kind in ("convkxk", "stem") else None)
        if kind == "gconv":
            cin, cout = -(-cin // (8 * groups)) * 8 * groups, -(-cout // (8 * groups)) * 8 * groups
        out = (conv_out_size(h, k, s), conv_out_size(h, k, s), cout)
        op = Op("conv", (h, h, cin), out, k, s, groups)
        return op if op.macs <= MAX_MACS else None
    if kind in DW_GROUPS:
        k, s = (int(x) for x in kind[2:].split("_s"))
        # Half at maps of 1-5 pixels (the last stages of nets at 32-64 pixels, where the
        # weights, not the pixels, set the time), a 1x1 map too for stride 1.
        if rng.integers(2):
            h = _pick(rng, SIZES[:5])
        h = max(h, s)
        op = Op("dwconv", (h, h, c), (conv_out_size(h, k, s), conv_out_size(h, k, s), c), k, s)
        return op if op.in_elems <= 2 * MAX_ELEMS else None
    if kind == "fc":
        return Op("fc", (c,), (_pick(rng, (10, 16, 100, 128, 256, 1000, 1024)),))
    if kind == "softmax":
        n = _pick(rng, (10, 16, 100, 256, 1000, 1024))
        return Op("softmax", (n,), (n,))
    if h * h * c > MAX_ELEMS:
        return None
    if kind == "pool":
        return Op("pool", (h, h, c), (c,), h)
    if kind in ("avgpool", "maxpool"):
        k, s = _pick(rng, (2, 3)), _pick(rng, (1, 2, 2))
        h = max(h, 4)
        out = (h - k) // s + 1
        return Op(kind, (h, h, c), (out, out, c), k, s)
    if kind == "pad":
        return Op("pad", (h, h, c), (h + 1, h + 1, c))
    if kind == "concat":
        return Op("concat", (h, h, c), (h, h, 2 * c))
    if kind == "reshape":
        return Op("reshape", (h, h, c), (1, h * h, c))
    if kind in ("add_s", "mul_s"):  # a constant number, as in a Rescaling layer on an image
        h, c = _pick(rng, (32, 64, 96, 128, 160, 224)), _pick(rng, (1, 3, 8, 16, 32))
        return Op(kind[:3], (h, h, c), (h, h, c), scalar=True)
    broadcast = kind in ("add", "mul") and bool(rng.integers(2))
    return Op(kind, (h, h, c), (h, h, c), broadcast=broadcast)


def probe_ops(seed: int = 0) -> list[Op]:
    """The probes, `COUNTS` of each type, distinct, in a fixed order (each
    type from its own random stream, so that changing one count leaves the
    other types' probes, and their measurements, as they are)."""
    out: dict[Op, None] = {}
    for kind, count in COUNTS.items():
        rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
        found = 0
        for _ in range(50 * count):
            op = _sample(kind, rng)
            if op is not None and op not in out:
                out[op] = None
                found += 1
                if found == count:
                    break
    return list(out)


def probe_keys(seed: int = 0) -> list[str]:
    """The table keys of `probe_ops`."""
    return [op_key(op) for op in probe_ops(seed)]


def outdated_probe_keys(version: int | None, seed: int = 0) -> list[str]:
    """The probe keys that a table measured with probes of `version` holds
    with another model than today's, to measure again: before version 4 a
    same-shape ADD or MUL multiplied by a constant tensor, before version 5
    an ADD or MUL of a random single number (None: a table without probes,
    nothing to forget)."""
    if version is None or version >= PROBES_VERSION:
        return []
    return [op_key(op) for op in probe_ops(seed)
            if op.type in ("add", "mul") and (
                (version < 4 and not (op.broadcast or op.scalar)) or op.scalar)]


def suspect_probes(table: LatencyTable, keys: Sequence[str]) -> list[str]:
    """The probes of `keys` whose value lies more than `SUSPECT_FACTOR` off
    the op model fit on the whole table (both sides with
    `op_model.REL_FLOOR_MS` added, so that sub-microsecond ops' noise does
    not count).

    With ``--probe_passes=1`` a probe settles on one clean pass. A pass
    that the machine slowed as a whole can still look clean: a fresh
    int8 build of 2026-12-06 stored 33.5 us for a 128x128x1 ADD of a
    constant that runs in 1.1-1.3 us, and the fit of every ADD of a
    constant followed it (an int8 Rescaling predicted at 2.3x). Such a
    probe then needs passes that agree, like the space's keys.
    """
    try:
        model = op_model.fit_table(table, keys=list(table.keys()))
    except op_model.OpModelError:
        return []
    floor = op_model.REL_FLOOR_MS
    out = []
    for key in keys:
        if key not in table:
            continue
        try:
            predicted = model.predict_ops(ops_of_key(key), add_overhead=False).ms
        except op_model.OpModelError:
            continue  # its op type has no row in the fit (a value at 0 ms): nothing to judge
        ratio = ((table.value(key, table.default_stat) + floor) / (predicted + floor))
        if not 1 / SUSPECT_FACTOR <= ratio <= SUSPECT_FACTOR:
            out.append(key)
    return out
