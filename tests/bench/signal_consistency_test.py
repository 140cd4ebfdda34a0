"""bench/signal_consistency.py's arithmetic: the favoured op per block and
the within- and across-seed agreement of it (the probe itself is
bench/arch_signal.py's, tested there)."""

import numpy as np
import pytest

from pxnas_tf.testing import load_bench

consistency = load_bench("signal_consistency")


def _draws(means, n, noise, rng):
    """`n` draws of per-block gradients around `means` (one array per block)."""
    return [[m + noise * rng.standard_normal(m.shape) for m in means] for _ in range(n)]


def test_favoured_op_is_the_most_negative_gradient():
    assert consistency.favoured([np.array([0.1, -0.3, 0.2]), np.array([-1.0, 0.0])]) == [1, 0]


def test_halves_agree_without_noise_and_fall_to_chance_with_only_noise():
    rng = np.random.default_rng(0)
    means = [np.array([0.0, -1.0, 1.0, 0.5])] * 40
    assert consistency.halves_agreement(_draws(means, 8, 0.0, rng)) == 1.0
    flat = [np.zeros(4)] * 400
    # Pure noise: the two halves name the same op one time in four.
    assert consistency.halves_agreement(_draws(flat, 8, 1.0, rng)) == pytest.approx(0.25, abs=0.06)


def test_across_seeds_same_op_and_correlation():
    a = [np.array([0.0, -1.0, 1.0]), np.array([1.0, 0.0, -1.0])]
    b = [np.array([0.1, -0.9, 1.2]), np.array([-1.0, 0.0, 1.0])]  # block 1 reversed
    same, corr = consistency.across_agreement([a, a, b])
    # Pairs (a, a): both blocks; (a, b) twice: block 0 only.
    assert same == pytest.approx((1 + 0.5 + 0.5) / 3)
    # Correlations: 1, 1 (a, a); about 0.99 and -1 (a, b), twice: median about 0.99.
    assert 0.95 < corr < 1.0


def test_reliability_is_one_without_noise_and_near_zero_with_only_noise():
    rng = np.random.default_rng(1)
    means = [rng.standard_normal(5) for _ in range(30)]
    assert consistency.reliability(_draws(means, 8, 0.0, rng)) == pytest.approx(1.0)
    assert abs(consistency.reliability(_draws([np.zeros(5)] * 400, 8, 1.0, rng))) < 0.2
    # Signal and noise alike per draw: each half's mean has a quarter of the noise's
    # variance, so the halves correlate at 0.8 and all draws at 2 x 0.8 / 1.8.
    noisy = consistency.reliability(_draws([rng.standard_normal(5) for _ in range(400)], 8,
                                           1.0, rng))
    assert noisy == pytest.approx(1.6 / 1.8, abs=0.06)
