"""Derive: argmax, and the hard budget's most probable arch that fits."""

import itertools

import numpy as np
import pytest

from pxnas_tf.search import argmax_indices, derive_indices, most_probable_within


def _brute(probs, lats, budget, floor=-np.inf):
    best, arg = -np.inf, None
    for ix in itertools.product(*[range(len(p)) for p in probs]):
        if floor <= sum(l[i] for l, i in zip(lats, ix)) <= budget:
            score = sum(np.log(p[i]) for p, i in zip(probs, ix))
            if score > best:
                best, arg = score, list(ix)
    return arg


@pytest.mark.parametrize("seed", range(8))
def test_budget_search_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    probs = [rng.dirichlet(np.ones(n)) for n in (3, 4, 2, 3)]
    lats = [np.round(rng.uniform(0.5, 5.0, len(p)), 2) for p in probs]
    budget = float(np.round(rng.uniform(4, 14), 2))
    got = most_probable_within(probs, lats, budget, resolution=20000)
    ref = _brute(probs, lats, budget)
    if ref is None:
        assert got is None
        return
    assert sum(l[i] for l, i in zip(lats, got)) <= budget + 1e-9
    score = lambda ix: sum(np.log(p[i]) for p, i in zip(probs, ix))
    assert score(got) == pytest.approx(score(ref), abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_band_search_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    probs = [rng.dirichlet(np.ones(n)) for n in (3, 4, 2, 3)]
    lats = [np.round(rng.uniform(0.5, 5.0, len(p)), 2) for p in probs]
    budget = float(np.round(rng.uniform(6, 14), 2))
    floor = 0.8 * budget
    got = most_probable_within(probs, lats, budget, resolution=20000, floor=floor)
    ref = _brute(probs, lats, budget, floor)
    if ref is None:
        assert got is None
        return
    total = sum(l[i] for l, i in zip(lats, got))
    assert floor - 1e-9 <= total <= budget + 1e-9
    score = lambda ix: sum(np.log(p[i]) for p, i in zip(probs, ix))
    assert score(got) == pytest.approx(score(ref), abs=1e-9)


def test_band_raises_a_fast_argmax_to_the_target():
    # The argmax [1, 0] costs 10 + 1 + 2 = 13, under 0.9 * 17; the band
    # [15.3, 17] holds [0, 0] (16) only among the four archs.
    probs = [[0.2, 0.8], [0.6, 0.4]]
    lats = [[4.0, 1.0], [2.0, 1.0]]
    assert derive_indices(probs, lats, 10.0, 17.0, "hard") == ([1, 0], "argmax")
    assert derive_indices(probs, lats, 10.0, 17.0, "band") == ([0, 0], "band")
    assert derive_indices(probs, lats, 10.0, 17.0, "band", floor=0.7) == ([1, 0], "argmax")
    # Archs cost 16, 15, 13, 12: none in [0.9 * 14.9, 14.9], so the most
    # probable within 14.9 (the argmax) stands, marked "budget".
    assert derive_indices(probs, lats, 10.0, 14.9, "band") == ([1, 0], "budget")


def test_derive_soft_and_hard():
    probs = [[0.1, 0.9], [0.6, 0.4]]
    lats = [[1.0, 5.0], [2.0, 1.0]]
    assert argmax_indices(probs) == [1, 0]
    assert derive_indices(probs, lats, 10.0, 14.0, "soft") == ([1, 0], "argmax")
    assert derive_indices(probs, lats, 10.0, 17.0, "hard") == ([1, 0], "argmax")  # 17 fits
    # The argmax arch takes 17 > 14; of the archs within 14 ([0, 0]: 13, [0, 1]: 12),
    # [0, 0] is the most probable (0.1 * 0.6 > 0.1 * 0.4).
    assert derive_indices(probs, lats, 10.0, 14.0, "hard") == ([0, 0], "budget")
    with pytest.raises(ValueError, match="no arch of the space fits"):
        derive_indices(probs, lats, 10.0, 11.0, "hard")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
