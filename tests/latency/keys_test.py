"""Tests of the latency-table key grammar and the keys of search spaces."""

import os

import pytest
import yaml

from pxnas_tf.latency.model import keys
from pxnas_tf.search_space import Arch, load_space

PUBLISHED = os.path.join(os.path.dirname(__file__), "testdata", "proxylessnas_mobile_trim.yaml")


def published_keys():
    with open(PUBLISHED) as f:
        return list(yaml.safe_load(f))


def test_parse_mbconv_key():
    k = keys.parse_key(
        "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0")
    assert k == keys.LayerKey("expanded_conv", (112, 112, 16), (56, 56, 24), 3, 5, 2, False)
    assert isinstance(k.expand, int)


def test_parse_fixed_layer_keys():
    assert keys.parse_key("Conv-input:224x224x3-output:112x112x32") == keys.LayerKey(
        "Conv", (224, 224, 3), (112, 112, 32))
    assert keys.parse_key("Conv_1-input:7x7x320-output:7x7x1280").kind == "Conv_1"
    logits = keys.parse_key("Logits-input:7x7x1280-output:1000")
    assert logits.output_shape == (1000,) and logits.expand is None


def test_every_published_key_round_trips():
    for key in published_keys():
        assert keys.format_key(keys.parse_key(key)) == key


def test_extra_fields_are_kept():
    key = "expanded_conv-input:28x28x40-output:28x28x40-expand:4-kernel:3-stride:1-idskip:1-se:1-hs:0"
    parsed = keys.parse_key(key)
    assert parsed.extra == (("se", "1"), ("hs", "0"))
    assert str(parsed) == key


def test_expand_formatting():
    assert keys.format_expand(6) == "6"
    assert keys.format_expand(6.0) == "6"
    assert keys.format_expand(4.5) == "4.5"
    key = "expanded_conv-input:7x7x8-output:7x7x8-expand:6.0-kernel:3-stride:1-idskip:1"
    assert keys.normalize_key(key) == key.replace("expand:6.0", "expand:6")
    assert keys.parse_key(key.replace("6.0", "4.5")).expand == 4.5


@pytest.mark.parametrize("bad, words", [
    ("", "non-empty"),
    ("   ", "non-empty"),
    (None, "non-empty"),
    ("expanded_conv", "missing field 'input'"),
    ("Conv-input:224x224x3", "missing field 'output'"),
    ("Conv-input224x224x3-output:112x112x32", "not 'name:value'"),
    ("Conv-input:224x224-output:112x112x32", "rank-3"),
    ("Logits-input:7x7x1280-output:7x7x1000", "rank-1 output"),
    ("Conv-input:axbx3-output:112x112x32", "shape"),
    ("Conv-input:224x224x3-output:112x112x32-input:1x1x1", "twice"),
    ("Conv-input:0x224x3-output:112x112x32", "positive"),
    (" Conv-input:224x224x3-output:112x112x32", "whitespace"),
    ("-input:224x224x3-output:112x112x32", "kind"),
    ("expanded_conv-input:7x7x8-output:7x7x8-expand:3-kernel:3-stride:1", "idskip"),
    ("expanded_conv-input:7x7x8-output:7x7x8-expand:3-kernel:4-stride:1-idskip:1", "odd"),
    ("expanded_conv-input:7x7x8-output:7x7x8-expand:3-kernel:3-stride:1-idskip:2", "0 or 1"),
    ("expanded_conv-input:7x7x8-output:7x7x8-expand:x-kernel:3-stride:1-idskip:1", "expand"),
    ("expanded_conv-input:7x7x8-output:7x7x8-expand:3-kernel:3-stride:0-idskip:1", "stride"),
])
def test_malformed_keys(bad, words):
    with pytest.raises(keys.LatencyKeyError, match="malformed latency key") as info:
        keys.parse_key(bad)
    assert words in str(info.value)


def test_imagenet_space_keys():
    space = load_space("proxyless_imagenet")
    ks = keys.space_keys(space)
    # stem + first block + 5 stages x (6 first-block + 6 repeated-block) + 6 + head + logits
    assert len(ks) == len(set(ks)) == 70
    assert ks[0] == "Conv-input:224x224x3-output:112x112x32"
    assert ks[1] == "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0"
    assert ks[-2:] == ["Conv_1-input:7x7x320-output:7x7x1280", "Logits-input:7x7x1280-output:1000"]
    assert "expanded_conv-input:14x14x80-output:14x14x96-expand:6-kernel:7-stride:1-idskip:0" in ks


def test_block_keys_follow_block_specs():
    space = load_space("proxyless_small")
    per_block = keys.block_candidate_keys(space)
    for block, block_keys in zip(space.blocks(), per_block):
        assert len(block_keys) == len(block.candidates)
        for op, key in zip(block.candidates, block_keys):
            if op == "zero":
                assert key is None and block.residual
                continue
            parsed = keys.parse_key(key)
            assert parsed.input_shape == (*block.in_size, block.in_channels)
            assert parsed.output_shape == (*block.out_size, block.out_channels)
            assert parsed.stride == block.stride and parsed.idskip == block.residual
            assert f"k{parsed.kernel}_e{parsed.expand}" == op


def test_width_mult_scales_keys():
    space = load_space("proxyless_imagenet", width_mult=1.4)
    stem = keys.parse_key(keys.stem_key(space))
    assert stem.output_shape[-1] == space.stem_channels == 48
    head = keys.parse_key(keys.head_key(space))
    assert head.output_shape[-1] == space.head_channels == 1792
    assert keys.classifier_key(space) == "Logits-input:7x7x1792-output:1000"


def test_first_block_residual_when_widths_match():
    space = load_space("proxyless_small", first_block_width=16, first_block_op="k5_e1")
    assert keys.first_block_key(space) == (
        "expanded_conv-input:32x32x16-output:32x32x16-expand:1-kernel:5-stride:1-idskip:1")


def test_arch_layers_and_keys():
    space = load_space("proxyless_small")
    ops = [b.candidates[-1] for b in space.blocks()]  # zero wherever allowed
    arch = Arch(space, tuple(ops))
    layers = keys.arch_layers(arch)
    assert [layer.name for layer in layers][:3] == ["stem", "first_block", "blocks.0"]
    assert [layer.name for layer in layers][-2:] == ["head_conv", "logits"]
    assert len(layers) == space.num_blocks + 4
    zero_layers = [layer for layer in layers if layer.op == "zero"]
    assert zero_layers and all(layer.key is None for layer in zero_layers)
    assert len(keys.arch_keys(arch)) == len(layers) - len(zero_layers)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
