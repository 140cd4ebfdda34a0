"""Weights by layer name: between builds, through .npz, from a supernet."""

import numpy as np
import pytest

from pxnas_tf.models import build_model
from pxnas_tf.models.supernet import Supernet
from pxnas_tf.search_space import Arch
from pxnas_tf.models.weights import (
    layer_weights, leaf_layers, load_npz, save_npz, transfer_weights,
)


def test_transfer_between_builds(tiny_arch):
    a, b = build_model(tiny_arch), build_model(tiny_arch, batch_size=1)
    report = transfer_weights(layer_weights(a), b)
    assert report.complete and len(report.copied) == len(layer_weights(a))
    for w1, w2 in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_mismatch_is_named(tiny_arch):
    other = Arch(tiny_arch.space, ("k5_e6", "k3_e3", "k5_e6"))
    with pytest.raises(ValueError, match="b00_k5_e6_expand_conv"):
        transfer_weights(layer_weights(build_model(tiny_arch)), build_model(other))
    report = transfer_weights(layer_weights(build_model(tiny_arch)), build_model(other),
                              strict=False)
    assert "b01_k3_e3_expand_conv" in report.missing and "stem_conv" in report.copied


def test_npz_round_trip(tiny_arch, tmp_path):
    model = build_model(tiny_arch)
    path = str(tmp_path / "w.npz")
    save_npz(layer_weights(model), path)
    loaded = load_npz(path)
    assert set(loaded) == set(layer_weights(model))
    bn = loaded["stem_bn"]
    assert [w.shape for w in bn] == [(8,)] * 4  # gamma, beta, mean, variance in order


def test_supernet_candidates_feed_the_derived_net(tiny_arch):
    supernet = Supernet(tiny_arch.space)
    supernet.build()
    leaves = {layer.name for layer in leaf_layers(supernet)}
    assert {"stem_conv", "b00_k3_e3_expand_conv", "b02_k5_e6_depthwise_dw", "logits"} <= leaves
    derived = build_model(tiny_arch)
    assert transfer_weights(layer_weights(supernet), derived).complete


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
