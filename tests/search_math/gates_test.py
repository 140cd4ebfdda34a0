"""Gate sampling and the logit gradient of ProxylessNAS."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.search_math import gates


def test_logit_grad_is_the_gradient_of_the_expected_gate_value():
    # d/dalpha sum_j c_j softmax(alpha)_j = p_i (c_i - <c, p>): the closed form.
    alpha = tf.Variable([0.3, -1.2, 0.8, 0.1])
    c = tf.constant([1.5, -0.5, 2.0, 0.0])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(c * tf.nn.softmax(alpha))
    expected = tape.gradient(value, alpha).numpy()
    got = gates.logit_grad(c, tf.nn.softmax(alpha)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    p = tf.nn.softmax(alpha).numpy()
    by_hand = [sum(c.numpy()[j] * p[j] * ((i == j) - p[i]) for j in range(4)) for i in range(4)]
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-7)


def test_binarize_forward_is_one_hot_and_backward_is_the_estimator():
    alpha = tf.Variable([0.1, 0.5, -0.2])
    dg = tf.constant([0.7, -1.0, 0.25])
    with tf.GradientTape() as tape:
        g = gates.binarize(alpha, tf.constant(1))
        loss = tf.reduce_sum(g * dg)
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0, 0.0])
    grad = tape.gradient(loss, alpha).numpy()
    np.testing.assert_allclose(grad, gates.logit_grad(dg, tf.nn.softmax(alpha)).numpy(), rtol=1e-6)


def test_paths_are_stateless_and_follow_the_step_counter():
    logits = [tf.constant([0.0, 1.0, 2.0]), tf.constant([0.5, 0.5])]
    a = gates.sample_paths(logits, gates.step_seed(7, 3, gates.SALT_WEIGHT), "full_v2")
    b = gates.sample_paths(logits, gates.step_seed(7, 3, gates.SALT_WEIGHT), "full_v2")
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.shape == (2, 2) and np.all(a.numpy()[:, 0] == a.numpy()[:, 1])
    draws = np.stack([gates.sample_paths(logits, gates.step_seed(7, s, gates.SALT_WEIGHT),
                                         "full_v2").numpy() for s in range(40)])
    assert len({tuple(d[:, 0]) for d in draws}) > 1  # the counter changes the draw


def test_sampling_frequencies_follow_softmax_and_uniform_in_warmup():
    alpha = tf.constant([0.0, 1.0, 2.0])
    p = tf.nn.softmax(alpha).numpy()
    n = 3000
    seeds = [gates.step_seed(0, s, gates.SALT_WEIGHT) for s in range(n)]
    hits = np.bincount([int(gates.sample_index(alpha, s)) for s in seeds], minlength=3) / n
    np.testing.assert_allclose(hits, p, atol=0.03)
    uni = np.bincount([int(gates.sample_paths([alpha], s, "full_v2", uniform=True)[0, 0])
                       for s in seeds[:1500]], minlength=3) / 1500
    np.testing.assert_allclose(uni, [1 / 3] * 3, atol=0.04)


def test_fair_paths_visit_every_op_once_per_cycle_and_follow_p_otherwise():
    logits = [tf.constant([0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 3.0]), tf.constant([0.5, 0.5, 0.0])]
    draws = np.stack([gates.sample_paths(logits, gates.step_seed(7, t, gates.SALT_WEIGHT),
                                         "full_v2", uniform=True, fair=(7, t)).numpy()[:, 0]
                      for t in range(42)])  # (steps, blocks)
    for b, n in enumerate((7, 3)):
        for start in range(0, 42 - n + 1, n):
            assert sorted(draws[start:start + n, b]) == list(range(n)), (b, start)
    orders = {tuple(draws[s:s + 7, 0]) for s in range(0, 42, 7)}
    assert len(orders) > 1  # a new random order per cycle
    # Not uniform (search epochs with weight_paths=p): drawn from softmax(logits) as before.
    seed = gates.step_seed(7, 5, gates.SALT_WEIGHT)
    np.testing.assert_array_equal(
        gates.sample_paths(logits, seed, "full_v2", uniform=False, fair=(7, 5)).numpy(),
        gates.sample_paths(logits, seed, "full_v2", uniform=False).numpy())


def test_pairs_are_distinct_and_active_follows_the_pair_softmax():
    alpha = tf.constant([2.0, 0.0, 0.0, -1.0])
    n = 2000
    pairs = np.stack([gates.sample_pair(alpha, gates.step_seed(1, s, gates.SALT_ARCH)).numpy()
                      for s in range(n)])
    assert np.all(pairs[:, 0] != pairs[:, 1]) and pairs.min() >= 0 and pairs.max() < 4
    # Given the pair {0, 1}, the active one is 0 with q = sigmoid(2 - 0).
    both = pairs[np.isin(pairs[:, 0], [0, 1]) & np.isin(pairs[:, 1], [0, 1])]
    assert len(both) > 300
    q0 = 1 / (1 + np.exp(-2.0))
    assert abs(np.mean(both[:, 0] == 0) - q0) < 0.05
    # The first draw of a pair is the most likely op most often.
    assert np.mean((pairs == 0).any(axis=1)) > 0.8


def test_renormalise_offset_keeps_the_unsampled_probabilities():
    old = tf.constant([0.4, -0.3, 1.1, 0.2, -0.7])
    mask = gates.pair_mask(5, tf.constant([3, 1]))
    np.testing.assert_array_equal(mask.numpy(), [0, 1, 0, 1, 0])
    new = old + tf.constant([0.0, 0.9, 0.0, -0.25, 0.0])  # an optimizer step on the pair
    shifted = new - gates.renormalise_offset(old, new, mask) * mask
    p_old, p_new = tf.nn.softmax(old).numpy(), tf.nn.softmax(shifted).numpy()
    np.testing.assert_allclose(p_new[[0, 2, 4]], p_old[[0, 2, 4]], rtol=1e-6)
    assert not np.allclose(p_new[[1, 3]], p_old[[1, 3]])  # the pair did move
    np.testing.assert_allclose(p_new[[1, 3]].sum(), p_old[[1, 3]].sum(), rtol=1e-6)


def test_masked_softmax_and_entropy():
    q = gates.masked_softmax(tf.constant([1.0, 5.0, 2.0]), tf.constant([1.0, 0.0, 1.0])).numpy()
    assert q[1] == 0.0
    np.testing.assert_allclose(q[[0, 2]], tf.nn.softmax([1.0, 2.0]).numpy(), rtol=1e-6)
    assert float(gates.entropy(tf.constant([1.0, 0.0]))) == 0.0
    assert float(gates.entropy(tf.constant([0.25] * 4))) == pytest.approx(np.log(4), rel=1e-6)


def test_sample_archs_shape_and_determinism():
    logits = [tf.constant([0.0, 3.0]), tf.constant([1.0, 0.0, -1.0])]
    a = gates.sample_archs(logits, gates.step_seed(0, 5, gates.SALT_REINFORCE), 10)
    b = gates.sample_archs(logits, gates.step_seed(0, 5, gates.SALT_REINFORCE), 10)
    assert a.shape == (10, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.numpy()[:, 0].max() <= 1 and a.numpy()[:, 1].max() <= 2


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
