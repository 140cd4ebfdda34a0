"""Resident memory of block models and the context term: the real LiteRT
worker on real models, the calibration fit and the prediction by hand, the
choice of calibration key, a build that records footprints once, and the
benchmark_model runners' figure from the documented output."""

import json
import os

import pytest

from pxnas_tf.latency.build import context_chains
from pxnas_tf.latency.build.builder import build_table
from pxnas_tf.latency.build.settings import BuildSettings
from pxnas_tf.latency.measure import footprint
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model import context
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.ops import ops_of_key
from pxnas_tf.latency.model.predictor import predict
from pxnas_tf.latency.model.table import load_table
from pxnas_tf.search_space import random_archs
from pxnas_tf.tflite import random_representative_data, save_tflite, to_tflite

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")


def _conv_model(path, channels):
    import keras
    x = inputs = keras.Input((1, 1, channels), batch_size=1)
    x = keras.layers.Conv2D(channels, 1)(x)
    save_tflite(to_tflite(keras.Model(inputs, x), "float32",
                          random_representative_data((1, 1, channels))), path)
    return path


def test_resident_bytes_of_real_models_grow_with_their_weights(tmp_path):
    small = _conv_model(str(tmp_path / "small.tflite"), 16)
    big = _conv_model(str(tmp_path / "big.tflite"), 512)  # 1 MiB of float32 weights
    found = footprint.resident_bytes([small, big], batch=1)  # one worker each
    assert set(found) == {small, big}
    assert found[small] >= 0
    # The runtime holds (at least) its own packed copy of the weights.
    assert found[big] - found[small] >= 0.8 * 512 * 512 * 4
    with pytest.raises(footprint.FootprintError, match="does not exist"):
        footprint.resident_bytes([str(tmp_path / "missing.tflite")])


def test_a_broken_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(footprint.FootprintError, match="worker failed"):
        footprint.resident_bytes([str(bad)])


def test_fit_recovers_rate_and_c():
    e, rate, c = 4e6, 0.04, 16e6
    points = [(o, rate * e / 1e6 * min(1.0, o / c)) for o in (4e6, 12e6, 28e6)]
    got_rate, got_c = context.fit(points, e, 1e6, 64e6)
    assert got_rate == pytest.approx(rate, rel=0.03)
    assert got_c == pytest.approx(c, rel=0.03)
    # No extra at all: rate 0, whatever C.
    assert context.fit([(4e6, 0.0), (8e6, -0.001)], e, 1e6, 64e6)[0] == 0.0
    with pytest.raises(ValueError, match="chain points"):
        context.fit([], e, 1e6, 64e6)


KEY_BIG = "expanded_conv-input:4x4x96-output:4x4x96-expand:6-kernel:7-stride:1-idskip:1"
KEY_SMALL = "expanded_conv-input:4x4x96-output:4x4x96-expand:3-kernel:3-stride:1-idskip:1"
KEY_DOWN = "expanded_conv-input:8x8x48-output:4x4x96-expand:6-kernel:7-stride:2-idskip:0"


def _weights(key):
    return sum(op.weights for op in ops_of_key(key))


KEY_1X1 = "expanded_conv-input:1x1x256-output:1x1x256-expand:6-kernel:7-stride:1-idskip:1"
KEY_1X1_DOWN = "expanded_conv-input:2x2x128-output:1x1x256-expand:6-kernel:7-stride:2-idskip:0"


def test_chain_copies_add_the_count_that_fills_the_last_level_cache():
    llc = {"L2": 1 << 20, "L3": 32 << 20}
    mb = 1 << 20
    assert context.chain_copies(10.7 * mb, llc) == (1, 2, 3, 4, 8)  # 32 / 10.7 = 3.0
    assert context.chain_copies(5.4 * mb, llc) == (1, 2, 4, 6, 8)  # 5.9
    assert context.chain_copies(8 * mb, llc) == (1, 2, 4, 8)       # 4: sampled already
    assert context.chain_copies(2 * mb, llc) == (1, 2, 4, 8)       # 16: past the longest chain
    assert context.chain_copies(40 * mb, llc) == (1, 2, 4, 8)      # 1
    assert context.chain_copies(10.7 * mb, None) == context.CHAIN_COPIES


def test_calibration_keys_one_chainable_block_per_group():
    fp = {"bytes": {KEY_BIG: _weights(KEY_BIG) + (3 << 20),
                    KEY_SMALL: _weights(KEY_SMALL) + (40 << 10),
                    KEY_DOWN: _weights(KEY_DOWN) + (8 << 20),  # more, but not chainable
                    KEY_1X1: _weights(KEY_1X1) + (5 << 20)}}
    assert context.chainable(KEY_BIG) and not context.chainable(KEY_DOWN)
    assert context.group_of(KEY_BIG) == "k7_e6_4x4" == context.group_of(KEY_DOWN)
    assert context.group_of("Logits-input:1x1x96-output:10") is None
    keys = [KEY_SMALL, KEY_BIG, KEY_DOWN, KEY_1X1]
    assert context.calibration_keys(keys, fp, "int8") == {
        "k7_e6_4x4": (KEY_BIG, 3 << 20), "k7_e6_1x1": (KEY_1X1, 5 << 20)}
    assert context.calibration_keys([KEY_SMALL], fp, "int8") == {}  # under the floor


def test_small_map_keys_for_the_kinds_with_heavy_keys():
    fp = {"bytes": {KEY_BIG: _weights(KEY_BIG) + (3 << 20),  # k7 e6: heavy
                    KEY_SMALL: _weights(KEY_SMALL) + (40 << 10)}}  # k3 e3: light
    assert context.small_map_keys([KEY_BIG, KEY_SMALL], fp, "int8") == [KEY_1X1]
    assert context.chainable(KEY_1X1) and context.group_of(KEY_1X1) == "k7_e6_1x1"
    # A table with a block of that kind at 1x1 calibrates it as its own group.
    assert context.small_map_keys([KEY_BIG, KEY_1X1_DOWN], fp, "int8") == []
    assert context.small_map_keys([KEY_SMALL], fp, "int8") == []
    assert context.small_map_keys([KEY_BIG], {}, "int8") == []  # no footprints: none


def test_a_2x2_block_takes_the_larger_of_two_equally_near_groups():
    key = "expanded_conv-input:4x4x56-output:2x2x112-expand:6-kernel:7-stride:2-idskip:0"
    for order in (("k7_e6_1x1", "k7_e6_4x4"), ("k7_e6_4x4", "k7_e6_1x1")):
        info = {"groups": {g: {"rate_ms_per_mb": float(g.endswith("4x4"))} for g in order}}
        assert context.group_params(key, info)["rate_ms_per_mb"] == 1.0
    assert context.group_params(KEY_1X1, info)["rate_ms_per_mb"] == 0.0  # its own group


def test_context_term_by_hand():
    e_big, e_down, e_1x1 = 3 << 20, 8 << 20, 5 << 20
    fp = {"bytes": {KEY_BIG: _weights(KEY_BIG) + e_big,
                    KEY_SMALL: _weights(KEY_SMALL) + (40 << 10),
                    KEY_DOWN: _weights(KEY_DOWN) + e_down,
                    KEY_1X1_DOWN: _weights(KEY_1X1_DOWN) + e_1x1}}
    info = {"groups": {"k7_e6_4x4": {"rate_ms_per_mb": 0.04, "c_bytes": 16e6},
                       "k7_e6_2x2": {"rate_ms_per_mb": 0.5, "c_bytes": 1e6}},
            "default": "k7_e6_2x2"}
    keys = [KEY_DOWN, KEY_BIG, KEY_SMALL, KEY_1X1_DOWN]
    f_net = sum(fp["bytes"].values())
    want = (0.04 * e_down / 1e6 * min(1, (f_net - fp["bytes"][KEY_DOWN]) / 16e6)
            + 0.04 * e_big / 1e6 * min(1, (f_net - fp["bytes"][KEY_BIG]) / 16e6)
            + 0.5 * e_1x1 / 1e6)  # no k7_e6_1x1 group: the default's, phi = 1
    assert context.context_ms(keys, fp, info, "int8") == pytest.approx(want)
    # A net with one heavy layer alone: nothing else evicts it.
    assert context.context_ms([KEY_BIG], fp, info, "int8") == 0.0
    # A key the table never ran counts its weights (no buffers: not an MBConv) ...
    logits = "Logits-input:1x1x96-output:10"
    with_logits = context.context_ms(keys + [logits], fp, info, "int8")
    assert with_logits == pytest.approx(want + 0.04 * (e_down + e_big) / 1e6 * _weights(logits)
                                        / 16e6)
    # ... without a calibration: no term.
    assert context.context_ms(keys, fp, None, "int8") == 0.0
    assert context.context_ms(keys, fp, {"groups": {}}, "int8") == 0.0


def test_buffers_of_a_block_the_table_never_ran():
    """A layer outside the table (a zoo net at another input size) gets the
    buffers that a fit over the table's own MBConv keys gives its kernel,
    and the calibration of the group of its kernel and expand ratio whose
    map size is nearest."""
    def block(cin, expand, h, stride=1):
        cout = cin if stride == 1 else 2 * cin
        out = h // stride
        return (f"expanded_conv-input:{h}x{h}x{cin}-output:{out}x{out}x{cout}-"
                f"expand:{expand}-kernel:7-stride:{stride}-idskip:{int(stride == 1)}")

    def truth(key):  # buffers: 100 KB + 6 KB a hidden channel + 8 B a hidden channel-pixel
        k = keys_lib.parse_key(key)
        hidden = k.input_shape[2] * k.expand
        return 100e3 + 6e3 * hidden + 8 * hidden * k.output_shape[0] * k.output_shape[1]

    recorded = [block(c, e, h) for c in (16, 32, 48) for e in (3, 6) for h in (4, 8, 16)]
    fp = {"bytes": {k: _weights(k) + int(truth(k)) for k in recorded}}
    model = context.buffer_model(fp, "int8")
    assert set(model) == {7}
    unseen = block(96, 6, 14)  # a 14x14 map, 576 hidden channels
    f, e = context.key_footprint(unseen, fp, model, "int8")
    assert e == pytest.approx(truth(unseen), rel=0.01) and f == pytest.approx(e + _weights(unseen))
    assert context.key_footprint(recorded[0], fp, model, "int8")[1] == pytest.approx(
        truth(recorded[0]), abs=1)
    info = {"groups": {"k7_e6_16x16": {"rate_ms_per_mb": 0.04, "c_bytes": 1e6},
                       "k7_e6_4x4": {"rate_ms_per_mb": 0.5, "c_bytes": 1e6},
                       "k7_e3_16x16": {"rate_ms_per_mb": 9.0, "c_bytes": 1e6}},
            "default": "k7_e6_4x4"}
    assert context.group_params(unseen, info)["rate_ms_per_mb"] == 0.04  # 14x14: nearest 16x16
    net = [recorded[0], unseen]
    f0 = fp["bytes"][recorded[0]]
    assert context.context_ms(net, fp, info, "int8") == pytest.approx(
        0.04 * e / 1e6 * min(1, f0 / 1e6) + 9.0 * truth(recorded[0]) / 1e6 * min(1, f / 1e6))


CURVE = {"format": "pxnas_tf.weight_streaming/v2", "l2_bytes": 1 << 20,
         "caches": {"L2": 1 << 20, "L3": 16 << 20},
         "curve": [[1 << 20, 0.0], [8 << 20, 0.01], [32 << 20, 0.4], [64 << 20, 1.2]]}


def test_a_v1_context_record_is_fitted_again_net_of_the_streaming_term():
    """Context v2 prices what the streaming term of a chain's weights,
    activations and buffers leaves; a v1 record (extras without it) is
    fitted again from its chains' times, on load too."""
    from pxnas_tf.latency.model import streaming
    from pxnas_tf.latency.model.metadata import TableMetadata
    e, t1 = 3 << 20, 0.2
    f_key = _weights(KEY_BIG) + e
    one = streaming.keys_footprint_bytes([KEY_BIG], "int8") + e
    extra = {2: 0.01, 4: 0.05, 8: 0.12}  # per copy, beyond streaming
    chain = {"1": t1, **{str(n): n * (t1 + x) + streaming.streaming_ms(n * one, CURVE, n * e)
                         for n, x in extra.items()}}
    v1 = {"format": "pxnas_tf.context/v1", "default": "k7_e6_4x4",
          "groups": {"k7_e6_4x4": {"key": KEY_BIG, "buffer_bytes": e, "footprint_bytes": f_key,
                                   "chain_ms": chain, "rate_ms_per_mb": 9.0, "c_bytes": 1e6}}}
    caches = {"L2": 1 << 20, "L3": 16 << 20}
    v2 = context.upgrade(v1, CURVE, caches, "int8")
    group = v2["groups"]["k7_e6_4x4"]
    assert v2["format"] == context.FORMAT == "pxnas_tf.context/v3"
    assert group["points"] == [pytest.approx([(n - 1) * f_key, x]) for n, x in extra.items()]
    assert (group["rate_ms_per_mb"], group["c_bytes"]) == context.fit(
        [tuple(p) for p in group["points"]], e, 1 << 20, 32 << 20)
    assert context.upgrade(v2, CURVE, caches, "int8") is v2  # the current format as it is
    # A v2 record (fitted net of the streaming term before the buffers' fade) is fitted
    # again too: the same times give the same points as the current fit.
    old = {**v2, "format": "pxnas_tf.context/v2",
           "groups": {"k7_e6_4x4": {**group, "rate_ms_per_mb": 9.0}}}
    assert context.upgrade(old, CURVE, caches, "int8") == v2
    # Without a streaming curve the points are the v1 ones.
    plain = context.upgrade(v1, None, caches, "int8")["groups"]["k7_e6_4x4"]["points"]
    assert plain == [pytest.approx([(n - 1) * f_key, chain[str(n)] / n - t1]) for n in extra]
    meta = TableMetadata.from_dict({"precision": "int8", "caches": caches,
                                    "weight_streaming": CURVE, "context": v1})
    assert meta.context == v2
    from pxnas_tf.latency.model.entries import LatencyTableError
    broken = {"format": "pxnas_tf.context/v1", "groups": {"k7_e6_4x4": {"key": KEY_BIG}}}
    with pytest.raises(LatencyTableError, match=r"field 'context'.*delete that field"):
        TableMetadata.from_dict({"precision": "int8", "context": broken})


@pytest.mark.timing
def test_buffers_count_in_the_streaming_footprint(tiny_table_path, tiny_space):
    from pxnas_tf.latency.model import streaming
    table = load_table(tiny_table_path)
    arch = random_archs(tiny_space, 1)[0]
    keys = keys_lib.arch_keys(arch)
    table.metadata.weight_streaming = CURVE
    table.metadata.context = None
    plain = predict(arch, table).streaming_ms
    assert plain == pytest.approx(streaming.streaming_ms(
        streaming.keys_footprint_bytes(keys, "int8"), CURVE))
    fp = {"bytes": {k: _weights(k) for k in keys}}
    fp["bytes"][keys[2]] += 20 << 20  # 20 MB of buffers
    table.metadata.footprint = fp
    assert context.buffers_bytes(keys, fp, "int8") == 20 << 20
    pred = predict(arch, table)
    footprint = streaming.keys_footprint_bytes(keys, "int8") + (20 << 20)
    assert pred.streaming_ms == pytest.approx(streaming.streaming_ms(footprint, CURVE, 20 << 20))
    # Past half the last-level cache (here 16 MB) the buffers lose part of the discount.
    assert pred.streaming_ms > streaming.streaming_ms(footprint, CURVE) > plain


@pytest.mark.timing
def test_prediction_adds_the_context_term(tiny_table_path, tiny_space):
    table = load_table(tiny_table_path)
    arch = random_archs(tiny_space, 1)[0]
    keys = keys_lib.arch_keys(arch)
    pred = predict(arch, table)
    base, _, source = pred.total_ms, pred.std_ms, pred.source
    assert "+context" not in source
    heavy = keys[2]
    fp = {"bytes": {k: 10_000 for k in keys}}
    fp["bytes"][heavy] = _weights(heavy) + (1 << 20)
    table.metadata.footprint = fp
    table.metadata.context = {"groups": {"g": {"rate_ms_per_mb": 0.5, "c_bytes": 1e4}},
                                       "default": "g"}
    pred = predict(arch, table)
    ms, _, source = pred.total_ms, pred.std_ms, pred.source
    assert source.endswith("+context")
    assert ms == pytest.approx(base + 0.5 * (1 << 20) / 1e6)  # phi = 1: others hold >= C
    assert predict(arch, table, context=False).total_ms == pytest.approx(base)


@pytest.mark.timing
def test_a_build_records_footprints_once(tmp_path, tiny_space, quick):
    import dataclasses
    settings = BuildSettings(min_passes=1, max_passes=2, agree_tol=0.5, batch_size=8,
                             weight_streaming=False, footprint=True, context=False)
    path = str(tmp_path / "t.json")
    report = build_table(tiny_space, HostRunner(settings=quick), path, "int8", settings,
                         progress=False)
    assert report.complete
    meta = load_table(path).metadata
    fp = meta.footprint
    assert set(fp["bytes"]) == set(keys_lib.space_keys(tiny_space))
    assert all(v >= 0 for v in fp["bytes"].values()) and fp["overhead"]
    assert meta.context is None  # footprints only
    # The same build with the context calibration: only that is added.
    settings = dataclasses.replace(settings, context=True)
    report = build_table(tiny_space, HostRunner(settings=quick), path, "int8", settings,
                         progress=False)
    meta = load_table(path).metadata
    # Added: the memory of the small-map blocks of the heavy keys' kinds.
    small = context.small_map_keys(keys_lib.space_keys(tiny_space), fp, "int8")
    assert set(meta.footprint["bytes"]) == set(fp["bytes"]) | set(small)
    assert {k: meta.footprint["bytes"][k] for k in fp["bytes"]} == fp["bytes"]
    fp = meta.footprint
    assert report.measured == sum(len(r) for p in meta.context["groups"].values()
                                  for r in p["chain_runs"].values())
    # The context record follows from the footprints: a group for each
    # buffer-heavy residual block, or a note that none is heavy enough.
    wanted = context.calibration_keys(keys_lib.space_keys(tiny_space) + small, fp, "int8")
    groups = meta.context["groups"]
    assert {g: p["key"] for g, p in groups.items()} == {g: k for g, (k, _) in wanted.items()}
    for p in groups.values():
        copies = context.chain_copies(p["footprint_bytes"], meta.caches)
        assert [int(n) for n in p["chain_ms"]] == list(copies) and p["rate_ms_per_mb"] >= 0
    if not wanted:
        assert "note" in meta.context
    again = build_table(tiny_space, HostRunner(settings=quick), path, "int8", settings,
                        progress=False)
    assert again.measured == 0
    assert load_table(path).metadata.footprint == fp


@pytest.mark.timing
def test_chains_calibrate_a_group_on_this_host(tmp_path, quick):
    # A small residual block (quick to convert and time); its footprint is
    # given, so that it counts as buffer-heavy whatever this host's XNNPACK
    # allocates: the chains, the pass rule and the fit are what is checked.
    key = "expanded_conv-input:2x2x16-output:2x2x16-expand:3-kernel:7-stride:1-idskip:1"
    fp = {"bytes": {key: _weights(key) + (1 << 20)}}
    info = context_chains.measure_context(HostRunner(settings=quick), [key], fp, "int8",
                                   {"L2": 1 << 20, "L3": 8 << 20}, str(tmp_path),
                                   min_passes=2, max_passes=3, agree_tol=0.5)
    group = info["groups"]["k7_e3_2x2"]
    assert info["default"] == "k7_e3_2x2" and group["key"] == key
    assert set(group["chain_ms"]) == {"1", "2", "4", "8"}
    for n, runs in group["chain_runs"].items():
        assert 2 <= len(runs) <= 3 and group["chain_ms"][n] == min(runs)
    assert group["rate_ms_per_mb"] >= 0 and (1 << 20) <= group["c_bytes"] <= 16 << 20
    assert len(os.listdir(tmp_path)) == 4  # the chain models, reused by a re-run
    again = context_chains.measure_context(HostRunner(settings=quick), [key], fp, "int8", {},
                                    str(tmp_path), previous=info)
    assert again["groups"] == info["groups"]  # calibrated groups are never re-measured


@pytest.mark.timing
def test_an_interrupted_calibration_resumes_from_the_saved_passes(tmp_path, quick):
    from pxnas_tf.latency.measure.runner import RunnerError

    class Unplugged(HostRunner):
        """The real host runner that fails after `left` measurements."""

        def __init__(self, left, **kwargs):
            super().__init__(**kwargs)
            self.left = left

        def measure(self, models):
            for item in super().measure(models):
                if self.left == 0:
                    raise RunnerError("unplugged")
                self.left -= 1
                yield item

    key = "expanded_conv-input:2x2x16-output:2x2x16-expand:3-kernel:7-stride:1-idskip:1"
    fp = {"bytes": {key: _weights(key) + (1 << 20)}}
    saved = []
    args = ([key], fp, "int8", {"L2": 1 << 20, "L3": 8 << 20}, str(tmp_path))
    with pytest.raises(RunnerError):  # dies in the second pass
        context_chains.measure_context(Unplugged(5, settings=quick), *args, min_passes=2,
                                max_passes=2, save=lambda info: saved.append(
                                    json.loads(json.dumps(info))))
    assert len(saved) == 5  # after every measurement
    first = saved[-1]["pending"]["k7_e3_2x2"]
    assert first["key"] == key and sorted(len(r) for r in first["runs"].values()) == [1, 1, 1, 2]
    runner = Unplugged(3, settings=quick)  # exactly the 3 chains still missing
    info = context_chains.measure_context(runner, *args, min_passes=2, max_passes=2,
                                   previous=saved[-1])
    assert runner.left == 0 and "pending" not in info
    for n, runs in info["groups"]["k7_e3_2x2"]["chain_runs"].items():
        assert len(runs) == 2 and runs[:len(first["runs"][n])] == first["runs"][n]  # kept


def test_benchmark_model_memory_footprint_becomes_resident_bytes(tmp_path):
    from pxnas_tf.latency.measure.benchmark_output import parse_benchmark_file
    from pxnas_tf.latency.measure.benchmark_runner import LocalBenchmarkRunner
    from pxnas_tf.latency.measure.runner import BenchModel

    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    runner = LocalBenchmarkRunner(str(binary))
    # What the runner kept from its timing runs (the documented output format).
    runner.last_results["a"] = parse_benchmark_file(
        os.path.join(TESTDATA, "bm_current_xnnpack.txt"))
    got = runner.resident_bytes([BenchModel("a", str(tmp_path / "a.tflite"))])
    assert got == {"a": int(round(47.8828 * (1 << 20)))}


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
