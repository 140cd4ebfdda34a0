"""The known-answer check (bench/known_answer.py) at CI size: with the
latency term on, the search gives a trainable candidate a larger
probability than its twin of identical latency whose weights stay at their
random initialisation, in at least 90% of the blocks."""

import numpy as np
import pytest

from pxnas_tf.search import LatencyModel, make_config
from pxnas_tf.testing import load_bench, tiny_data, tiny_space

known_answer = load_bench("known_answer")

# The demo's arch-step settings (the schedule below is the demo's, shortened).
DEMO = known_answer.pipeline_defaults()
SPACE = tiny_space(candidates=("k3_e3", "k5_e3", "k3_e6"), blocks=5, zero_op=False)


def test_twins_share_latency_and_the_frozen_twin_alternates():
    latency = known_answer.twin_latency(LatencyModel.from_macs(SPACE))
    for row in latency.blocks:
        assert row[0] == row[1] and row[2] > row[0]
    frozen = [j for _, j in known_answer.frozen_pairs(5, seed=0)]
    assert frozen == [0, 1, 0, 1, 0]
    assert [j for _, j in known_answer.frozen_pairs(5, seed=1)] == [1, 0, 1, 0, 1]


@pytest.mark.parametrize("kind", ["shared", "independent"])
def test_frozen_candidate_keeps_its_initial_weights(tmp_path, kind):
    """The frozen candidate has weights of its own (with shared candidate
    weights too) that no step changes; the other candidates train."""
    from pxnas_tf.search import Search
    latency = known_answer.twin_latency(LatencyModel.from_macs(SPACE))
    config = make_config("toy", batch_size=8, warmup_epochs=1, epochs=1, arch_delay_epochs=0,
                         arch_every=1, candidate_weights=kind,
                         frozen_candidates=((0, 0), (1, 1)), loss="ce")
    search = Search(SPACE, tiny_data(), config, str(tmp_path), latency, progress=False)
    net = search.state.supernet
    frozen = [net.mixed_ops[0].ops[0], net.mixed_ops[1].ops[1]]
    assert all(op is not None and not op.trainable_weights for op in frozen)
    before = [[w.numpy().copy() for w in op.weights] for op in frozen]
    trained = net.mixed_ops[0].ops[1] if kind == "independent" else net.mixed_ops[0].shared_op
    trained_before = [w.numpy().copy() for w in trained.trainable_weights]
    search.run()
    for op, weights in zip(frozen, before):
        for w, w0 in zip(op.weights, weights):
            np.testing.assert_array_equal(w.numpy(), w0)
    assert any(not np.array_equal(w.numpy(), w0)
               for w, w0 in zip(trained.trainable_weights, trained_before))
    with pytest.raises(ValueError, match="zero op"):
        from pxnas_tf.models.supernet import Supernet
        Supernet(tiny_space(candidates=("k3_e3",)), frozen_candidates=((0, 1),))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["shared", "independent"])
def test_search_prefers_the_trainable_twin(tmp_path, kind):
    latency = known_answer.twin_latency(LatencyModel.from_macs(SPACE))
    lo, hi = latency.bounds()
    wins = blocks = 0
    for seed in (0, 1):
        config = make_config("toy", batch_size=16, warmup_epochs=2, epochs=3,
                             arch_delay_epochs=0, arch_every=1, arch_lr=0.05,
                             arch_beta1=DEMO["arch_beta1"], arch_samples=DEMO["arch_samples"],
                             loss="abs#target", target_latency=lo + 0.3 * (hi - lo),
                             latency_lambda=0.1, seed=seed, checkpoint_every=0,
                             candidate_weights=kind)
        outcome = known_answer.run_one(SPACE, tiny_data(n_train=256, n_arch=64, batch=16),
                                       config, str(tmp_path / str(seed)), latency)
        wins, blocks = wins + outcome.wins, blocks + len(outcome.frozen)
    assert wins >= 0.9 * blocks, f"trainable twin won {wins} of {blocks} blocks"
