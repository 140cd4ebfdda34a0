"""bench/search_quality.py's pure parts: the random archs at a latency, the
rank, Kendall's tau (the benchmark itself runs for an hour)."""

import numpy as np
import pytest

from pxnas_tf.search import LatencyModel
from pxnas_tf.testing import load_bench

search_quality = load_bench("search_quality")


def _model():
    # Three blocks: a cheap pair and a heavy tail, as on the int8 host tables.
    return LatencyModel(0.1, ((0.01, 0.02, 1.0), (0.01, 0.03, 2.0, 0.0), (0.02, 0.04, 1.5)),
                        "ms", "made up")


def test_random_archs_lie_in_the_window_and_are_distinct():
    model = _model()
    archs = search_quality.random_archs_near(model, 0.16, 0.1, 3, seed=0)
    assert len({tuple(a) for a in archs}) == 3
    for a in archs:
        assert abs(model.arch_latency(a) - 0.16) <= 0.016 + 1e-12
    # Seeded: the same draw twice, another with another seed.
    assert archs == search_quality.random_archs_near(model, 0.16, 0.1, 3, seed=0)
    with pytest.raises(ValueError, match="only"):
        search_quality.random_archs_near(model, 0.16, 0.001, 50, seed=0, max_draws=40000)


def test_random_archs_are_uniform_among_those_in_the_window():
    model = _model()
    import itertools
    inside = [ix for ix in itertools.product(*[range(len(b)) for b in model.blocks])
              if abs(model.arch_latency(ix) - 0.16) <= 0.05 * 0.16]
    counts = {ix: 0 for ix in inside}
    for seed in range(300):
        (a,) = search_quality.random_archs_near(model, 0.16, 0.05, 1, seed=seed)
        counts[tuple(a)] += 1
    assert set(counts) == set(inside) and len(inside) >= 2
    expected = 300 / len(inside)
    assert all(abs(c - expected) < 4 * np.sqrt(expected) for c in counts.values())


def test_rank_counts_better_others_and_half_the_ties():
    assert search_quality.rank_of(0.9, [0.8, 0.7]) == 1
    assert search_quality.rank_of(0.75, [0.8, 0.7]) == 2
    assert search_quality.rank_of(0.8, [0.8, 0.9]) == 2.5


def test_kendall_tau():
    assert search_quality.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert search_quality.kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)


def test_agreement_and_its_chance_level():
    a, b, c = ["x", "y", "z", "w"], ["x", "y", "q", "q"], ["x", "q", "z", "w"]
    pair, majority = search_quality.agreement([a, b, c])
    assert pair == pytest.approx((2 / 4 + 3 / 4 + 1 / 4) / 3)
    assert majority == pytest.approx(1.0)  # every block has an op chosen twice or more
    assert search_quality.agreement([a, b])[1] == pytest.approx(0.5)
    assert search_quality.chance_agreement([["x", "x"], ["y", "y"]]) == pytest.approx(0.5)


def test_noise_table_separates_real_differences_from_seed_noise():
    real = search_quality.noise_table({"a": [0.80, 0.81, 0.79], "b": [0.70, 0.71, 0.69],
                           "c": [0.75, 0.76, 0.74]})
    assert real["between_std"] == pytest.approx(0.05) and real["within_std"] == pytest.approx(0.01)
    assert real["share"] > 0.9 and real["seed_tau"] == pytest.approx(1.0)
    noise = search_quality.noise_table({"a": [0.80, 0.70, 0.76], "b": [0.70, 0.80, 0.74],
                            "c": [0.76, 0.74, 0.75]})
    assert noise["share"] == 0.0 and noise["seed_tau"] < 0


def test_ranking_features_reads_what_each_ranking_follows():
    def net(name, ops, top1):
        return {"name": name, "ops": ops, "val_top1": top1}
    runs = [{"search": {"scale": 1.0}, "random_ms": [0.1, 0.2, 0.3],
             "randoms": [net("a", ["zero", "k3_e3"], 0.80), net("b", ["k3_e3", "k5_e6"], 0.79),
                         net("c", ["k5_e6", "k5_e6"], 0.78)]}]
    # The supernet scores fall with the skipped blocks where stand-alone top-1 rises.
    scores = [{"a": 0.60, "b": 0.65, "c": 0.70}]
    out = search_quality.ranking_features(runs, scores)
    standalone_tau, supernet_tau = out["features"]["skipped blocks"]
    assert standalone_tau > 0 > supernet_tau
    assert out["within"]["x1"] == pytest.approx(-1.0)
