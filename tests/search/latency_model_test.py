"""The search's latency model: table and MACs proxy, coverage, bounds,
precision and target checks."""

import itertools

import numpy as np
import pytest

from pxnas_tf.latency import LatencyTable, MissingKeysError, TableMetadata
from pxnas_tf.latency.model.keys import space_keys
from pxnas_tf.models.profile import profile_arch
from pxnas_tf.search import LatencyModel, SearchError
from pxnas_tf.search_space import Arch
from pxnas_tf.testing import tiny_space


def _table(space, path, precision="float32", drop=0):
    keys = space_keys(space)
    table = LatencyTable(TableMetadata(device="test", precision=precision, space=space.name))
    for i, key in enumerate(keys[drop:]):
        table.set(key, 1.0 + i)
    table.save(str(path))
    return keys


def test_table_model_matches_the_table(tmp_path):
    space = tiny_space()
    keys = _table(space, tmp_path / "t.json")
    model = LatencyModel.from_table(space, str(tmp_path / "t.json"))
    assert model.unit == "ms" and len(model.blocks) == space.num_blocks
    assert model.blocks[0][-1] == 0.0  # zero op costs nothing
    values = {k: 1.0 + i for i, k in enumerate(keys)}
    # stem + first block + head + logits
    assert model.constant == pytest.approx(values[keys[0]] + values[keys[1]] + values[keys[-2]]
                                           + values[keys[-1]])
    fastest, slowest = model.bounds()
    all_archs = [model.arch_latency(ix) for ix in itertools.product(*[range(len(b)) for b in model.blocks])]
    assert fastest == pytest.approx(min(all_archs)) and slowest == pytest.approx(max(all_archs))
    p = [np.full(len(b), 1 / len(b)) for b in model.blocks]
    assert model.expected(p) == pytest.approx(np.mean(all_archs))


def test_missing_keys_are_listed_before_anything_runs(tmp_path):
    space = tiny_space()
    keys = _table(space, tmp_path / "t.json", drop=2)
    with pytest.raises(MissingKeysError) as err:
        LatencyModel.from_table(space, str(tmp_path / "t.json"))
    assert keys[0] in str(err.value) and keys[1] in str(err.value)
    assert set(err.value.missing) == set(keys[:2])


def test_other_precision_is_refused(tmp_path):
    space = tiny_space()
    _table(space, tmp_path / "t.json", precision="float32")
    with pytest.raises(SearchError, match="precision 'float32'.*'int8'"):
        LatencyModel.from_table(space, str(tmp_path / "t.json"), precision="int8")


def test_macs_proxy_equals_profiled_macs():
    space = tiny_space()
    model = LatencyModel.from_macs(space)
    for ops in (("k3_e3", "zero"), ("k5_e6", "k5_e6")):
        ix = [b.candidates.index(op) for b, op in zip(space.blocks(), ops)]
        assert model.arch_latency(ix) == pytest.approx(profile_arch(Arch(space, ops)).macs / 1e6)


def test_target_outside_the_space_names_both_bounds():
    model = LatencyModel.from_macs(tiny_space())
    fastest, slowest = model.bounds()
    for target, side in ((fastest / 2, "below the fastest"), (slowest * 2, "above the slowest")):
        with pytest.raises(SearchError, match=side) as err:
            model.check_target(target, "add#linear")
        assert f"{fastest:.4g}" in str(err.value) and f"{slowest:.4g}" in str(err.value)
    model.check_target((fastest + slowest) / 2, "add#linear")
    with pytest.raises(SearchError, match="use --loss=abs#target or --loss=add#linear"):
        model.check_target((fastest + slowest) / 2, "mul#log")  # MMACs < 1 here


def test_model_of_another_space_is_refused():
    model = LatencyModel.from_macs(tiny_space(blocks=2))
    with pytest.raises(SearchError, match="does not fit space"):
        model.check_space(tiny_space(blocks=3))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
