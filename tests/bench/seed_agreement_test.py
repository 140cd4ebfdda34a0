"""bench/seed_agreement.py's pure part: one variant's figures over its seeds
(the benchmark itself runs searches for an hour)."""

import pytest

from pxnas_tf.testing import load_bench

seed_agreement = load_bench("seed_agreement")


def _row(seed, ops, expected=1.0, predicted=0.95, decided=0.7):
    return {"seed": seed, "ops": ops, "arch": ",".join(ops), "target_ms": 2.0,
            "expected_ms": 2.0 * expected, "predicted_ms": 2.0 * predicted,
            "decided": decided, "seconds": 10.0 + seed}


def test_summary_of_agreeing_and_disagreeing_seeds():
    same = seed_agreement.summarise([_row(s, ["a", "b", "c", "d"]) for s in range(3)])
    assert same["agreement"] == 1.0 and same["majority"] == 1.0
    # Three seeds, four blocks: pairs (0,1) agree on 2, (0,2) on 1, (1,2) on 1 of 4.
    rows = [_row(0, ["a", "b", "c", "d"], expected=1.1, decided=0.6),
            _row(1, ["a", "b", "d", "c"], expected=0.9, decided=0.8),
            _row(2, ["a", "c", "a", "a"], expected=1.0, decided=0.7)]
    s = seed_agreement.summarise(rows)
    assert s["agreement"] == pytest.approx((2 + 1 + 1) / 12)
    assert s["majority"] == pytest.approx(2 / 4)  # blocks 0 and 1 have an op chosen twice or more
    assert s["over"] == pytest.approx(1.0) and s["decided"] == pytest.approx(0.7)
    assert s["derived"] == pytest.approx(0.95) and s["seconds"] == pytest.approx(11.0)
    # Chance: op frequencies a 5/12, b 2/12, c 3/12, d 2/12.
    assert s["chance"] == pytest.approx((25 + 4 + 9 + 4) / 144)


def test_paths_only_keeps_the_weights_and_data_of_seed_0():
    assert seed_agreement.changes("paths_only", 2) == {"arch_beta1": 0.0, "seed": 0, "path_seed": 1002}
    assert seed_agreement.changes("beta1_09", 2) == {"arch_beta1": 0.9}
    assert "path_seed 1000 + s" in seed_agreement.describe(seed_agreement.VARIANTS["paths_only"])
