"""Derived nets: stock Keras layers only, zero blocks skipped, loadable
without pxnas_tf."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from pxnas_tf.layers import MBConv
from pxnas_tf.models import build_model
from pxnas_tf.models.derived import block_name
from pxnas_tf.search_space import Arch, load_space


def _arch(ops_fn, **space_overrides):
    space = load_space("proxyless_small", **space_overrides)
    return Arch(space, tuple(ops_fn(b) for b in space.blocks()), "t")


def test_only_stock_keras_layers():
    model = build_model(_arch(lambda b: b.candidates[-1]))
    for layer in model.layers:
        assert type(layer).__module__.startswith("keras."), type(layer)


def test_zero_blocks_are_skipped_and_residuals_added():
    all_zero = _arch(lambda b: "zero" if "zero" in b.candidates else "k3_e3")
    none_zero = _arch(lambda b: "k3_e3")
    m0, m1 = build_model(all_zero), build_model(none_zero)
    skipped = [b.index for b in all_zero.space.blocks() if "zero" in b.candidates]
    names0 = {l.name for l in m0.layers}
    for i in skipped:
        assert not any(n.startswith(f"b{i:02d}_") for n in names0)
        assert f"{block_name(i, 'k3_e3')}_add" in {l.name for l in m1.layers}
    assert m0.count_params() < m1.count_params()


def test_fixed_and_free_batch():
    arch = _arch(lambda b: "k5_e6", input_shape=[28, 28, 1])
    assert tuple(build_model(arch, batch_size=1).input.shape) == (1, 28, 28, 1)
    model = build_model(arch)
    assert tuple(model.input.shape) == (None, 28, 28, 1)
    assert tuple(model(np.zeros((3, 28, 28, 1), "float32")).shape) == (3, 10)


def test_block_computes_what_the_mbconv_layer_computes():
    # The derived net's stock-layer block and the MBConv layer are the same
    # function: copying the weights gives the same output.
    arch = _arch(lambda b: "k5_e3")
    model = build_model(arch)
    block = arch.space.blocks()[1]  # stride 1, residual
    prefix = block_name(block.index, "k5_e3")
    start = model.get_layer(f"{prefix}_expand_conv").input
    end = model.get_layer(f"{prefix}_add").output
    sub = keras.Model(start, end)
    layer = MBConv(block.out_channels, 5, 3, 1)
    x = np.random.rand(2, *block.in_size, block.in_channels).astype("float32")
    layer(x)
    layer.set_weights(sub.get_weights())
    np.testing.assert_allclose(sub(x, training=False), layer(x, training=False),
                               rtol=1e-5, atol=1e-5)


def test_dropout_layer():
    model = build_model(_arch(lambda b: "k3_e3"), dropout=0.2)
    assert model.get_layer("dropout").rate == 0.2


_LOADER = r"""
import json, sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
y = model(x, training=False)
print(json.dumps({"pxnas_loaded": any(m.startswith("pxnas_tf") for m in sys.modules),
                  "out": keras.ops.convert_to_numpy(y).tolist()}))
"""


def test_saved_net_loads_in_a_fresh_process_without_pxnas(tmp_path):
    arch = _arch(lambda b: "k7_e3" if b.index % 2 else "k3_e6", input_shape=[28, 28, 1])
    model = build_model(arch)
    path = str(tmp_path / "net.keras")
    model.save(path)
    x = np.random.rand(2, 28, 28, 1).astype("float32")
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run([sys.executable, "-c", _LOADER, path, str(tmp_path / "x.npy")],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path), check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["pxnas_loaded"] is False
    np.testing.assert_allclose(result["out"], model(x, training=False), rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
