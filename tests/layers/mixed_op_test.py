"""MixedOp: forward of one path, the logit gradient of every mode, the
zero-op fix, no side effects of the backward re-runs, candidate names (its
config and saving: round_trip_test.py)."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.layers import MixedOp
from pxnas_tf.search_math import gates

CANDS = ["k3_e3", "k5_e3", "zero"]
X = tf.random.stateless_normal((4, 6, 6, 8), seed=[1, 2])


def make(mode="full_v2", cands=CANDS, like=None, shared=False):
    op = MixedOp(8, cands, strides=1, residual=True, mode=mode, shared=shared)
    op.build(X.shape)
    if like is not None:
        op.set_weights(like.get_weights())
    else:
        op.alpha.assign([0.3, -0.2, 0.1][:len(cands)])
    return op


def alpha_grad(op, active, loss_fn, partner=None):
    path = tf.constant([active, active if partner is None else partner])
    with tf.GradientTape() as tape:
        y = op(X, path, training=True, arch_grad=True)
        loss = loss_fn(y)
    return tape.gradient(loss, op.alpha.value).numpy()


def square(y):
    return tf.reduce_sum(tf.square(y)) / 100.0


C = tf.random.stateless_normal((4, 6, 6, 8), seed=[3, 4])


def linear(y):
    return tf.reduce_sum(C * y)


def test_forward_runs_the_active_path_and_adds_the_residual_once():
    op = make()
    for j in range(3):
        y = op(X, tf.constant([j, j]), training=False)
        expected = X + (0.0 if j == 2 else op.ops[j](X, training=False))
        np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(op(X, tf.constant(2), training=True).numpy(), X.numpy())
    assert tuple(op(X, tf.constant(0)).shape) == (4, 6, 6, 8)


def test_stride_two_block_without_residual():
    op = MixedOp(16, ["k3_e3", "k7_e6"], strides=2, residual=False)
    y = op(tf.ones((2, 7, 7, 8)), tf.constant([1, 1]))
    assert tuple(y.shape) == (2, 4, 4, 16) == op.compute_output_shape((2, 7, 7, 8))
    with pytest.raises(ValueError, match="zero op needs a residual"):
        MixedOp(16, ["k3_e3", "zero"], strides=2)(tf.ones((1, 8, 8, 8)), tf.constant(0))
    with pytest.raises(ValueError, match="unknown mixed-op mode"):
        MixedOp(8, CANDS, mode="one")


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("active", [0, 1, 2])
def test_full_v2_logit_gradient_equals_the_full_mode_reference(active, shared):
    full = make("full", shared=shared)
    v2 = make("full_v2", like=full, shared=shared)
    g_full = alpha_grad(full, active, square)
    g_v2 = alpha_grad(v2, active, square)
    np.testing.assert_allclose(g_v2, g_full, rtol=1e-4, atol=1e-6)
    assert np.all(np.abs(g_v2) > 1e-6)  # every logit learns, zero op active or not



@pytest.mark.parametrize("mode,partner", [("full_v2", None), ("two", 1), ("full", None)])
def test_logit_gradient_under_mixed_float16_matches_float32(mode, partner):
    """A GPU search runs under Keras' mixed_float16 policy: float16
    activations, float32 logits. The gate math stays float32 (its sums over
    a whole activation would overflow float16) and gives the float32
    gradient to float16 precision."""
    import keras

    reference = make(mode)
    g32 = alpha_grad(reference, 0, square, partner)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half = MixedOp(8, CANDS, strides=1, residual=True, mode=mode)
        half.build(X.shape)
        half.set_weights(reference.get_weights())
        g16 = alpha_grad(half, 0, square, partner)
    finally:
        keras.config.set_dtype_policy(previous)
    assert half.alpha.dtype == "float32" and g16.dtype == np.float32
    np.testing.assert_allclose(g16, g32, rtol=2e-2, atol=1e-3 * np.abs(g32).max())
    assert np.all(np.abs(g16[np.abs(g32) > 1e-6]) > 0)


def test_traced_gradients_agree_and_untaken_branches_get_zeros():
    full = make("full")
    v2 = make("full_v2", like=full)

    @tf.function
    def grads(op, active):
        with tf.GradientTape() as tape:
            loss = square(op(X, tf.stack([active, active]), training=True, arch_grad=True))
        return tape.gradient(loss, [op.alpha.value] + [v.value for v in op.ops[1].trainable_variables])

    for active in (0, 2):
        g_full = grads(full, tf.constant(active))
        g_v2 = grads(v2, tf.constant(active))
        np.testing.assert_allclose(g_v2[0].numpy(), g_full[0].numpy(), rtol=1e-4, atol=1e-6)
        assert all(float(tf.reduce_max(tf.abs(g))) == 0.0 for g in g_v2[1:])  # op 1 untaken


def _soft_objective(op, alpha):
    """<C, x + sum_j softmax(alpha)_j o_j(x)> with train-mode BN, no state written."""
    p = tf.nn.softmax(alpha)
    outs = [tf.zeros_like(X) if j == 2 else op._stateless(j, X, True) for j in range(3)]
    return float(linear(X + tf.add_n([p[j] * o for j, o in enumerate(outs)])))


@pytest.mark.parametrize("active", [0, 1, 2])
def test_estimator_matches_finite_differences_for_a_linear_loss(active):
    # For a loss linear in the block output the estimator is the exact
    # gradient of the expected loss, whichever path is active.
    op = make()
    grad = alpha_grad(op, active, linear)
    alpha = op.alpha.numpy().astype(np.float64)
    eps = 1e-2
    numeric = []
    for i in range(3):
        d = np.zeros(3)
        d[i] = eps
        numeric.append((_soft_objective(op, tf.constant(alpha + d, tf.float32))
                        - _soft_objective(op, tf.constant(alpha - d, tf.float32))) / (2 * eps))
    np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=2e-3)


def test_two_mode_gradient_is_the_pair_estimator_with_q():
    op = make("two")
    active, partner = 1, 0
    grad = alpha_grad(op, active, linear, partner)
    assert grad[2] == 0.0  # unsampled
    dg = np.array([float(linear(op._stateless(j, X, True))) for j in (0, 1)] + [0.0])
    mask = np.array([1.0, 1.0, 0.0])
    q = gates.masked_softmax(op.alpha.value, tf.constant(mask, tf.float32)).numpy()
    expected = gates.logit_grad(tf.constant(dg * mask, tf.float32), tf.constant(q)).numpy()
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_inactive_candidates_run_without_side_effects_or_gradients():
    op = make()
    stats = [[v.numpy().copy() for v in cand.non_trainable_variables] for cand in op.ops]
    path = tf.constant([0, 0])
    with tf.GradientTape() as tape:
        loss = square(op(X, path, training=True, arch_grad=True))
    weights = [v.value for v in op.ops[1].trainable_variables] + [v.value for v in op.ops[0].trainable_variables]
    grads = tape.gradient(loss, weights)
    n1 = len(op.ops[1].trainable_variables)
    # Inactive: no gradient (None eagerly, zeros through a traced switch_case).
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0.0 for g in grads[:n1])
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0.0 for g in grads[n1:])
    # The backward re-ran candidate 1 for dL/dg_1 but left its BN statistics alone;
    # the active candidate's were updated by the forward.
    for before, v in zip(stats[1], op.ops[1].non_trainable_variables):
        np.testing.assert_array_equal(before, v.numpy())
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(stats[0], op.ops[0].non_trainable_variables))


def test_full_mode_computes_every_path():
    op = make("full")
    before = [v.numpy().copy() for v in op.ops[1].non_trainable_variables]
    op(X, tf.constant([0, 0]), training=True)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, op.ops[1].non_trainable_variables))


def test_shared_backward_reruns_leave_bn_statistics():
    op = make(shared=True, cands=["k3_e3", "k5_e6", "zero"])
    stats = [v.numpy().copy() for v in op.shared_op.non_trainable_variables]
    assert stats[0].shape == (48,)  # the expand BN's moving mean, e6 of 8 channels
    with tf.GradientTape() as tape:
        loss = square(op(X, tf.constant([0, 0]), training=True, arch_grad=True))
    assert np.all(np.abs(tape.gradient(loss, op.alpha.value).numpy()) > 1e-6)
    # Only the active k3_e3's channels (the first 24 of the expand BN) moved:
    # the backward re-ran k5_e6 on all 48 without writing statistics.
    expand_mean = op.shared_op.expand_bn["moving_mean"].numpy()
    assert not np.array_equal(expand_mean[:24], stats[0][:24])
    np.testing.assert_array_equal(expand_mean[24:], stats[0][24:])


def test_update_stats_false_leaves_bn_statistics():
    op = make()
    stats = op.ops[1].non_trainable_variables
    before = [v.numpy().copy() for v in stats]
    y = op(X, tf.constant([1, 1]), training=True, update_stats=False)
    for b, v in zip(before, stats):
        np.testing.assert_array_equal(b, v.numpy())
    y_ref = op(X, tf.constant([1, 1]), training=True)  # this one updates them
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-5, atol=1e-6)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, stats))


def test_candidate_layers_carry_the_derived_nets_block_names():
    op = make("two")
    assert [c.name for c in op.ops] == [f"{op.name}_k3_e3", f"{op.name}_k5_e3", f"{op.name}_zero"]


def test_alpha_init_is_small_normal():
    op = MixedOp(8, ["k3_e3"] * 1 + ["k5_e3", "k7_e3", "k3_e6", "k5_e6", "k7_e6"], residual=True)
    op.build((None, 6, 6, 8))
    a = op.alpha.numpy()
    assert a.shape == (6,) and np.all(np.abs(a) < 1e-2) and np.std(a) > 0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
