"""The slower loop checks (> 20 s each on 2 cores): REINFORCE steering by
its latency reward, and XLA-compiled steps equal to the plain ones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.search import LatencyModel, SearchState, SearchSteps, make_config, run_search
from pxnas_tf.testing import tiny_data, tiny_space

SPACE = tiny_space(candidates=("k3_e3", "k7_e6"))


def _config(**changes):
    base = dict(batch_size=8, warmup_epochs=1, epochs=2, arch_delay_epochs=0, arch_every=1,
                arch_lr=0.1, loss="add#linear", latency_lambda=5.0, checkpoint_every=4,
                keep_checkpoints=20, seed=3)
    base.update(changes)
    return make_config("toy", **base)


@pytest.fixture(scope="module")
def latency():
    return LatencyModel.from_macs(SPACE)


@pytest.mark.slow
def test_reinforce_with_a_latency_reward_prefers_faster_archs(tmp_path, latency):
    target = sum(latency.bounds()) / 2
    expected = {}
    for w in (0.0, 3.0):
        config = _config(grad_mode="reinforce", target_latency=target, reinforce_exponent=w,
                         reinforce_samples=4, arch_lr=0.2)
        result = run_search(SPACE, tiny_data(), config, str(tmp_path / str(w)), latency,
                            progress=False)
        assert result.arch_steps == 16
        expected[w] = latency.expected(result.probabilities)
    assert expected[3.0] < expected[0.0]


@pytest.mark.slow
def test_xla_steps_match_the_plain_ones():
    space = tiny_space()
    results = []
    for jit in (False, True):
        config = make_config("toy", batch_size=8, loss="ce", jit_compile=jit, arch_lr=0.05, seed=1)
        strategy = tf.distribute.get_strategy()
        keras.utils.set_random_seed(1)  # the same initial weights
        state = SearchState(space, config, strategy, 8)
        steps = SearchSteps(state, config, None, strategy, 8)
        train, arch = iter(tiny_data().train), iter(tiny_data().arch)
        for _ in range(2):
            steps.weight_step(train, tf.constant(False))
            steps.arch_step(arch)
        results.append(([a.numpy() for a in state.supernet.arch_variables],
                        [v.numpy() for v in state.supernet.weight_variables]))
    (alpha, weights), (alpha_xla, weights_xla) = results
    for a, b in zip(alpha, alpha_xla):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-5)
    for a, b in zip(weights, weights_xla):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
    assert any(np.ptp(a) > 1e-3 for a in alpha)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
