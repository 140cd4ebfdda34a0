"""Search spaces and archs as data: presets, JSON round trips, clear errors."""

import json

import pytest

from pxnas_tf.search_space import (
    Arch, SpaceError, decode_arch_string, decode_op, encode_arch_string, list_presets,
    load_arch, load_space, make_divisible, space_from_dict,
)


def test_presets_listed():
    assert {"proxyless_imagenet", "proxyless_small"} <= set(list_presets())


def test_imagenet_space_matches_the_paper():
    space = load_space("proxyless_imagenet")
    blocks = space.blocks()
    assert len(blocks) == 21
    assert [s.width for s in space.stages] == [24, 40, 80, 96, 192, 320]
    assert [s.blocks for s in space.stages] == [4, 4, 4, 4, 4, 1]
    assert [s.stride for s in space.stages] == [2, 2, 2, 1, 2, 1]
    assert space.stem_out_size == (112, 112) and space.feature_size == (7, 7)
    # Zero is a candidate exactly where stride is 1 and in == out: blocks 2-4 of each stage.
    with_zero = [b.index for b in blocks if "zero" in b.candidates]
    assert with_zero == [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19]
    assert all(len(b.candidates) in (6, 7) for b in blocks)
    assert f"{space.num_archs():.2e}" == "2.22e+17"  # "about 2.2e17 architectures"


def test_small_space_is_proportional_and_has_same_candidates():
    small, big = load_space("proxyless_small"), load_space("proxyless_imagenet")
    assert small.candidates == big.candidates
    assert small.input_shape == (32, 32, 3)
    assert small.feature_size == (4, 4)
    fm = load_space("proxyless_small", input_shape=[28, 28, 1])
    assert fm.input_shape == (28, 28, 1) and fm.feature_size == (4, 4)


@pytest.mark.parametrize("value,expected", [(32 * 0.35, 16), (24 * 0.5, 16), (1280 * 1.4, 1792),
                                            (16, 16), (96 * 0.75, 72), (10, 16)])
def test_make_divisible(value, expected):
    assert make_divisible(value, 8) == expected


def test_width_mult_scales_all_but_the_head_below_one():
    space = load_space("proxyless_imagenet", width_mult=0.5)
    assert space.stem_channels == 16 and space.head_channels == 1280
    assert [b.out_channels for b in space.blocks()][:4] == [16] * 4
    assert load_space("proxyless_imagenet", width_mult=1.4).head_channels == 1792


def test_space_json_round_trip(tmp_path):
    space = load_space("proxyless_small", num_classes=7, width_mult=0.75)
    path = tmp_path / "space.json"
    path.write_text(space.to_json())
    again = load_space(str(path))
    assert again == space


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.pop("stages"), "stages"),
    (lambda d: d["stages"][1].update(blocks=0), "stages[1].blocks"),
    (lambda d: d.update(input_shape=[32, 32]), "input_shape"),
    (lambda d: d.update(candidates=["k3_e3", "k4_e3"]), "candidates[1]"),
    (lambda d: d.update(candidates=["k3_e3", "zero"]), "candidates[1]"),
    (lambda d: d.update(width_mult=-1), "width_mult"),
    (lambda d: d.update(zero_op="yes"), "zero_op"),
    (lambda d: d.update(colour="red"), "unknown field"),
])
def test_malformed_space_names_file_and_field(tmp_path, mutate, field):
    doc = load_space("proxyless_small").to_dict()
    mutate(doc)
    path = tmp_path / "bad_space.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpaceError) as err:
        load_space(str(path))
    assert str(path) in str(err.value) and field in str(err.value)


def test_unknown_space_lists_valid_names():
    with pytest.raises(SpaceError, match="proxyless_imagenet"):
        load_space("proxyless_tiny")


def test_invalid_json_is_reported(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(SpaceError, match="not valid JSON"):
        load_space(str(path))


def test_op_grammar():
    assert decode_op("k5_e3").kernel == 5 and decode_op("k5_e3").expand == 3
    assert decode_op("7x7_MBConv6").name == "k7_e6"  # the original's names
    assert decode_op("Zero").is_zero
    assert decode_op("k3_e4.5").name == "k3_e4.5"
    for bad in ("k4_e3", "k3_e0", "conv3", "", 3):
        with pytest.raises(ValueError):
            decode_op(bad)


def test_arch_string_round_trip():
    text = "k5_e3,k3_e3,zero,zero|k7_e6"
    stages = decode_arch_string(" k5_e3, 3x3_MBConv3,zero,ZERO | k7_e6 ")
    assert stages == [["k5_e3", "k3_e3", "zero", "zero"], ["k7_e6"]]
    assert encode_arch_string(stages) == text
    with pytest.raises(ValueError, match="stage 1 is empty"):
        decode_arch_string("k3_e3||k3_e3")


def _ops(space, op="k3_e3"):
    return [op] * space.num_blocks


def test_arch_json_round_trip(tmp_path):
    space = load_space("proxyless_small")
    ops = _ops(space)
    ops[1] = "zero"
    arch = Arch(space, tuple(ops), "mine")
    path = tmp_path / "arch.json"
    arch.save(str(path))
    again = load_arch(str(path))
    assert again == arch
    assert again.arch_string.startswith("k3_e3,zero|")
    # The compact string alone is enough, with the space given by name.
    doc = {"space": "proxyless_small", "arch_string": arch.arch_string}
    path.write_text(json.dumps(doc))
    assert load_arch(str(path)).ops == arch.ops


def test_arch_errors_name_the_field(tmp_path):
    space = load_space("proxyless_small")
    path = tmp_path / "arch.json"

    def check(ops, *needles):
        path.write_text(json.dumps({"space": "proxyless_small", "ops": ops}))
        with pytest.raises(SpaceError) as err:
            load_arch(str(path))
        for needle in (str(path),) + needles:
            assert needle in str(err.value)

    check(_ops(space)[:-1], "expected 11 ops", "got 10")
    bad = _ops(space)
    bad[0] = "zero"  # block 0 has stride/width change: zero not allowed
    check(bad, "ops[0]", "zero is allowed only where")
    bad = _ops(space)
    bad[3] = "k9_e3"
    check(bad, "ops[3]", "not a candidate")
    bad = _ops(space)
    bad[2] = "k3e3"
    check(bad, "ops[2]", "unknown op")
    path.write_text(json.dumps({"ops": _ops(space)}))
    with pytest.raises(SpaceError, match="field 'space'"):
        load_arch(str(path))


def test_space_file_written_by_user_is_searchable(tmp_path):
    doc = {
        "name": "tiny", "input_shape": [16, 16, 1], "num_classes": 3,
        "stem": {"width": 8, "stride": 1}, "first_block": {"width": 8},
        "stages": [{"width": 8, "blocks": 2, "stride": 1},
                   {"width": 16, "blocks": 1, "stride": 2, "candidates": ["k3_e3"]}],
        "candidates": ["k3_e1", "k5_e2"], "head_width": 32,
    }
    space = space_from_dict(doc, source="tiny.json")
    cands = [b.candidates for b in space.blocks()]
    assert cands == [("k3_e1", "k5_e2", "zero"), ("k3_e1", "k5_e2", "zero"), ("k3_e3",)]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
