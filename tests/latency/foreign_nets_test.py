"""Nets from outside the space: specs, the single-op probes that let the op
model predict them, and `validate --nets` end to end (real measurements)."""

import os

import pytest

from pxnas_tf.latency.build import builder, foreign_nets, probes, validation
from pxnas_tf.latency.build.builder import build_table
from pxnas_tf.latency.build.tflite_ops import ops_of_keras_model
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.op_model import OpModelError, fit_table, group_of
from pxnas_tf.latency.model.ops import op_key
from pxnas_tf.latency.model.table import load_table


def test_specs():
    assert foreign_nets.parse_spec("mobilenetv2_a0.35@96") == ("mobilenetv2", 0.35, False, 96)
    assert foreign_nets.parse_spec("MobileNetV3Large_min@160") == (
        "mobilenetv3large", 1.0, True, 160)
    for bad, phrase in [("resnet50@224", "FAMILY one of"), ("mobilenet@8", r"outside \[32, 512\]"),
                        ("mobilenet", "expected FAMILY")]:
        with pytest.raises(foreign_nets.ForeignNetError, match=phrase):
            foreign_nets.parse_spec(bad)
    assert len(foreign_nets.DEFAULT_NETS) >= 12
    assert {foreign_nets.parse_spec(s)[0] for s in foreign_nets.DEFAULT_NETS} == set(
        foreign_nets.FAMILIES)


def test_every_default_net_is_made_of_probed_op_types():
    """Each op group the default nets run (at float32: the same graph as
    int8) is one the probes measure, so a table built with --probes
    predicts them without borrowing."""
    probed = {group_of(op) for op in probes.probe_ops()}
    for spec in ("mobilenetv3small_min@32", "efficientnetb0@32", "cnn@32"):
        groups = {group_of(op) for op in ops_of_keras_model(foreign_nets.build(spec))}
        assert groups <= probed | {"dw3_s1", "dw3_s2", "dw5_s1", "dw5_s2"}, spec


def test_probe_set_is_fixed_and_bounded():
    a, b = probes.probe_ops(), probes.probe_ops()
    assert a == b and len(set(a)) == len(a) == sum(probes.COUNTS.values())
    assert all(op.macs <= probes.MAX_MACS for op in a)
    assert probes.probe_keys() == [op_key(op) for op in a]


def test_large_synthetic_nets_are_as_large_as_the_applications_nets():
    """From `LARGE_SEED0` on, random nets hold millions of weights in 3x3 and
    5x5 depthwise blocks of at most 1280 channels, and no regular kxk conv
    but the stem: the footprint factor's calibration range."""
    seed = foreign_nets.LARGE_SEED0
    for spec in (f"synth_s{seed}@32", f"synth_s{seed + 9}@96"):
        ops = ops_of_keras_model(foreign_nets.build(spec), "float32")
        assert sum(op.weights for op in ops) > 1e6, spec
        assert {op.kernel for op in ops if op.type == "dwconv"} <= {3, 5}
        assert [op for op in ops if op.type == "conv" and op.kernel > 1] == ops[:1]
        assert max(op.out_shape[-1] for op in ops if op.type == "dwconv") <= 1280


def test_every_depthwise_kernel_and_stride_has_probes_at_small_and_large_maps():
    from pxnas_tf.latency.model.op_features import group_of
    dw = [op for op in probes.probe_ops() if op.type == "dwconv"]
    for group in probes.DW_GROUPS:
        ops = [op for op in dw if group_of(op) == group]
        assert len(ops) == probes.COUNTS[group] >= 8, group
        assert min(op.in_shape[0] for op in ops) <= 5 < max(op.in_shape[0] for op in ops)


def test_probes_measured_with_an_older_model_are_named():
    """A table whose same-shape ADD / MUL probes multiplied a constant
    tensor (probe set 3) measures those again, and one whose ADD / MUL of a
    single number used a random one (set 4) those; nothing else is forgotten."""
    ops = probes.probe_ops()
    same_shape = [op_key(op) for op in ops
                  if op.type in ("add", "mul") and not (op.broadcast or op.scalar)]
    scalar = [op_key(op) for op in ops if op.type in ("add", "mul") and op.scalar]
    assert len(same_shape) >= 8 and len(scalar) >= 8
    assert probes.outdated_probe_keys(4) == scalar
    assert set(probes.outdated_probe_keys(3)) == set(same_shape + scalar)
    assert probes.outdated_probe_keys(probes.PROBES_VERSION) == []
    assert probes.outdated_probe_keys(None) == []  # a table without probes


@pytest.mark.timing
def test_validate_a_foreign_net(tmp_path, tiny_space, quick, quick_build):
    """A table of the tiny space plus the probes a plain CNN needs: the op
    model predicts the CNN, `validate --nets` measures it, and a table
    without those probes says which measurements it lacks."""
    wanted = {"convkxk", "maxpool", "pool", "fc", "softmax", "reshape"}
    keys = keys_lib.space_keys(tiny_space) + [
        op_key(op) for op in probes.probe_ops() if group_of(op) in wanted]
    path = str(tmp_path / "t.json")
    report = build_table(tiny_space, HostRunner(settings=quick), path, "int8", quick_build,
                         keys=keys, progress=False)
    assert report.complete
    table = load_table(path)
    # The space's keys and the probes got their passes (probes: two by
    # default); the overhead was timed for the space's input shapes and a
    # few of the probes'.
    own = keys_lib.space_keys(tiny_space)
    assert all(len(table.get(k).runs) >= quick_build.min_passes for k in own)
    probe_runs = [len(table.get(k).runs) for k in keys if k not in own]
    assert min(probe_runs) == quick_build.probe_passes == 2 and len(probe_runs) > 10
    own_shapes = {keys_lib.format_shape(builder.block_models.input_shape_of(k)) for k in own}
    timed = set(table.metadata.overhead["ms"])
    assert own_shapes <= timed and 1 <= len(timed - own_shapes) <= builder.OVERHEAD_ANCHORS
    rep = validation.validate(table, path, HostRunner(settings=quick), tiny_space, num_archs=1,
                              zoo=False, op_model=fit_table(table), settings=quick_build,
                              plot=False, progress=False, nets=["cnn@32"])
    (net,) = [r for r in rep.results if r.group == "cnn"]
    assert net.name == net.arch_string == "cnn@32" and net.source == "op_model"
    assert net.measured_ms > 0 and net.predicted_ms > 0 and net.std_ms > 0
    assert rep.by_group["cnn"]["n"] == 1
    # Without the probes: a one-line error that names the fix.
    bare = str(tmp_path / "bare.json")
    build_table(tiny_space, HostRunner(settings=quick), bare, "int8", quick_build,
                progress=False)
    with pytest.raises(OpModelError, match=r"no measurement of 'maxpool' ops.*--probes"):
        validation.validate(load_table(bare), bare, HostRunner(settings=quick), tiny_space,
                            num_archs=0, zoo=False, op_model=fit_table(load_table(bare)),
                            settings=quick_build, plot=False, progress=False, nets=["cnn@32"])
    assert not os.path.exists(validation.results_path(bare))  # refused before measuring


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_synthetic_nets_are_fixed_by_their_seed():
    assert foreign_nets.parse_spec("synth_s12@64") == ("synth", 1.0, False, 64)
    for bad in ("synth@64", "mobilenet_s3@96"):
        with pytest.raises(foreign_nets.ForeignNetError, match="synth_sSEED@SIZE"):
            foreign_nets.parse_spec(bad)
    a, b, c = (foreign_nets.build(s) for s in ("synth_s3@48", "synth_s3@48", "synth_s4@48"))
    layers = lambda m: [(type(l).__name__, l.output.shape) for l in m.layers]  # noqa: E731
    assert layers(a) == layers(b) and layers(a) != layers(c)
    assert a.input_shape[1:] == (48, 48, 3) and a.output_shape[-1] in (10, 100, 1000)


def test_synthetic_nets_run_the_kernels_of_mobile_nets():
    """Over the in-net calibration's nets every op type that real mobile nets
    bring (MobileNetV3's hard-swish and SE multiplies, pooling, residual adds)
    appears, at activation sizes the probes cover."""
    from pxnas_tf.latency.build import in_net

    types, largest = set(), 0
    for spec in in_net.specs()[:12]:
        for op in ops_of_keras_model(foreign_nets.build(spec), "float32"):
            types.add(op.type)
            largest = max(largest, op.out_elems)
    assert {"conv", "dwconv", "add", "mul", "hswish", "sigmoid", "pool", "fc",
            "softmax"} <= types and ({"maxpool", "avgpool"} & types)
    assert largest <= 2 * probes.MAX_ELEMS  # within the shapes the probes sample
