"""Every custom layer through the harness's round trip (pxnas_tf.testing):
it runs with the shape it declares, its config rebuilds it, and it saves to
and loads from a .keras file with the same output."""

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.layers import MBConv, MixedOp, SharedMBConv, ZeroOp
from pxnas_tf.testing import check_layer_round_trip

X = tf.random.stateless_normal((2, 8, 8, 8), seed=[5, 6])


@pytest.mark.parametrize("strides,expand", [(1, 3), (2, 6), (1, 1)])
def test_mbconv(tmp_path, strides, expand):
    out = check_layer_round_trip(MBConv(8, 5, expand, strides=strides), X, str(tmp_path))
    assert out.shape == (2, 8 // strides, 8 // strides, 8)


def test_zero_op(tmp_path):
    out = check_layer_round_trip(ZeroOp(8), X, str(tmp_path))
    assert not np.any(out)


@pytest.mark.parametrize("kernel,expand", [(3, 3), (5, 6)])
def test_shared_mbconv_slices(tmp_path, kernel, expand):
    shared = SharedMBConv(16, [3, 5], [3, 6], strides=2, name="shared")
    out = check_layer_round_trip(shared, X, str(tmp_path), method="run",
                                 kwargs={"kernel": kernel, "expand": expand, "training": False})
    assert out.shape == (2, 4, 4, 16)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("active", [0, 1, 2])
def test_mixed_op_each_path(tmp_path, shared, active):
    op = MixedOp(8, ["k3_e3", "k5_e6", "zero"], strides=1, residual=True, shared=shared,
                 frozen=(1,) if not shared else ())
    out = check_layer_round_trip(op, X, str(tmp_path), kwargs={"path": [active, active],
                                                               "training": False},
                                 tensors=("path",))
    if active == 2:  # the zero op of a residual block: the identity
        np.testing.assert_allclose(out, X.numpy(), rtol=1e-6)
