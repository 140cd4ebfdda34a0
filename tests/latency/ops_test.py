"""Tests of the op decomposition: table keys and converted models must give
the same ops as the layers they stand for."""

import collections

import keras
import pytest

from pxnas_tf.latency.build import block_models
from pxnas_tf.latency.build.tflite_ops import ops_of_keras_model, ops_of_tflite
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.ops import (
    OP_TYPES, Op, UnsupportedLayerError, costed, mbconv_ops, op_key, op_of_key, ops_of_key,
)
from pxnas_tf.models import build_model, zoo
from pxnas_tf.search_space import Arch


def test_mbconv_ops_by_hand():
    ops = mbconv_ops((16, 16, 24), 40, kernel=5, expand=3, stride=2, residual=False)
    assert [(o.type, o.in_shape, o.out_shape, o.kernel, o.stride) for o in ops] == [
        ("conv", (16, 16, 24), (16, 16, 72), 1, 1),
        ("pad", (16, 16, 72), (20, 20, 72), 1, 1),
        ("dwconv", (20, 20, 72), (8, 8, 72), 5, 2),
        ("conv", (8, 8, 72), (8, 8, 40), 1, 1),
    ]
    assert ops[0].macs == 16 * 16 * 24 * 72 and ops[2].macs == 8 * 8 * 72 * 25
    ops = mbconv_ops((8, 8, 40), 40, 3, 1, 1, residual=True)
    assert [o.type for o in ops] == ["dwconv", "conv", "add"]


def test_a_pad_that_feeds_a_conv_costs_nothing():
    """`costed`: XNNPACK fuses a zero PAD into the conv or depthwise conv
    that reads it; a PAD that feeds anything else, or another shape, runs."""
    pad = Op("pad", (16, 16, 96), (18, 18, 96))
    dw = Op("dwconv", (18, 18, 96), (8, 8, 96), 3, 2)
    conv = Op("conv", (18, 18, 96), (8, 8, 32), 3, 2)
    add = Op("add", (18, 18, 96), (18, 18, 96))
    assert costed([pad, dw]) == [dw] and costed([pad, conv]) == [conv]
    assert costed([pad, add]) == [pad, add] and costed([dw, pad]) == [dw, pad]
    other = Op("dwconv", (16, 16, 96), (8, 8, 96), 3, 2)
    assert costed([pad, other]) == [pad, other]
    # A stride-2 MBConv block keys its pad; only the pad is left out.
    ops = mbconv_ops((16, 16, 16), 24, 3, 6, 2, False)
    assert [op.type for op in ops] == ["conv", "pad", "dwconv", "conv"]
    assert costed(ops) == [op for op in ops if op.type != "pad"]


def test_key_ops_equal_block_model_ops(tiny_space):
    """For every key of the space, the decomposition of the key equals the
    walk over the Keras block model built for it."""
    for key in keys_lib.space_keys(tiny_space):
        model = block_models.layer_model(key, tiny_space.stem_kernel)
        assert ops_of_keras_model(model) == ops_of_key(key, tiny_space.stem_kernel), key


def test_whole_net_ops_are_the_sum_of_its_keys(tiny_space):
    arch = Arch(tiny_space, ("k5_e6", "zero", "k3_e3"))
    whole = ops_of_keras_model(build_model(arch, batch_size=1))
    parts = [op for key in keys_lib.arch_keys(arch) for op in ops_of_key(key)]
    assert whole == parts


def test_zoo_net_ops_are_the_sum_of_its_keys():
    arch = zoo.get_arch("proxyless_mobile", input_shape=(32, 32, 3), num_classes=10)
    whole = ops_of_keras_model(build_model(arch, batch_size=1))
    parts = [op for key in keys_lib.arch_keys(arch) for op in ops_of_key(key)]
    # At a 1x1 feature map the converter reshapes a residual block's output
    # before its add: three RESHAPE ops that the block keys do not spell.
    reshapes = [op for op in whole if op.type == "reshape"]
    assert [(op.in_shape, op.out_shape) for op in reshapes] == [((1, 1, 192), (192,))] * 3
    assert collections.Counter(op for op in whole if op.type != "reshape") == \
        collections.Counter(parts)


def test_foreign_keras_layers_as_the_converter_runs_them():
    x = keras.Input((16, 16, 3), batch_size=1)
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.SeparableConv2D(16, 3, padding="same")(y)
    y = keras.layers.Activation("hard_swish")(y)
    y = keras.layers.MaxPooling2D(2)(y)
    y = keras.layers.Conv2D(16, 3, padding="same", groups=4)(y)
    y = keras.layers.Concatenate()([y, y])
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(10, activation="softmax")(y)
    for precision in ("float32", "int8"):
        ops = ops_of_keras_model(keras.Model(x, y), precision)
        assert [o.type for o in ops] == ["conv", "dwconv", "conv", "hswish", "maxpool", "conv",
                                         "concat", "reshape", "fc", "softmax"], precision
        assert ops[0] == Op("conv", (16, 16, 3), (8, 8, 8), 3, 2)
        assert ops[4] == Op("maxpool", (8, 8, 16), (4, 4, 16), 2, 2)
        assert ops[5].groups == 4 and ops[5].macs == 4 * 4 * 16 * 9 * 4
        assert ops[-2].in_shape == (4 * 4 * 32,)


def test_squeeze_excitation_and_swish():
    x = keras.Input((8, 8, 16), batch_size=1)
    y = keras.layers.Activation("swish")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True)(y)
    s = keras.layers.Conv2D(4, 1, activation="relu")(s)
    s = keras.layers.Conv2D(16, 1, activation="sigmoid")(s)
    y = keras.layers.Multiply()([y, s])
    for precision in ("float32", "int8"):
        types = [(o.type, o.broadcast) for o in ops_of_keras_model(keras.Model(x, y), precision)]
        # swish's LOGISTIC + MUL is one op; the gate's LOGISTIC multiplies another tensor
        assert types == [("swish", False), ("pool", False), ("conv", False), ("conv", False),
                         ("sigmoid", False), ("mul", True)], precision


def test_a_gate_of_another_tensor_is_not_a_swish():
    """x * sigmoid(conv(x)) keeps its LOGISTIC and MUL: only a tensor times
    its own sigmoid is a swish."""
    x = keras.Input((8, 8, 16), batch_size=1)
    g = keras.layers.Conv2D(16, 1, activation="sigmoid")(x)
    y = keras.layers.Multiply()([x, g])
    assert [o.type for o in ops_of_keras_model(keras.Model(x, y))] == ["conv", "sigmoid", "mul"]


def test_a_rescaling_layer_is_two_scalar_ops():
    """x * c + d with one number each (keras.applications' preprocessing):
    XNNPACK runs these with a kernel far cheaper than a 1x1xC broadcast."""
    x = keras.Input((16, 16, 3), batch_size=1)
    y = keras.layers.Rescaling(1 / 127.5, -1)(x)
    y = keras.layers.Conv2D(8, 3, padding="same")(y)
    for precision in ("float32", "int8"):
        ops = ops_of_keras_model(keras.Model(x, y), precision)
        assert [(o.type, o.scalar, o.broadcast) for o in ops] == [
            ("mul", True, False), ("add", True, False), ("conv", False, False)], precision
        assert op_of_key(op_key(ops[0])) == ops[0]


def test_unsupported_ops_and_shapes_are_named(tmp_path):
    x = keras.Input((8, 8, 3), batch_size=1)
    y = keras.layers.Conv2DTranspose(4, 3, strides=2)(x)
    with pytest.raises(UnsupportedLayerError, match="TRANSPOSE_CONV op, which has no latency "
                                                    "model; supported ops are CONV_2D"):
        ops_of_keras_model(keras.Model(x, y))
    free = keras.Input((None, None, 3))
    with pytest.raises(UnsupportedLayerError, match="fixed image size"):
        ops_of_keras_model(keras.Model(free, keras.layers.Conv2D(4, 1)(free)))


def test_single_op_keys_round_trip_and_build_their_op():
    """Every probe type converts to exactly the one TFLite op its key names."""
    from pxnas_tf.latency.build.probes import probe_ops

    by_type = {}
    for op in probe_ops():
        by_type.setdefault((op.type, op.groups > 1, op.broadcast, op.scalar), op)
    assert {t[0] for t in by_type} == set(OP_TYPES) - {"quantize"}
    assert {t for t in by_type if t[3]} == {("add", False, False, True),
                                            ("mul", False, False, True)}
    for op in by_type.values():
        key = op_key(op)
        assert op_of_key(key) == op and ops_of_key(key) == [op]
        assert ops_of_tflite(block_models.convert(key, "int8")) == [op], key


def test_a_window_op_after_its_own_pad_builds_as_a_valid_one():
    """Nets that pad explicitly before a stride-2 window op (the zoo's) give
    keys whose output is the valid one (34x34 -> 16x16 at stride 2, where
    "same" gives 17x17): their probes build them exactly."""
    for op in (Op("conv", (34, 34, 3), (16, 16, 8), 3, 2),
               Op("dwconv", (20, 20, 8), (8, 8, 8), 5, 2)):
        key = op_key(op)
        assert ops_of_tflite(block_models.convert(key, "int8")) == [op], key


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
