"""Converting many models at once: one worker process per core.

A table build converts hundreds of models (block models, kernel probes, the
in-net calibration's random nets) before it times any, and each conversion
runs on one core (about 0.2 s for a block model, 2 s for a net on the
host). Nothing is timed while they run, so the other cores may convert
too.

Workers are fresh interpreters (``python -m pxnas_tf.latency.build.convert_pool``):
a process forked from one that holds TensorFlow's threads is not safe, and
multiprocessing's ``spawn`` re-runs the caller's main script, which a user's
script need not guard. Each imports TensorFlow once (a few seconds), so a
pool is only started for `MIN_JOBS` jobs or more. A job is a module-level
function and JSON arguments; its result comes back as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from typing import Any, Callable, Sequence

from pxnas_tf.errors import PxnasError

MIN_JOBS = 24    # fewer jobs convert in this process (a worker's start costs seconds)
MAX_WORKERS = 4  # conversions also need memory: a few GB each for large nets
WORKERS_ENV = "PXNAS_CONVERT_WORKERS"  # set to 1 to convert in this process


class WorkerError(PxnasError, RuntimeError):
    """A worker process died without reporting its jobs."""


class WorkersSettingError(PxnasError, ValueError):
    """`WORKERS_ENV` is not a number of workers."""


def default_workers() -> int:
    """Worker processes: `WORKERS_ENV` if set, else the cores this process
    may use, at most `MAX_WORKERS`.

    Raises:
        WorkersSettingError: `WORKERS_ENV` is not a whole number.
    """
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise WorkersSettingError(f"{WORKERS_ENV}={value!r} is not a number of worker "
                                      "processes: set it to a whole number such as 1 or 2, or "
                                      "unset it (one worker per core)") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def run_all(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int | None = None,
            on_done: Callable[[int], None] | None = None) -> list:
    """``fn(*job)`` for every job: in worker processes when there are at
    least `MIN_JOBS` of them and more than one worker, else here.

    Args:
        fn: a module-level function of JSON arguments and result.
        jobs: its argument tuples.
        workers: worker processes (default: `default_workers`).
        on_done: called with a job's index as each finishes (a progress bar).

    Returns:
        The results, in the order of `jobs`.

    Raises:
        The exception `fn` raised (its class where it takes a message, else
        RuntimeError; of the lowest job index among the failures seen before
        the workers were stopped), or WorkerError when a worker died.
    """
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(jobs) < MIN_JOBS:
        results = []
        for i, job in enumerate(jobs):
            results.append(fn(*job))
            if on_done is not None:
                on_done(i)
        return results
    request = f"{fn.__module__}:{fn.__qualname__}"
    chunks = [[[i, list(jobs[i])] for i in range(w, len(jobs), workers)] for w in range(workers)]
    results: dict[int, Any] = {}
    errors: dict[int, tuple[str, str]] = {}
    lock = threading.Lock()
    procs = []
    try:
        for chunk in chunks:
            log = tempfile.TemporaryFile(mode="w+")
            proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, text=True,
                                    env=_worker_env())
            procs.append((proc, log, chunk))
        def stop() -> None:  # the build stops at the first failure
            for other, _, _ in procs:
                other.kill()

        readers = [threading.Thread(target=_read, args=(proc, request, chunk, results, errors,
                                                          lock, on_done, stop), daemon=True)
                   for proc, _, chunk in procs]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        for proc, log, chunk in procs:
            proc.wait()
            missing = [i for i, _ in chunk if i not in results and i not in errors]
            if missing and not errors:
                log.seek(0)
                tail = " | ".join(log.read().strip().splitlines()[-3:])
                raise WorkerError(f"a conversion worker stopped (exit code {proc.returncode}) "
                                  f"before {len(missing)} of its jobs: {tail}")
    finally:
        for proc, log, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    if errors:
        raise _exception(*errors[min(errors)])
    return [results[i] for i in range(len(jobs))]


def _worker_env() -> dict:
    """This process's environment, with the package's root on the path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _read(proc, request: str, chunk: list, results: dict, errors: dict, lock, on_done,
          stop: Callable[[], None]) -> None:
    """Sends a worker its jobs and collects what it reports, line by line."""
    try:
        proc.stdin.write(json.dumps({"fn": request, "jobs": chunk}) + "\n")
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        return  # it died at once; run_all reports it
    for line in proc.stdout:
        try:
            reply = json.loads(line)
        except ValueError:
            continue  # not a report (a library printing to stdout)
        if not isinstance(reply, dict) or "index" not in reply:
            continue
        with lock:
            if "error" in reply:
                errors[reply["index"]] = (reply.get("kind", ""), reply["error"])
            else:
                results[reply["index"]] = reply.get("result")
                if on_done is not None:
                    on_done(reply["index"])
        if "error" in reply:
            stop()
            return


def _function(request: str) -> Callable:
    module, name = request.split(":", 1)
    return getattr(importlib.import_module(module), name)


def _exception(kind: str, message: str) -> Exception:
    """The worker's exception as its own class where that takes a message."""
    try:
        cls = _function(kind)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(message)
    except Exception:  # an exception class that cannot be rebuilt from a message
        pass
    return RuntimeError(message)


def _serve() -> None:
    """The worker: reads its jobs, runs them in order, reports each as a
    JSON line on stdout (other output goes to stderr)."""
    request = json.loads(sys.stdin.readline())
    out = sys.stdout
    sys.stdout = sys.stderr  # a library's prints must not break the reports
    fn = _function(request["fn"])
    for index, args in request["jobs"]:
        try:
            reply = {"index": index, "result": fn(*args)}
        except Exception as e:
            kind = f"{type(e).__module__}:{type(e).__qualname__}"
            reply = {"index": index, "error": str(e), "kind": kind}
        out.write(json.dumps(reply) + "\n")
        out.flush()
        if "error" in reply:
            return


if __name__ == "__main__":
    _serve()
