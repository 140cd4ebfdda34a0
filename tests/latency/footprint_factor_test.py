"""The footprint factor: its fit recovers a known slope, it applies only past
its threshold, and only to whole nets' ops (not to table keys)."""

import pytest

from pxnas_tf.latency.model import footprint_factor as ff
from pxnas_tf.latency.model import op_model as om
from pxnas_tf.latency.model.ops import Op
from pxnas_tf.latency.model.streaming import footprint_bytes


def test_fit_recovers_a_known_slope_and_ignores_small_nets():
    s, f0 = 0.01, 8.0
    nets = []
    for ops_ms, other, mb in ((1.0, 0.1, 4.0), (0.5, 0.05, 12.0), (2.0, 0.1, 20.0),
                              (0.8, 0.02, 31.0), (0.3, 0.01, 7.9), (0.6, 0.0, 9.0),
                              (1.5, 0.1, 16.0)):
        nets.append((ops_ms, other, ops_ms * ff.factor(mb, s, f0) + other, mb))
    assert ff.fit(nets, f0) == pytest.approx(s)
    assert ff.fit([n for n in nets if n[3] <= f0], f0) == 0.0  # nothing past the threshold
    assert ff.fit([n for n in nets if n[3] <= 12], f0) == 0.0  # 2 past it: too few for a slope
    # Nets that run faster than predicted give no negative slope.
    assert ff.fit([(1.0, 0.0, 0.9, mb) for mb in (10, 20, 30, 40)], f0) == 0.0
    assert ff.factor(5.0, s, f0) == 1.0 and ff.factor(18.0, s, f0) == pytest.approx(1.1)


def test_threshold_and_large_specs():
    assert ff.threshold_mb({"L2": 1 << 20, "L3": 32_000_000}) == pytest.approx(8.0)
    assert ff.threshold_mb({}) is None and ff.threshold_mb(None) is None
    assert ff.is_large(f"synth_s{ff.LARGE_SEED0}@64") and not ff.is_large("synth_s1000@64")
    assert not ff.is_large("mobilenetv2_a0.5@96")


def test_the_factor_scales_whole_nets_only(tmp_path):
    ops = [Op("conv", (1, 1, 1024), (1, 1, 1024)), Op("fc", (1024,), (1000,))]
    coef = {g: [0.0] * len(om.FEATURES[g]) for g in ("gemv", "fc")}
    coef["gemv"][0] = coef["fc"][0] = 0.5  # 0.5 ms each, whatever the shape
    model = om.OpModel(coef, {"gemv": 1, "fc": 1}, 0.0, 0.1, metadata={"precision": "float32"},
                       footprint_per_mb=0.02, footprint_from_mb=1.0)
    mb = footprint_bytes(ops, "float32") / 1e6
    assert mb > 1.0
    whole = model.predict_ops(ops, add_overhead=False, in_net=True).ms
    assert whole == pytest.approx(1.0 * (1 + 0.02 * (mb - 1.0)))
    assert model.predict_ops(ops, add_overhead=False).ms == pytest.approx(1.0)
    model.save(str(tmp_path / "m.json"))
    again = om.OpModel.load(str(tmp_path / "m.json"))
    assert (again.footprint_per_mb, again.footprint_from_mb) == (0.02, 1.0)
