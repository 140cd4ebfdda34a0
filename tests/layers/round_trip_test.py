"""Every custom layer through the harness's round trip (pxnas_tf.testing):
its config holds its arguments, it runs with the shape it declares, its
config rebuilds it, and it saves to and loads from a .keras file with the
same output; and a check that a new custom layer cannot be added without
joining this file."""

import importlib
import pkgutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import pxnas_tf.layers
import pxnas_tf.models
from pxnas_tf.layers import MBConv, MixedOp, SharedMBConv, ZeroOp
from pxnas_tf.testing import check_layer_round_trip

X = tf.random.stateless_normal((2, 8, 8, 8), seed=[5, 6])

# The classes this file round-trips.
COVERED = {MBConv, ZeroOp, SharedMBConv, MixedOp}


def _serializable_layers(package):
    """Keras layers (models included) defined in `package`'s modules that
    define their own get_config: the ones that promise to save and load."""
    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, keras.layers.Layer)
                    and obj.__module__ == module.__name__ and "get_config" in vars(obj)):
                found.add(obj)
    return found


def test_every_custom_layer_is_covered():
    # models.Supernet is a keras.Model without a config of its own: it is
    # checkpointed, never saved as a .keras file, so it is not listed.
    assert _serializable_layers(pxnas_tf.layers) | _serializable_layers(pxnas_tf.models) == COVERED


@pytest.mark.parametrize("kwargs", [
    dict(filters=8, kernel_size=5, expand_ratio=3, strides=1),
    dict(filters=8, kernel_size=3, expand_ratio=6, strides=2),
    dict(filters=8, kernel_size=3, expand_ratio=1, strides=1),  # no expand conv
    dict(filters=16, kernel_size=7, expand_ratio=3, strides=2, residual=False, bn_momentum=0.95),
])
def test_mbconv(tmp_path, kwargs):
    size = 8 // kwargs["strides"]
    check_layer_round_trip(MBConv, dict(kwargs, name="blk"), X, str(tmp_path),
                           expected_shape=(2, size, size, kwargs["filters"]))


@pytest.mark.parametrize("filters,strides", [(8, 1), (16, 2)])
def test_zero_op(tmp_path, filters, strides):
    out = check_layer_round_trip(ZeroOp, dict(filters=filters, strides=strides, name="z"), X,
                                 str(tmp_path),
                                 expected_shape=(2, 8 // strides, 8 // strides, filters))
    assert not np.any(out)


@pytest.mark.parametrize("kernel,expand", [(3, 3), (5, 6), (5, 3)])
def test_shared_mbconv_slices(tmp_path, kernel, expand):
    check_layer_round_trip(
        SharedMBConv, dict(filters=16, kernels=[3, 5, 5], expands=[3, 6, 3], strides=2,
                           bn_momentum=0.95, name="shared"),
        X, str(tmp_path), method="run",
        call_kwargs={"kernel": kernel, "expand": expand, "training": False},
        expected_shape=(2, 4, 4, 16))


def test_shared_mbconv_without_expand_conv(tmp_path):
    check_layer_round_trip(
        SharedMBConv, dict(filters=8, kernels=[3, 5], expands=[1, 1], name="shared_e1"),
        X, str(tmp_path), method="run", call_kwargs={"kernel": 3, "expand": 1, "training": False},
        expected_shape=(2, 8, 8, 8))


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("active", [0, 1, 2])
def test_mixed_op_each_path(tmp_path, shared, active):
    init = dict(filters=8, candidates=["k3_e3", "k5_e6", "zero"], strides=1, residual=True,
                shared=shared, frozen=(1,) if not shared else ())
    out = check_layer_round_trip(MixedOp, init, X, str(tmp_path),
                                 call_kwargs={"path": [active, active], "training": False},
                                 tensors=("path",), expected_shape=X.shape)
    if active == 2:  # the zero op of a residual block: the identity
        np.testing.assert_allclose(out, X.numpy(), rtol=1e-6)


@pytest.mark.parametrize("mode", ["two", "full"])
@pytest.mark.parametrize("active", [1, 2])  # a slice of the shared block, the frozen one
def test_mixed_op_strided_shared_with_a_frozen_candidate(tmp_path, mode, active):
    """A stride-2, non-residual block (no zero op), shared weights except
    for a frozen candidate with weights of its own, in the other modes."""
    init = dict(filters=16, candidates=["k3_e3", "k5_e6", "k3_e6"], strides=2, mode=mode,
                shared=True, frozen=(2,), bn_momentum=0.95, name="mixed")
    check_layer_round_trip(MixedOp, init, X, str(tmp_path),
                           call_kwargs={"path": [active, 0], "training": False},
                           tensors=("path",), expected_shape=(2, 4, 4, 16))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
