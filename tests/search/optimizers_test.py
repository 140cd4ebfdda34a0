"""PathMaskedSGD: unsampled candidates keep weights and momentum bit for
bit; weight decay reaches only shared kernels and the active candidates;
the two-phase cosine schedule."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.models.supernet import Supernet
from pxnas_tf.search import PathMaskedSGD, SearchState, SearchSteps, TwoPhaseCosine, make_config
from pxnas_tf.search_math import gates
from pxnas_tf.testing import tiny_data, tiny_space

X = tf.random.stateless_normal((4, 8, 8, 1), seed=[5, 6])
Y = tf.constant([0, 1, 2, 3])


def _setup(optimizer, candidate_weights="independent"):
    keras.utils.set_random_seed(0)
    net = Supernet(tiny_space(), candidate_weights=candidate_weights)
    net.build()
    if isinstance(optimizer, PathMaskedSGD):
        optimizer.track_candidates(net.candidate_variables())
        optimizer.track_shared(net.shared_masks())
    optimizer.build(net.weight_variables)

    @tf.function
    def step(paths):
        if isinstance(optimizer, PathMaskedSGD):
            optimizer.set_paths(paths)
        with tf.GradientTape() as tape:
            logits = net(X, paths, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(Y, logits))
        grads = tape.gradient(loss, [v.value for v in net.weight_variables])
        optimizer.apply_gradients(zip(grads, net.weight_variables))

    return net, optimizer, step


def _snapshot(net, optimizer, block, cand):
    cand_vars = net.mixed_ops[block].ops[cand].trainable_variables
    momenta = [optimizer.momentums[optimizer._get_variable_index(v)] for v in cand_vars]
    return [v.numpy().copy() for v in cand_vars], [m.numpy().copy() for m in momenta]


def test_unsampled_candidate_keeps_weights_and_momentum():
    net, opt, step = _setup(PathMaskedSGD(0.1, momentum=0.9))
    step(tf.constant([0, 0]))  # candidate 0 of block 0 learns and gets momentum
    w0, m0 = _snapshot(net, opt, 0, 0)
    assert any(np.any(m != 0) for m in m0)
    w1_before, _ = _snapshot(net, opt, 0, 1)
    shared_before = net.stem_net.trainable_variables[0].numpy().copy()
    step(tf.constant([1, 0]))  # now candidate 1 is active in block 0
    w0_after, m0_after = _snapshot(net, opt, 0, 0)
    for a, b in zip(w0 + m0, w0_after + m0_after):
        np.testing.assert_array_equal(a, b)  # bit-identical
    w1_after, m1_after = _snapshot(net, opt, 0, 1)
    assert any(not np.array_equal(a, b) for a, b in zip(w1_before, w1_after))
    assert any(np.any(m != 0) for m in m1_after)
    assert not np.array_equal(shared_before, net.stem_net.trainable_variables[0].numpy())


def test_plain_momentum_sgd_would_move_the_unsampled_candidate():
    net, opt, step = _setup(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True))
    step(tf.constant([0, 0]))
    w0, _ = _snapshot(net, opt, 0, 0)
    step(tf.constant([1, 0]))
    w0_after, _ = _snapshot(net, opt, 0, 0)
    assert any(not np.array_equal(a, b) for a, b in zip(w0, w0_after))


def test_search_weight_step_isolates_paths_with_weight_decay():
    space, data = tiny_space(), tiny_data()
    config = make_config("toy", batch_size=8, weight_decay=0.05, warmup_epochs=1, epochs=1,
                         loss="ce")
    strategy = tf.distribute.get_strategy()
    state = SearchState(space, config, strategy, data.steps_per_epoch)
    steps = SearchSteps(state, config, None, strategy, data.batch_size)
    it = iter(data.train)
    net = state.supernet
    for _ in range(3):
        paths = steps._paths(state.weight_steps, gates.SALT_WEIGHT, True).numpy()
        before = {(b, j): _snapshot(net, state.weight_opt, b, j)
                  for b, op in enumerate(net.mixed_ops) for j in range(op.num_candidates)}
        steps.weight_step(it, tf.constant(True))
        for (b, j), (w, m) in before.items():
            w_after, m_after = _snapshot(net, state.weight_opt, b, j)
            same = all(np.array_equal(x, y) for x, y in zip(w + m, w_after + m_after))
            if j == paths[b, 0]:
                assert not same or not w, (b, j)  # the active one moved (zero op has no weights)
            else:
                assert same, (b, j)


def test_weight_decay_term_covers_shared_and_active_kernels_only():
    space, data = tiny_space(), tiny_data()
    config = make_config("toy", batch_size=8, weight_decay=0.1, loss="ce")
    strategy = tf.distribute.get_strategy()
    state = SearchState(space, config, strategy, data.steps_per_epoch)
    steps = SearchSteps(state, config, None, strategy, data.batch_size)
    net = state.supernet
    paths = tf.constant([[1, 1], [2, 2]])
    kernels = net.shared_decay_variables() + net.candidate_decay_tensors()[0][1]
    expected = 0.5 * 0.1 * sum(float(tf.reduce_sum(tf.square(k))) for k in kernels)
    assert float(steps._l2(paths)) == pytest.approx(expected, rel=1e-5)


def test_two_phase_cosine():
    s = TwoPhaseCosine(0.05, 10, 0.025, 20)
    assert float(s(0)) == pytest.approx(0.05)
    assert float(s(5)) == pytest.approx(0.025, rel=1e-5)
    assert float(s(10)) == pytest.approx(0.025)
    assert float(s(20)) == pytest.approx(0.0125, rel=1e-5)
    assert float(s(30)) == pytest.approx(0.0, abs=1e-7)
    assert TwoPhaseCosine(**s.get_config()).get_config() == s.get_config()



def test_shared_weights_update_only_the_active_slice():
    """With shared candidate weights, a step of candidate k3_e3 moves only
    the entries it uses: the rest of the block's weights and momenta stay."""
    net, opt, step = _setup(PathMaskedSGD(0.1, momentum=0.9), candidate_weights="shared")
    step(tf.constant([1, 0]))  # k5_e6 (the whole block) learns and gets momentum
    block0 = [(v, masks) for v, b, masks in net.shared_masks() if b == 0]
    moms = {id(v): opt.momentums[opt._get_variable_index(v)] for v, _ in block0}
    before = {id(v): (v.numpy().copy(), moms[id(v)].numpy().copy()) for v, _ in block0}
    step(tf.constant([0, 0]))  # k3_e3: a slice of it
    moved = False
    for v, masks in block0:
        w0, m0 = before[id(v)]
        inside = masks[0]
        np.testing.assert_array_equal(v.numpy()[~inside], w0[~inside])  # bit-identical outside
        np.testing.assert_array_equal(moms[id(v)].numpy()[~inside], m0[~inside])
        moved |= not np.array_equal(v.numpy()[inside], w0[inside])
    assert moved


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
