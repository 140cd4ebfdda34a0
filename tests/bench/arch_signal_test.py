"""bench/arch_signal.py's statistics, and the gradient probe it uses on a
tiny supernet (the benchmark itself runs for minutes)."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.testing import load_bench

arch_signal = load_bench("arch_signal")


def test_signal_stats_on_known_draws():
    rng = np.random.default_rng(0)
    # Logit 0: mean 1, std 1 (SNR 1); logit 1: mean 0.1, std 1; logit 2: never moves.
    draws = np.stack([rng.normal(1.0, 1.0, 4000), rng.normal(0.1, 1.0, 4000),
                      np.zeros(4000)], axis=1)
    stats = arch_signal.signal_stats(draws)
    assert stats["logits"] == 2
    assert stats["snr"] == pytest.approx(0.55, abs=0.05)  # median of about 1 and 0.1
    assert 0.5 < stats["sign_agreement"] < 0.85


def test_null_snr_is_the_median_of_pure_noise():
    rng = np.random.default_rng(1)
    draws = rng.normal(0.0, 1.0, (16, 20000))  # 20000 logits without signal, 16 draws each
    snr = np.abs(draws.mean(0)) / draws.std(0, ddof=1)
    assert arch_signal.null_snr(16) == pytest.approx(np.median(snr), rel=0.03)
    assert arch_signal.null_snr(64) < arch_signal.null_snr(16)


def test_arch_gradient_probe_matches_the_arch_steps_ce_gradient():
    """The probe's gradient is the CE gradient an arch step applies (loss
    ce, plain SGD on the logits at lr 1: the step equals minus it), and it
    leaves the search's counters and BN statistics untouched."""
    from pxnas_tf.search import SearchState, SearchSteps, make_config
    from pxnas_tf.search_math import gates
    from pxnas_tf.testing import tiny_data, tiny_space

    space = tiny_space(candidates=("k3_e3", "k5_e3"), blocks=2)
    config = make_config("toy", batch_size=8, loss="ce", arch_temperature=1.0)
    strategy = tf.distribute.get_strategy()
    state = SearchState(space, config, strategy, 8)
    steps = SearchSteps(state, config, None, strategy, 8)
    batch = next(iter(tiny_data().arch))
    before = [v.numpy().copy() for v in state.supernet.non_trainable_variables]
    g1 = steps.arch_gradient(batch, 5)
    g2 = steps.arch_gradient(batch, 5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)  # same draw, same gradient
    assert any(np.abs(g).sum() > 0 for g in g1)
    for v, b in zip(state.supernet.non_trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), b)
    assert int(state.arch_steps.numpy()) == 0
    # The same path and batch through the tape of the search's own arch loss.
    paths = steps._paths(tf.constant(5, tf.int64), gates.SALT_PROBE, pairs=True)
    with tf.GradientTape() as tape:
        logits = state.supernet(batch[0], paths, training=True, arch_grad=True,
                                update_stats=False)
        from pxnas_tf.search_math import objectives
        loss = tf.reduce_mean(objectives.cross_entropy(batch[1], logits))
    expected = tape.gradient(loss, [a.value for a in state.supernet.arch_variables])
    for a, b in zip(g1, expected):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-7)
