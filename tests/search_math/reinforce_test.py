"""REINFORCE: reward, baseline and the policy gradient."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.search_math import reinforce


def test_reward_prefers_faster_archs_at_equal_accuracy():
    r = reinforce.reward(tf.constant([0.8, 0.8]), tf.constant([10.0, 20.0]), 20.0, 0.1).numpy()
    np.testing.assert_allclose(r, [0.8 * 2 ** 0.1, 0.8], rtol=1e-6)


def test_baseline_starts_at_the_mean_then_moves():
    b = reinforce.update_baseline(tf.constant(0.0), tf.constant(0.6), 0.9, tf.constant(False))
    assert float(b) == pytest.approx(0.6)
    b = reinforce.update_baseline(b, tf.constant(1.0), 0.9, tf.constant(True))
    assert float(b) == pytest.approx(0.64)


def test_surrogate_gradient_is_the_reinforce_estimator():
    logits = [tf.Variable([0.2, -0.1, 0.4]), tf.Variable([0.0, 1.0])]
    archs = tf.constant([[0, 1], [2, 0], [2, 1]])
    adv = tf.constant([0.5, -0.2, 0.1])
    with tf.GradientTape() as tape:
        loss = reinforce.surrogate_loss(logits, archs, adv)
    grads = [g.numpy() for g in tape.gradient(loss, logits)]
    for b, alpha in enumerate(logits):
        p = tf.nn.softmax(alpha).numpy()
        # grad log p(a) w.r.t. alpha_b = onehot(a_b) - p_b
        expected = -np.mean([adv.numpy()[m] * (np.eye(len(p))[archs.numpy()[m, b]] - p)
                             for m in range(3)], axis=0)
        np.testing.assert_allclose(grads[b], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        reinforce.log_prob(logits, archs).numpy()[0],
        np.log(tf.nn.softmax(logits[0]).numpy()[0]) + np.log(tf.nn.softmax(logits[1]).numpy()[1]),
        rtol=1e-6)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
