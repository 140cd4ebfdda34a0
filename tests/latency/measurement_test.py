"""Tests of the robust statistics of latency measurements (pure)."""

import math

import numpy as np
import pytest

from pxnas_tf.latency.measure import measurement as M


def test_relative_spread():
    assert M.relative_spread([2.0]) == 0.0
    assert M.relative_spread([2.0, 2.1, 2.05]) == pytest.approx(0.05)


def test_quiet_rounds_are_those_near_the_lowest():
    medians = [1.00, 1.50, 1.01, 0.99, 2.0]
    assert M.quiet_round_indices(medians, 0.03) == [0, 2, 3]


def test_is_stable_needs_enough_agreeing_quiet_rounds():
    assert M.is_stable([1.0, 1.01, 1.005], min_quiet=3, max_spread=0.02, quiet_tol=0.03)
    assert not M.is_stable([1.0, 1.01], min_quiet=3, max_spread=0.02, quiet_tol=0.03)
    # Slow rounds (another process busy) do not count, nor block stability.
    assert M.is_stable([1.0, 3.0, 1.01, 2.5, 1.0], 3, 0.02, 0.03)


def test_summarize_rounds_keeps_only_quiet_invokes():
    quiet = [np.full(10, 1.0), np.full(10, 1.01), np.full(10, 1.0)]
    busy = [np.full(10, 3.0)]
    m = M.summarize_rounds(quiet + busy, quiet_tol=0.03, max_spread=0.02, min_quiet=3)
    assert m.count == 30 and m.rounds == 4 and m.quiet_rounds == 3
    assert m.median_ms == pytest.approx(1.0) and m.mean_ms == pytest.approx(1.00333, rel=1e-4)
    assert not m.flags and m.value_ms == m.median_ms


def test_summarize_rounds_flags_disagreeing_rounds():
    rounds = [np.full(5, v) for v in (1.0, 1.025, 1.05, 1.08)]
    m = M.summarize_rounds(rounds, quiet_tol=0.03, max_spread=0.01, min_quiet=3)
    assert m.flags == (M.UNSTABLE,) and m.unstable and m.suspect
    with pytest.raises(ValueError, match="no latency samples"):
        M.summarize_rounds([[]], 0.03, 0.02, 3)


def test_summarize_averages_of_tool_runs():
    m = M.summarize_averages([2.0, 2.02, 5.0, 2.01], [0.1, 0.1, 1.0, None], [50, 50, 50, 50],
                             quiet_tol=0.03, max_spread=0.02, min_quiet=3)
    assert m.median_ms == pytest.approx(2.01) and m.count == 150 and m.quiet_rounds == 3
    assert m.std_ms is None  # one kept run did not report it
    m = M.summarize_averages([2.0, 2.02], [0.1, 0.3], [10, 30], 0.03, 0.02, 2)
    assert m.mean_ms == pytest.approx((2.0 * 10 + 2.02 * 30) / 40)
    assert m.std_ms == pytest.approx(math.sqrt((0.01 * 10 + 0.09 * 30) / 40))


def test_minus_floors_at_zero():
    m = M.Measurement(1.0, 0.9, 0.1, 10)
    assert m.minus(0.2).mean_ms == pytest.approx(0.8)
    assert m.minus(0.2).median_ms == pytest.approx(0.7)
    assert m.minus(5.0).median_ms == 0.0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
