"""Validation: metrics, net sampling, prediction with the table and the op
model, and `validate` end to end on the tiny space (real measurements)."""

import json
import os

import numpy as np
import pytest

from pxnas_tf.latency.build import validation
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model import metrics
from pxnas_tf.latency.model.op_model import fit_table
from pxnas_tf.latency.model.predictor import predict
from pxnas_tf.latency.model.table import LatencyTableError, MissingKeysError, load_table
from pxnas_tf.search_space import load_space, random_archs


def test_metrics_by_hand():
    p, m = [1.1, 2.0, 2.7, 5.0], [1.0, 2.0, 3.0, 4.0]
    assert metrics.mape(p, m) == pytest.approx((0.1 + 0 + 0.1 + 0.25) / 4)
    assert metrics.within(p, m, 0.10) == pytest.approx(0.75)
    assert metrics.rmse(p, m) == pytest.approx(np.sqrt((0.01 + 0 + 0.09 + 1.0) / 4))
    assert metrics.kendall_tau(p, m) == pytest.approx(1.0)
    assert metrics.kendall_tau([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    s = metrics.summary(p, m)
    assert set(s) == {"mape", "rmse_ms", "within_10pct", "kendall_tau", "n"} and s["n"] == 4
    with pytest.raises(ValueError, match="equally long"):
        metrics.mape([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="> 0"):
        metrics.mape([1.0], [0.0])


def test_sampled_archs_are_distinct_and_repeatable(tiny_space):
    a = random_archs(tiny_space, 6, seed=3)
    b = random_archs(tiny_space, 6, seed=3)
    assert [x.ops for x in a] == [x.ops for x in b]
    assert len({x.ops for x in a}) == 6
    assert len(random_archs(tiny_space, 100)) == tiny_space.num_archs() == 12


def test_zoo_nets_at_the_space_resolution():
    nets = validation.zoo_nets(load_space("proxyless_small"))
    assert {n.name for n in nets} >= {"zoo:proxyless_mobile", "zoo:mobilenet_v2"}
    assert all(n.arch.space.input_shape == (32, 32, 3) and n.arch.space.num_classes == 10
               for n in nets)


@pytest.mark.timing
def test_prediction_sources(tiny_table_path, tiny_space):
    table = load_table(tiny_table_path)
    arch = random_archs(tiny_space, 1)[0]
    pred = predict(arch, table)
    ms, std, source = pred.total_ms, pred.std_ms, pred.source
    assert source == "table" and std == 0.0 and ms > 0
    wider = tiny_space.replace(width_mult=1.5)
    other = random_archs(wider, 1)[0]
    with pytest.raises(MissingKeysError, match="lacks"):
        predict(other, table)
    model = fit_table(load_table(os.path.join(os.path.dirname(__file__), "testdata",
                                              "host_int8_proxyless_small.json")))
    pred = predict(other, table, model)
    ms2, std2, source2 = pred.total_ms, pred.std_ms, pred.source
    assert source2 in ("op_model", "table+op_model") and std2 > 0 and ms2 > 0


@pytest.mark.timing
def test_validate_end_to_end_and_resume(tiny_table_path, tiny_space, quick, quick_build):
    table = load_table(tiny_table_path)
    report = validation.validate(table, tiny_table_path, HostRunner(settings=quick), tiny_space,
                                 num_archs=3, zoo=False, settings=quick_build, progress=False)
    assert len(report.results) == 3 and report.summary["n"] == 3
    for r in report.results:
        assert r.source == "table" and r.measured_ms > 0 and len(r.runs) >= 2
        assert r.error == pytest.approx((r.predicted_ms - r.measured_ms) / r.measured_ms)
    assert set(report.summary) >= {"mape", "rmse_ms", "within_10pct", "kendall_tau"}
    assert report.plot == validation.plot_path(tiny_table_path) and os.path.getsize(report.plot)
    saved = json.load(open(validation.results_path(tiny_table_path)))
    assert set(saved["nets"]) == {r.name for r in report.results}
    # Run again: everything is reused, nothing measured.
    class Refuse(HostRunner):
        def measure(self, models):
            raise AssertionError(f"measured again: {[m.name for m in models]}")
    again = validation.validate(table, tiny_table_path, Refuse(settings=quick), tiny_space,
                                num_archs=3, zoo=False, settings=quick_build, plot=False,
                                progress=False)
    assert [r.measured_ms for r in again.results] == [r.measured_ms for r in report.results]


@pytest.mark.timing
def test_validate_refuses_another_target(tiny_table_path, tiny_space, quick):
    table = load_table(tiny_table_path)
    with pytest.raises(LatencyTableError, match=r"was measured with 1 thread\(s\), not 2; validate "
                                                r"with the same"):
        validation.validate(table, tiny_table_path, HostRunner(threads=2, settings=quick),
                            tiny_space, num_archs=1, zoo=False, progress=False)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
