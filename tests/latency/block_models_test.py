"""Tests of the block models: one model per key, computing the same TFLite
ops as the part of a whole net the key stands for."""

import collections
import os

import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from pxnas_tf.latency.build import block_models
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch
from pxnas_tf.tflite import random_representative_data, to_tflite


def _tflite_ops(data: bytes) -> collections.Counter:
    interp = Interpreter(model_content=data, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    return collections.Counter(op["op_name"] for op in interp._get_ops_details())


def test_layer_models_have_the_key_shapes(tiny_space):
    for key in keys_lib.space_keys(tiny_space):
        k = keys_lib.parse_key(key)
        model = block_models.layer_model(key, tiny_space.stem_kernel)
        assert tuple(model.input.shape) == (1, *k.input_shape)
        assert tuple(model.output.shape) == (1, *k.output_shape)


def test_stem_stride_and_errors():
    assert keys_lib.stem_stride(224, 112, 3) == 2
    assert keys_lib.stem_stride(32, 32, 3) == 1
    with pytest.raises(keys_lib.LatencyKeyError, match="no stride maps"):
        keys_lib.stem_stride(32, 40, 3)
    with pytest.raises(block_models.BlockModelError, match="key kind 'Pool'"):
        block_models.layer_model("Pool-input:4x4x8-output:1x1x8")
    with pytest.raises(block_models.BlockModelError, match="idskip:1 but input and output"):
        block_models.layer_model(
            "expanded_conv-input:8x8x8-output:8x8x16-expand:3-kernel:3-stride:1-idskip:1")


def test_file_names_are_unique_and_safe(tiny_space):
    names = keys_lib.space_keys(tiny_space) + [block_models.overhead_name((16, 16, 3))]
    files = [block_models.file_name(n) for n in names]
    assert len(set(files)) == len(files)
    assert all(f.endswith(".tflite") and "/" not in f and ":" not in f for f in files)
    stem = keys_lib.stem_key(tiny_space)
    assert block_models.file_name(stem, 3) != block_models.file_name(stem, 5)


def test_block_models_run_the_ops_of_the_whole_net(tiny_space):
    """int8 TFLite ops of a whole net == the ops of its block models together."""
    arch = Arch(tiny_space, ("k5_e6", "k3_e3", "k3_e3"))
    shape = tiny_space.input_shape
    whole = _tflite_ops(to_tflite(build_model(arch, batch_size=1), "int8",
                                  random_representative_data(shape)))
    parts = collections.Counter()
    for key in keys_lib.arch_keys(arch):
        parts += _tflite_ops(block_models.convert(key, "int8", tiny_space.stem_kernel))
    assert whole == parts
    assert whole["ADD"] == 2 and whole["PAD"] == 2  # first block and block 1; two stride-2 blocks


def test_probe_constants_are_fixed():
    """A scalar ADD / MUL probe adds or multiplies a Rescaling's constant,
    and a broadcast one the same draw in every build: an int8 kernel's path
    can depend on the constant's scale."""
    def weights(key):
        return [w.tolist() for w in block_models.keras_model(key).get_weights()]

    add = "op-input:8x8x3-output:8x8x3-kernel:1-stride:1-type:add-scalar:1"
    mul = "op-input:8x8x3-output:8x8x3-kernel:1-stride:1-type:mul-scalar:1"
    assert weights(add) == [[[[-1.0]]]]
    assert weights(mul) == [[[[pytest.approx(1 / 127.5)]]]]
    broadcast = "op-input:4x4x16-output:4x4x16-kernel:1-stride:1-type:mul-broadcast:1"
    assert weights(broadcast) == weights(broadcast)


def test_overhead_model_is_empty_and_files_are_kept(tmp_path):
    name = block_models.overhead_name((8, 8, 4))
    path = block_models.ensure_model_file(name, "int8", str(tmp_path))
    assert sum(_tflite_ops(open(path, "rb").read()).values()) == 0
    stamp = os.path.getmtime(path)
    assert block_models.ensure_model_file(name, "int8", str(tmp_path)) == path
    assert os.path.getmtime(path) == stamp  # converted once, reused after


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
