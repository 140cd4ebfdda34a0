"""Resident memory of block models: what each layer makes the runtime hold.

A block timed alone keeps everything it touches in the CPU caches between
invokes. Inside a whole net, every other layer's memory passes through the
caches too, so once the net's memory outgrows them each layer reads its own
from further away (`pxnas_tf.latency.model.streaming` prices that). The memory that
matters is not the file's weights but what the *runtime* allocates and
touches for the layer: its packed weights, and whatever buffers its kernels
keep. Those can be far larger than the weights: LiteRT 2.3.0's XNNPACK
gives an int8 7x7 depthwise op at 1x1x192 about 2.5 MB where its file holds
9 KB (docs/benchmarks/history.md (latency_xeon)), and such layers are exactly the ones
whole nets run slower than their table entries.

So a build also records, per key, the anonymous resident memory that
loading, preparing and invoking its block model adds to a process
(``RssAnon`` of /proc/self/status: the interpreter's heap and the runtime's
buffers; the memory-mapped model file is not counted, since XNNPACK works
from its packed copy), net of what the identity model of the same input
shape adds (the interpreter's own share, which a net pays once). Models
are loaded one after another in a fresh worker process that keeps every
interpreter alive, so no layer is handed memory another one freed; a
model's figure is the growth its own load caused.

On a phone, ``benchmark_model`` reports the same quantity as its memory
footprint delta (``overall``), which the adb and linux runners keep.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from typing import Sequence

from pxnas_tf.errors import PxnasError

FORMAT = "pxnas_tf.footprint/v1"
METHOD = ("RssAnon growth of a fresh process while it loads, allocates and invokes (x2) the "
          "block model, minus that of the identity model of the same input shape")
WORKER_BATCH = 24  # models per worker process (their interpreters stay alive together)
WORKER_TIMEOUT_S = 600

_WORKER = r"""
import json, sys
import numpy as np
from ai_edge_litert import interpreter as litert

def rss_anon():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no RssAnon in /proc/self/status')

threads, xnnpack = int(sys.argv[1]), sys.argv[2] == '1'
resolver = (litert.OpResolverType.AUTO if xnnpack
            else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
keep = []
for path in sys.argv[3:]:
    before = rss_anon()
    it = litert.Interpreter(model_path=path, num_threads=threads,
                            experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d['index'], np.zeros(d['shape'], d['dtype']))
    it.invoke(); it.invoke()
    keep.append(it)
    print(json.dumps({'path': path, 'bytes': rss_anon() - before}), flush=True)
"""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class FootprintError(PxnasError, RuntimeError):
    """The worker process failed; the message quotes it."""


def resident_bytes(paths: Sequence[str], threads: int = 1, xnnpack: bool = True,
                   batch: int = WORKER_BATCH) -> dict[str, int]:
    """{path: bytes of anonymous resident memory its load, allocation and
    two invokes added} for every `.tflite` in `paths` (LiteRT on this CPU,
    XNNPACK or the builtin kernels).

    Raises:
        FootprintError: a worker crashed or timed out (its output is quoted).
    """
    paths = list(paths)
    for p in paths:
        if not os.path.isfile(p):
            raise FootprintError(f"model file {p!r} does not exist")
    chunks = [paths[i:i + batch] for i in range(0, len(paths), batch)]

    def run(chunk: list[str]) -> dict[str, int]:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _WORKER, str(threads), "1" if xnnpack else "0", *chunk],
                capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise FootprintError(f"measuring the resident memory of {len(chunk)} models took more "
                                 f"than {WORKER_TIMEOUT_S} s; is the machine swapping?") from None
        found = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                doc = json.loads(line)
                found[doc["path"]] = int(doc["bytes"])
        if proc.returncode != 0 or any(p not in found for p in chunk):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-8:])
            raise FootprintError(f"the resident-memory worker failed (exit {proc.returncode}) on "
                                 f"{[p for p in chunk if p not in found][:3]}:\n{tail}")
        return found

    # Each worker is its own process (its memory is its own): one per core at once.
    out: dict[str, int] = {}
    with concurrent.futures.ThreadPoolExecutor(max(1, min(_cores(), len(chunks)))) as pool:
        for found in pool.map(run, chunks):
            out.update(found)
    return out
