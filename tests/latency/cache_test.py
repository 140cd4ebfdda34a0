"""Weight streaming: cache sizes from a sysfs tree, the blend rule by hand,
the calibration measured by the real host runner, and a prediction that
adds the streaming time of the net's own weight bytes."""

import os

import pytest

from pxnas_tf.latency.build import streaming_chains
from pxnas_tf.latency.measure import caches
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model import streaming as cache
from pxnas_tf.latency.model.ops import Op, ops_of_key
from pxnas_tf.latency.model.predictor import predict
from pxnas_tf.latency.model.table import load_table
from pxnas_tf.search_space import random_archs


def _sysfs(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return str(root)


def test_cache_sizes_from_sysfs(tmp_path):
    root = _sysfs(tmp_path / "cache", [(1, "Data", "32K"), (1, "Instruction", "64K"),
                                       (2, "Unified", "512K"), (3, "Unified", "8192K")])
    assert caches.cpu_caches(root) == {"L1": 32 << 10, "L2": 512 << 10, "L3": 8 << 20}
    assert caches.cpu_caches(str(tmp_path / "missing")) == {}
    assert caches.parse_size("32M") == 32 << 20 and caches.parse_size("1048576") == 1 << 20
    with pytest.raises(ValueError, match="not a cache size"):
        caches.parse_size("lots")


def test_streaming_fraction_and_time_by_hand():
    l2 = 1_000_000
    assert cache.streaming_fraction(0.5 * l2, l2) == 0.0
    assert cache.streaming_fraction(l2, l2) == 0.0
    assert cache.streaming_fraction(1.01 * l2, l2) == 1.0
    assert cache.streaming_fraction(5 * l2, l2) == 1.0
    info = {"ms_per_mb": 0.05, "l2_bytes": l2}
    assert cache.streaming_ms(4e6, info) == pytest.approx(0.05 * 4.0)
    assert cache.streaming_ms(1.5e6, info) == pytest.approx(0.05 * 1.5)
    assert cache.streaming_ms(0.9e6, info) == 0.0
    assert cache.streaming_ms(4e6, None) == 0.0


def test_the_streaming_curve_by_hand():
    curve = [[1e6, 0.0], [2e6, 0.01], [4e6, 0.008], [8e6, 0.2]]
    assert cache.curve_ms(0.5e6, curve) == 0.0
    assert cache.curve_ms(1.5e6, curve) == pytest.approx(0.005)
    assert cache.curve_ms(3e6, curve) == pytest.approx(0.01)  # never below the point before
    assert cache.curve_ms(6e6, curve) == pytest.approx(0.01 + 0.5 * 0.19)
    assert cache.curve_ms(16e6, curve) == pytest.approx(0.4)  # the last point's rate
    # A net pays the curve above its in-cache rate, its mean rate up to half the
    # last-level cache (here 8 MB: 0.01 ms at 4 MB, 2.5 us a MB); past it, the DRAM part.
    info = {"format": cache.FORMAT, "curve": curve, "ms_per_mb": 0.025, "l2_bytes": 1 << 20,
            "caches": {"L2": 1 << 20, "L3": 8_000_000}}
    assert cache.streaming_ms(4e6, info) == 0.0 == cache.streaming_ms(0.5e6, info)
    assert cache.streaming_ms(1.5e6, info) == pytest.approx(0.005 - 1.5 * 0.0025)
    assert cache.streaming_ms(6e6, info) == pytest.approx(cache.curve_ms(6e6, curve) - 6 * 0.0025)
    assert cache.streaming_ms(16e6, info) == pytest.approx(0.4 - 16 * 0.0025)
    # On runtime buffers the in-cache part fades out from half the cache to its size: at
    # 6 MB half of it is hidden, from 8 MB on none; below 4 MB buffers count as weights.
    assert cache.streaming_ms(6e6, info, buffers=4e6) == pytest.approx(
        cache.curve_ms(6e6, curve) - (6 - 0.5 * 4) * 0.0025)
    assert cache.streaming_ms(16e6, info, buffers=12e6) == pytest.approx(0.4 - 4 * 0.0025)
    assert cache.streaming_ms(16e6, info, buffers=99e6) == pytest.approx(0.4)  # at most F
    assert cache.streaming_ms(3e6, info, buffers=2e6) == cache.streaming_ms(3e6, info)
    assert [cache.hidden_share(f, 8e6) for f in (1e6, 4e6, 5e6, 8e6, 9e6)] == [1, 1, .75, 0, 0]
    # Chains from L2 / 2 to 4 x the last-level cache: int8 1 MiB layers on a 1 MiB L2 and
    # 8 MiB L3 (at least 2 layers each), ...
    assert cache.curve_lengths({"L2": 1 << 20, "L3": 8 << 20}, "int8", 1024) == [2, 4, 8, 16, 32]
    # ... a VM that reports its host's 480 MB L3: at most 64 MiB of weights ...
    assert cache.curve_lengths({"L2": 2 << 20, "L3": 480 << 20}, "float32", 512)[-1] == 64
    # ... and a table whose nets hold at most 3 MiB: up to 4 MiB (2 x L2 at least).
    assert cache.curve_lengths({"L2": 1 << 20, "L3": 8 << 20}, "int8", 1024,
                               max_bytes=3 << 20) == [2, 4]
    assert cache.curve_lengths({"L2": 1 << 20, "L3": 8 << 20}, "int8", 1024,
                               max_bytes=1 << 10) == [2]


def test_calibration_conv_fits_in_half_of_l2():
    """The single calibration model must keep its weights in L2 (else the
    chain's extra time, and so the rate, comes out near 0): 1024 channels
    at int8, 512 at float32 on a 2 MiB L2; a record of a 1024-channel
    float32 single is stale and measured again."""
    l2 = 2 << 20
    for precision, expected in (("int8", 1024), ("float32", 512)):
        c = cache.calibration_channels(l2, precision)
        assert c == expected and c * c * cache.BYTES_PER_WEIGHT[precision] <= l2 // 2
        assert cache.calibration_is_valid({"format": cache.FORMAT, "curve": [[l2, 0.0]],
                                           "channels": c, "l2_bytes": l2}, precision)
        # A record of one chain (format v1) is measured again, as a curve.
        assert not cache.calibration_is_valid({"format": "pxnas_tf.weight_streaming/v1",
                                               "channels": c, "l2_bytes": l2}, precision)
    assert not cache.calibration_is_valid({"format": cache.FORMAT, "curve": [[l2, 0.0]],
                                           "channels": 1024, "l2_bytes": l2}, "float32")


def test_a_footprint_is_weights_and_written_tensors():
    ops = [Op("conv", (8, 8, 16), (8, 8, 32)), Op("pool", (8, 8, 32), (32,))]
    assert cache.footprint_bytes(ops, "int8") == 16 * 32 + 8 * 8 * 32 + 32
    assert cache.footprint_bytes(ops, "float32") == 4 * cache.footprint_bytes(ops, "int8")


def test_weight_bytes_count_every_op_of_the_keys():
    key = "expanded_conv-input:8x8x16-output:8x8x16-expand:3-kernel:3-stride:1-idskip:1"
    weights = sum(op.weights for op in ops_of_key(key))
    assert weights == 16 * 48 + 9 * 48 + 48 * 16
    assert cache.weight_bytes([key, key], "float32") == 2 * 4 * weights
    assert cache.weight_bytes([key], "int8") == weights
    with pytest.raises(ValueError, match="unknown precision"):
        cache.weight_bytes([key], "int4")


@pytest.mark.timing
def test_streaming_rate_measured_on_this_host(tmp_path, quick):
    # Small calibration models (128 channels, caches said to be tiny) so that
    # the chains (2 to 16 float32 layers of 64 KB) stream from beyond the
    # "caches"; the figures themselves are not checked, their bookkeeping is.
    sizes = {"L2": 64 << 10, "L3": 256 << 10}

    class Seen(HostRunner):  # keeps every value it hands back
        def measure(self, models):
            for model, m in super().measure(models):
                seen.setdefault(model.name, []).append(m.value_ms)
                yield model, m

    seen: dict[str, list[float]] = {}
    info = streaming_chains.measure_streaming(Seen(settings=quick), "float32", sizes,
                                              str(tmp_path), channels=128)
    # Every model timed in PASSES passes, the lowest kept.
    assert {len(v) for v in seen.values()} == {streaming_chains.PASSES} == {2}
    assert info["single_ms"] == min(seen["single"])
    assert info["chain_ms"]["16"] == min(seen["chain_16"])
    layer = 128 * 128 * 4
    assert [b for b, _ in info["curve"]] == [n * layer for n in (2, 4, 8, 16)]
    assert info["single_ms"] > 0 and info["chain_ms"]["16"] > info["single_ms"]
    for n, (_, extra) in zip((2, 4, 8, 16), info["curve"]):
        assert extra == pytest.approx(max(0.0, info["chain_ms"][str(n)] - n * info["single_ms"]),
                                      abs=1e-6)
    assert len(os.listdir(tmp_path)) == 5  # the models, reused by a re-run
    with pytest.raises(ValueError, match="L2 cache size is unknown"):
        streaming_chains.measure_streaming(HostRunner(settings=quick), "float32", {}, str(tmp_path))


@pytest.mark.timing
def test_prediction_adds_the_nets_streaming_time(tiny_table_path, tiny_space):
    table = load_table(tiny_table_path)
    arch = random_archs(tiny_space, 1)[0]
    pred = predict(arch, table)
    base, _, source = pred.total_ms, pred.std_ms, pred.source
    assert source == "table"
    footprint = cache.keys_footprint_bytes(keys_lib.arch_keys(arch), "int8")
    assert footprint > cache.weight_bytes(keys_lib.arch_keys(arch), "int8")
    # A (v1) record with an L2 a quarter of what the net touches: the full rate applies.
    table.metadata.weight_streaming = {"ms_per_mb": 2.0, "l2_bytes": footprint // 4}
    pred = predict(arch, table)
    ms, _, source = pred.total_ms, pred.std_ms, pred.source
    assert source == "table+streaming"
    assert ms == pytest.approx(base + 2.0 * footprint / 1e6)



class _SmallCaches(HostRunner):
    """The real host runner, reporting caches small enough that the
    calibration conv has 128 channels (16 KB of int8 weights, half of the
    64 KB L2 at most) and the longest chain 1 MB (quick to convert here)."""

    def metadata(self):
        return {**super().metadata(), "caches": {"L2": 64 << 10, "L3": 256 << 10}}


@pytest.mark.timing
def test_a_finished_build_measures_the_rate_once(tmp_path, tiny_space, quick):
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.latency.build.settings import BuildSettings
    settings = BuildSettings(min_passes=1, max_passes=2, agree_tol=0.5, batch_size=8)
    path = str(tmp_path / "t.json")
    report = build_table(tiny_space, _SmallCaches(settings=quick), path, "int8", settings,
                         progress=False)
    assert report.complete
    info = load_table(path).metadata.weight_streaming
    assert info["l2_bytes"] == 64 << 10 and info["channels"] == 128
    # Chains of L2 / 2 = 32 KB (2 layers of 16 KB) up to twice the weights of
    # the table's keys (no net of the space holds more), at least 2 x L2.
    keys = keys_lib.space_keys(tiny_space)
    assert info["max_bytes"] == 2 * cache.weight_bytes(keys, "int8")
    expected = cache.curve_lengths(info["caches"], "int8", 128, info["max_bytes"])
    assert [b // (16 << 10) for b, _ in info["curve"]] == expected and expected[0] == 2
    assert cache.calibration_is_valid(info, "int8")
    again = build_table(tiny_space, _SmallCaches(settings=quick), path, "int8", settings,
                        progress=False)
    assert again.measured == 0  # nothing re-measured, the rate included
    assert load_table(path).metadata.weight_streaming == info


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
