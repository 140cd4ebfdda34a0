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
