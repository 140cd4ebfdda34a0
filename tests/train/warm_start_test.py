"""Warm start from a real search workdir (the search's own state and
checkpoint code), a .keras file and a .npz."""

import numpy as np
import pytest

import tensorflow as tf

from pxnas_tf import fileio
from pxnas_tf.models import build_model
from pxnas_tf.search import records
from pxnas_tf.search.config import SearchConfig
from pxnas_tf.search.state import SearchState
from pxnas_tf.train.config import TrainError
from pxnas_tf.train.warm_start import is_search_workdir, warm_start
from pxnas_tf.models.weights import layer_weights, save_npz


def _search_workdir(path, space, candidate_weights="independent"):
    """A search workdir as `pxnas search` leaves it: run.json and a
    checkpoint of its state, with supernet weights set to known values."""
    config = SearchConfig(loss="ce", warmup_epochs=1, epochs=1,
                          candidate_weights=candidate_weights)
    state = SearchState(space, config, tf.distribute.get_strategy(), steps_per_epoch=2)
    rng = np.random.default_rng(7)
    for v in state.supernet.weight_variables:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    manager = tf.train.CheckpointManager(state.checkpoint(), str(path / "checkpoints"), 3)
    manager.save(checkpoint_number=2)
    fileio.atomic_write_json(str(path / "run.json"), records.run_record(
        space.to_dict(), {"name": "synthetic"}, config.to_dict(), None))
    return state.supernet


@pytest.mark.parametrize("candidate_weights", ["independent", "shared"])
def test_from_a_search_workdir(tiny_arch, tmp_path, candidate_weights):
    supernet = _search_workdir(tmp_path, tiny_arch.space, candidate_weights)
    assert is_search_workdir(str(tmp_path))
    model = build_model(tiny_arch)
    report = warm_start(model, str(tmp_path))
    assert report.complete
    source = supernet.derived_weights()
    if candidate_weights == "independent":  # the supernet's own layers, by name
        for name, weights in layer_weights(supernet).items():
            assert all(np.array_equal(a, b) for a, b in zip(source[name], weights)), name
    for name in ("stem_conv", "b00_k3_e3_expand_conv", "b02_k5_e6_depthwise_dw", "logits"):
        for got, want in zip(model.get_layer(name).get_weights(), source[name]):
            np.testing.assert_array_equal(got, want)


def test_other_classes_keep_a_fresh_classifier(tiny_arch, tmp_path):
    _search_workdir(tmp_path, tiny_arch.space)
    from pxnas_tf.search_space import Arch
    arch = Arch(tiny_arch.space.replace(num_classes=3), tiny_arch.ops)
    report = warm_start(build_model(arch), str(tmp_path))
    assert [name for name, _ in report.mismatched] == ["logits"]
    assert "stem_conv" in report.copied


def test_from_keras_and_npz_files(tiny_arch, tmp_path):
    trained = build_model(tiny_arch)
    keras_path, npz_path = str(tmp_path / "a.keras"), str(tmp_path / "a.npz")
    trained.save(keras_path)
    save_npz(layer_weights(trained), npz_path)
    for source in (keras_path, npz_path):
        model = build_model(tiny_arch)
        assert warm_start(model, source).complete
        for w1, w2 in zip(model.get_weights(), trained.get_weights()):
            np.testing.assert_array_equal(w1, w2)


def test_bad_sources(tiny_arch, tmp_path):
    with pytest.raises(TrainError, match="is not a search workdir"):
        warm_start(build_model(tiny_arch), str(tmp_path))
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(TrainError, match="has no checkpoint yet"):
        warm_start(build_model(tiny_arch), str(tmp_path))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
