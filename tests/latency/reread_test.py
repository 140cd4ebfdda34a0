"""The re-read term: which weights it counts, that its fit recovers a known
rate, and that it prices whole nets' ops only (not table keys)."""

import pytest

from pxnas_tf.latency.model import op_model as om
from pxnas_tf.latency.model import reread
from pxnas_tf.latency.model.ops import Op
from pxnas_tf.latency.model.streaming import footprint_bytes

L2_WEIGHTS = 1 << 20  # int8: 1 MiB of L2


def _head(channels: int = 1024, classes: int = 1000) -> list[Op]:
    """A classifier head at one pixel: a 1x1 conv (gemv) and a dense layer (fc)."""
    return [Op("conv", (1, 1, channels), (1, 1, channels)), Op("fc", (channels,), (classes,))]


def test_counts_one_pixel_products_up_to_l2_each():
    ops = _head()  # 1024 x 1024 and 1024 x 1000 weights: both fit in L2 alone
    assert reread.reread_bytes(ops, "int8", L2_WEIGHTS) == 1024 * 1024 + 1024 * 1000
    # float32: 4 bytes a weight, the same ops
    assert reread.reread_bytes(ops, "float32", L2_WEIGHTS // 4) == 4 * (L2_WEIGHTS // 4) * 2
    # a product larger than L2 counts L2's worth: the rest it streams alone too
    wide = [Op("fc", (2048,), (1000,))]
    big = wide + _head()
    assert reread.reread_bytes(big, "int8", L2_WEIGHTS) == (
        L2_WEIGHTS + 1024 * 1024 + 1024 * 1000)


def test_nothing_while_the_net_fits_in_l2_or_l2_is_unknown():
    small = _head(64, 10)
    assert footprint_bytes(small, "int8") < L2_WEIGHTS
    assert reread.reread_bytes(small, "int8", L2_WEIGHTS) == 0.0
    assert reread.reread_bytes(_head(), "int8", 0) == 0.0


def test_convs_on_larger_maps_and_depthwise_ops_are_not_counted():
    ops = [Op("conv", (8, 8, 512), (8, 8, 512)),            # 64 pixels: reuses its weights
           Op("dwconv", (1, 1, 4096), (1, 1, 4096), kernel=7),
           Op("conv", (2, 2, 512), (2, 2, 512))]           # 4 pixels: a gemv
    assert reread.reread_bytes(ops, "int8", 1 << 18) == 512 * 512


def test_fit_recovers_a_known_rate():
    r = 0.0025
    nets = [(mb, rest + r * mb, rest) for mb, rest in
            ((0.0, 1.0), (1.2, 0.4), (3.5, 0.15), (6.1, 0.6), (2.0, 2.5), (4.4, 0.09))]
    assert reread.fit(nets) == pytest.approx(r)
    # nets that run faster than predicted give no negative rate
    assert reread.fit([(mb, rest * 0.9, rest) for mb, _, rest in nets]) == 0.0
    # too few nets re-read anything: no rate
    assert reread.fit(nets[:3] + [(0.0, 1.0, 1.0)] * 5) == 0.0


def test_the_term_prices_whole_nets_only(tmp_path):
    ops = _head()
    coef = {g: [0.0] * len(om.FEATURES[g]) for g in ("gemv", "fc")}
    coef["gemv"][0] = coef["fc"][0] = 0.5  # 0.5 ms each, whatever the shape
    model = om.OpModel(coef, {"gemv": 1, "fc": 1}, 0.0, 0.1, metadata={"precision": "int8"},
                       l2_weights=L2_WEIGHTS, reread_per_mb=0.003)
    mb = reread.reread_bytes(ops, "int8", L2_WEIGHTS) / 1e6
    assert model.predict_ops(ops, add_overhead=False, in_net=True).ms == pytest.approx(
        1.0 + 0.003 * mb)
    assert model.predict_ops(ops, add_overhead=False).ms == pytest.approx(1.0)
    model.save(str(tmp_path / "m.json"))
    assert om.OpModel.load(str(tmp_path / "m.json")).reread_per_mb == 0.003
