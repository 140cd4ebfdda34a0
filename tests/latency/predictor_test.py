"""Tests of the table predictor against the published ProxylessNAS table."""

import dataclasses
import os
import random

import numpy as np
import pytest
import yaml

from pxnas_tf.latency.model import predictor
from pxnas_tf.latency.model.table import (
    LatencyEntry, LatencyTable, LatencyTableError, MissingKeysError,
)
from pxnas_tf.search_space import Arch, load_space
from pxnas_tf.testing import HAND_KEYS, HAND_OPS

PUBLISHED = os.path.join(os.path.dirname(__file__), "testdata", "proxylessnas_mobile_trim.yaml")


def published_path():
    return PUBLISHED


@pytest.fixture(scope="module")
def raw():
    with open(published_path()) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def table():
    return LatencyTable.from_yaml(published_path(), {"device": "Pixel 1", "threads": 1})


@pytest.fixture(scope="module")
def space():
    return load_space("proxyless_imagenet")


def test_expected_latency_equals_hand_sum(raw, table, space):
    arch = Arch(space, tuple(HAND_OPS))
    estimate = predictor.predict(arch, table)
    hand_sum = sum(raw[key]["mean"] for key in HAND_KEYS)
    assert estimate.total_ms == pytest.approx(hand_sum, rel=1e-12)
    assert float(estimate) == estimate.total_ms
    assert [layer.key for layer in estimate.layers if layer.key] == HAND_KEYS
    by_name = estimate.by_name()
    assert by_name["stem"] == raw[HAND_KEYS[0]]["mean"]
    assert by_name["first_block"] == raw[HAND_KEYS[1]]["mean"]
    assert by_name["blocks.2"] == 0.0 and by_name["blocks.20"] == raw[HAND_KEYS[-3]]["mean"]
    assert by_name["head_conv"] == raw[HAND_KEYS[-2]]["mean"]
    assert by_name["logits"] == raw[HAND_KEYS[-1]]["mean"]
    assert len(estimate.layers) == 4 + 21
    print(f"\nhand-picked arch: {estimate.total_ms:.3f} ms on the published Pixel 1 table")


def test_space_keys_all_in_published_table(table, space):
    coverage = predictor.table_coverage(space, table)
    print(f"\nspace keys missing from the published table: {list(coverage.missing)}")
    print(f"published keys no arch of the space uses: {list(coverage.unused)}")
    assert coverage.complete
    # The table also has first-block keys for kernels 5 and 7 (our first block is fixed k3_e1).
    assert coverage.unused == (
        "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:5-stride:1-idskip:0",
        "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:7-stride:1-idskip:0",
    )
    predictor.check_table_covers(space, table)


def test_matrix_layout(raw, table, space):
    matrix = predictor.block_latency_matrix(space, table)
    assert matrix.constant_ms == pytest.approx(
        sum(raw[k]["mean"] for k in HAND_KEYS[:2] + HAND_KEYS[-2:]), rel=1e-12)
    blocks = space.blocks()
    assert len(matrix.blocks) == len(blocks) == 21
    for block, lat in zip(blocks, matrix.blocks):
        assert lat.dtype == np.float64 and lat.shape == (len(block.candidates),)
        for op, value in zip(block.candidates, lat):
            assert (value == 0.0) == (op == "zero")
    # block 1 (stage 0, residual) candidate k5_e3 is the third candidate
    assert blocks[1].candidates[2] == "k5_e3"
    assert matrix.blocks[1][2] == raw[HAND_KEYS[3]]["mean"]


def test_matrix_consistent_with_expected_latency(table, space):
    rng = random.Random(0)
    matrix = predictor.block_latency_matrix(space, table)
    blocks = space.blocks()
    for _ in range(25):
        choice = [rng.randrange(len(b.candidates)) for b in blocks]
        arch = Arch(space, tuple(b.candidates[j] for b, j in zip(blocks, choice)))
        one_hot = [np.eye(len(b.candidates))[j] for b, j in zip(blocks, choice)]
        assert predictor.expected_latency_from_probs(matrix, one_hot) == pytest.approx(
            predictor.predict(arch, table).total_ms, rel=1e-12)
    uniform = [np.full(len(b.candidates), 1.0 / len(b.candidates)) for b in blocks]
    mean_of_means = matrix.constant_ms + sum(float(lat.mean()) for lat in matrix.blocks)
    assert predictor.expected_latency_from_probs(matrix, uniform) == pytest.approx(mean_of_means)
    with pytest.raises(ValueError, match="probability vectors"):
        predictor.expected_latency_from_probs(matrix, uniform[:-1])
    with pytest.raises(ValueError, match="block 0"):
        predictor.expected_latency_from_probs(matrix, [np.ones(3)] + uniform[1:])


def test_missing_keys_error_lists_and_advises(table):
    small = load_space("proxyless_small")
    with pytest.raises(MissingKeysError) as info:
        predictor.block_latency_matrix(small, table)
    message = str(info.value)
    assert "pxnas latency build --space=proxyless_small" in message
    assert "lacks 70 key(s)" in message and "... and 60 more" in message
    assert message.count("\n  ") == 11  # ten keys and the '... more' line
    assert len(info.value.missing) == 70
    assert message.index("Conv-input:32x32x3") < message.index("expanded_conv")  # network order


def test_missing_key_of_one_arch(table, space):
    partial = LatencyTable(table.metadata, dict(table.entries), source="partial.json")
    del partial.entries[HAND_KEYS[3]]  # block 1, k5_e3
    arch = Arch(space, tuple(HAND_OPS))
    with pytest.raises(MissingKeysError) as info:
        predictor.predict(arch, partial)
    assert info.value.missing == (HAND_KEYS[3],)
    assert "partial.json" in str(info.value) and "more" not in str(info.value)
    skipped = Arch(space, tuple("zero" if i == 1 else op for i, op in enumerate(HAND_OPS)))
    assert predictor.predict(skipped, partial).by_name()["blocks.1"] == 0.0
    with pytest.raises(MissingKeysError):
        predictor.block_latency_matrix(space, partial)
    partial.metadata = dataclasses.replace(partial.metadata, space="other_space")
    with pytest.raises(MissingKeysError, match="built for space 'other_space'"):
        predictor.check_table_covers(space, partial)


def test_stats_other_than_mean():
    space = load_space("proxyless_small")
    table = LatencyTable()
    for key in predictor.keys_lib.space_keys(space):
        table.set(key, LatencyEntry(2.0, median=1.0, std=0.1, count=5))
    arch = Arch(space, tuple(b.candidates[0] for b in space.blocks()))
    assert predictor.predict(arch, table, stat="median").total_ms == pytest.approx(
        (space.num_blocks + 4) * 1.0)
    matrix = predictor.block_latency_matrix(space, table, stat="median")
    assert matrix.constant_ms == pytest.approx(4.0)
    imported = LatencyTable()
    imported.set(predictor.keys_lib.stem_key(space), LatencyEntry(1.0))
    with pytest.raises(LatencyTableError, match="no median"):
        imported.value(predictor.keys_lib.stem_key(space), "median")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
