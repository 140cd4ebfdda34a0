"""Supernet: built from presets and files, variables kept apart, the
forward of one path equals the derived net of that arch."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.models import build_model
from pxnas_tf.models.supernet import Supernet, copy_to_derived
from pxnas_tf.search_space import load_space
from pxnas_tf.testing import tiny_space


def tiny():
    """Two stages at 8x8: residual blocks, then a strided, wider one."""
    return tiny_space(stages=((8, 2, 1), (16, 1, 2)))


def test_preset_space_builds_with_one_mixed_op_per_block():
    space = load_space("proxyless_small")
    net = Supernet(space)
    net.build()
    assert net.num_blocks == space.num_blocks == 11
    assert [op.candidates for op in net.mixed_ops] == [list(b.candidates) for b in space.blocks()]
    assert sum(int(a.shape[0]) for a in net.arch_variables) == sum(
        len(b.candidates) for b in space.blocks())
    arch_ids = {id(v) for v in net.arch_variables}
    assert not arch_ids & {id(v) for v in net.weight_variables}
    assert len(net.weight_variables) + len(net.arch_variables) == len(net.trainable_variables)
    y = net(tf.zeros((2, 32, 32, 3)), net.argmax_paths(), training=False)  # rank-1 paths
    assert tuple(y.shape) == (2, 10)


def test_candidate_variables_map_to_their_block_and_candidate():
    net = Supernet(tiny())
    net.build()
    entries = net.candidate_variables()
    for v, b, j in entries:
        assert f"b{b:02d}_{net.mixed_ops[b].candidates[j]}" in v.path
    counted = sum(len(c.trainable_variables) for op in net.mixed_ops for c in op.ops)
    assert len(entries) == counted
    kernels = net.candidate_decay_tensors()
    assert [len(k) for k in kernels[0]] == [3, 3, 0]  # expand, depthwise, project; zero op
    assert net.shared_masks() == []
    assert all(k.name == "kernel" for k in net.shared_decay_variables())
    assert len(net.shared_decay_variables(include_bn_bias=True)) > len(net.shared_decay_variables())


@pytest.mark.parametrize("weights", ["independent", "shared"])
@pytest.mark.parametrize("ops", [("k5_e6", "zero", "k3_e3"), ("k3_e3", "k5_e6", "k5_e6")])
def test_one_path_of_the_supernet_is_the_derived_net(ops, weights):
    space = tiny()
    net = Supernet(space, candidate_weights=weights)
    net.build()
    x = tf.random.stateless_normal((3, 8, 8, 1), seed=[0, 1])
    # Touch BN statistics so that they are not the initial ones.
    for _ in range(2):
        net(x, tf.constant([0, 1, 1]), training=True)
        net(x, tf.constant([1, 0, 0]), training=True)
    arch = net.arch_of([net.mixed_ops[b].candidates.index(op) for b, op in enumerate(ops)])
    model = build_model(arch)
    assert copy_to_derived(net, model) > 0
    indices = [net.mixed_ops[b].candidates.index(op) for b, op in enumerate(ops)]
    for training in (False, True):
        np.testing.assert_allclose(
            net(x, tf.constant(indices), training=training, update_stats=False).numpy(),
            model(x, training=training).numpy(), rtol=1e-5, atol=1e-5)


def test_shared_candidates_are_slices_of_one_block():
    net = Supernet(tiny(), candidate_weights="shared")
    net.build()
    assert net.candidate_variables() == []
    op = net.mixed_ops[0]  # candidates k3_e3, k5_e6, zero
    weights = op.derived_weights()
    small, big = weights[f"{op.name}_k3_e3_depthwise_dw"][0], weights[f"{op.name}_k5_e6_depthwise_dw"][0]
    assert small.shape[:2] == (3, 3) and big.shape[:2] == (5, 5)
    np.testing.assert_array_equal(small, big[1:4, 1:4, :small.shape[2]])  # centre, first channels
    e3 = weights[f"{op.name}_k3_e3_expand_conv"][0]
    np.testing.assert_array_equal(e3, weights[f"{op.name}_k5_e6_expand_conv"][0][..., :e3.shape[-1]])
    # Candidate j's masks mark exactly its slices; the zero op marks nothing.
    for v, b, masks in net.shared_masks():
        if b == 0:
            assert masks.shape == (3, *v.shape) and not masks[2].any() and masks[1].all()
            assert 0 < masks[0].sum() < masks[1].sum() or v.path.endswith("project_bn_gamma") \
                or v.path.endswith("project_bn_beta")
    with pytest.raises(ValueError, match="unknown candidate_weights"):
        Supernet(tiny(), candidate_weights="tied")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mixed-op mode"):
        Supernet(tiny(), mode="half")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
