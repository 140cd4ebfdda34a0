"""Search losses: label-smoothed CE, expected latency, loss forms, L2."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.search_math import objectives


def test_cross_entropy_matches_keras_with_label_smoothing():
    import keras
    logits = tf.constant([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    labels = tf.constant([0, 1])
    ours = objectives.cross_entropy(labels, logits, 0.1).numpy()
    ref = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1,
                                               reduction=None)(tf.one_hot(labels, 3), logits)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(objectives.correct(labels, logits).numpy(), [1.0, 0.0])


def test_expected_latency_value_and_gradient():
    alpha = [tf.Variable([0.0, 1.0]), tf.Variable([0.5, 0.0, -0.5])]
    lat = [(2.0, 4.0), (1.0, 3.0, 0.0)]
    with tf.GradientTape() as tape:
        probs = [tf.nn.softmax(a) for a in alpha]
        e = objectives.expected_latency(probs, lat, 10.0)
    p = [tf.nn.softmax(a).numpy() for a in alpha]
    assert float(e) == pytest.approx(10 + p[0] @ lat[0] + p[1] @ lat[1], rel=1e-6)
    g0, g1 = tape.gradient(e, alpha)
    # The slower candidate's logit gets a positive gradient (descent lowers it).
    assert g0.numpy()[1] > 0 > g0.numpy()[0]
    assert g1.numpy()[1] > 0 and g1.numpy()[2] < 0
    np.testing.assert_allclose(
        float(objectives.arch_latency(tf.constant([1, 2]), lat, 10.0)), 14.0)


def test_loss_forms():
    ce, e = tf.constant(2.0), tf.constant(30.0)
    assert float(objectives.latency_loss(ce, e, 20.0, "ce")) == 2.0
    mul = float(objectives.latency_loss(ce, e, 20.0, "mul#log", scale=0.2, beta=0.3))
    assert mul == pytest.approx(0.2 * 2.0 * (np.log(30) / np.log(20)) ** 0.3, rel=1e-6)
    add = float(objectives.latency_loss(ce, e, 20.0, "add#linear", lam=0.1))
    assert add == pytest.approx(2.0 + 0.1 * 10 / 20, rel=1e-6)
    # Split over 2 replicas, the additive term adds up to one term.
    half = float(objectives.latency_loss(ce / 2, e, 20.0, "add#linear", lam=0.1, num_replicas=2))
    assert 2 * half == pytest.approx(add, rel=1e-6)
    # abs#target: the same penalty on both sides of the target, so its
    # gradient pulls E[LAT] up from below and down from above.
    for lat, sign in ((30.0, 1.0), (12.0, -1.0)):
        x = tf.Variable(lat)
        with tf.GradientTape() as tape:
            loss = objectives.latency_loss(ce, x, 20.0, "abs#target", lam=0.1)
        assert float(loss) == pytest.approx(2.0 + 0.1 * abs(lat - 20) / 20, rel=1e-6)
        assert float(tape.gradient(loss, x)) == pytest.approx(sign * 0.1 / 20, rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss form"):
        objectives.latency_loss(ce, e, 20.0, "mul#linear")


def test_l2_penalty_gradient_is_weight_decay_times_w():
    w = tf.Variable([[1.0, -2.0], [0.5, 0.0]])
    with tf.GradientTape() as tape:
        pen = objectives.l2_penalty([w], 4e-5)
    assert float(pen) == pytest.approx(0.5 * 4e-5 * 5.25, rel=1e-6)
    np.testing.assert_allclose(tape.gradient(pen, w).numpy(), 4e-5 * w.numpy(), rtol=1e-6)
    assert float(objectives.l2_penalty([], 4e-5)) == 0.0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
