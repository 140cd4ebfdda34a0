"""Atomic JSON writes: strict JSON even when a run produced NaN."""

import json
import math

from pxnas_tf import fileio


def test_non_finite_floats_are_written_as_null(tmp_path):
    path = str(tmp_path / "results.json")
    fileio.atomic_write_json(path, {"val_top1": math.nan, "loss": [1.5, math.inf],
                                    "nested": {"x": -math.inf, "n": 3}})
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"val_top1": None, "loss": [1.5, None],
                                "nested": {"x": None, "n": 3}}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


_HOLD = """
import sys, time
from pxnas_tf import fileio
with fileio.exclusive(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_process_on_one_workdir_is_refused(tmp_path):
    import os
    import subprocess
    import sys

    import pytest

    workdir = str(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, workdir], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(fileio.BusyError, match=rf"pid {holder.pid}\); wait for it"):
            with fileio.exclusive(workdir):
                pass
    finally:
        holder.kill()
        holder.wait()
    with fileio.exclusive(workdir):  # released when its holder died
        pass
    assert os.listdir(workdir) == []  # and its lock file removed on release
    out = str(tmp_path / "net.tflite")
    with fileio.exclusive(out, "--out", folder=False):
        with pytest.raises(fileio.BusyError, match="give another --out"):
            with fileio.exclusive(out, "--out", folder=False):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_killed_process_leftover_temporaries_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".best.tmp-{dead.pid}.keras"
    stale.write_text("half a model")
    mine = tmp_path / f".results.json.tmp-{__import__('os').getpid()}"
    mine.write_text("being written")
    kept = tmp_path / "best.keras"
    kept.write_text("a model")
    assert fileio.remove_stale_temporaries(str(tmp_path)) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, kept.name])
