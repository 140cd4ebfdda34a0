"""MBConv layer: shapes, residual rule, padding parity, BN and ReLU6 settings
(its config and saving: round_trip_test.py)."""

import numpy as np
import pytest

import keras

from pxnas_tf.layers import MBConv, blocks


@pytest.mark.parametrize("filters,kernel,expand,stride,in_shape,out_shape,residual", [
    (24, 5, 3, 2, (2, 16, 16, 16), (2, 8, 8, 24), False),
    (16, 3, 6, 1, (2, 8, 8, 16), (2, 8, 8, 16), True),
    (16, 7, 1, 1, (1, 9, 9, 8), (1, 9, 9, 16), False),
    (8, 3, 3, 2, (1, 7, 7, 8), (1, 4, 4, 8), False),
])
def test_shapes_and_residual(filters, kernel, expand, stride, in_shape, out_shape, residual):
    layer = MBConv(filters, kernel, expand, stride)
    y = layer(np.random.rand(*in_shape).astype("float32"))
    assert tuple(y.shape) == out_shape
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.use_residual is residual


def test_expand_one_has_no_expand_conv_and_counts_params():
    layer = MBConv(16, 3, 1, 1)
    layer.build((None, 8, 8, 32))
    names = [l.name for l in layer.body]
    assert not any("expand" in n for n in names)
    # dw 3*3*32 + BN 2*32 + project 32*16 + BN 2*16 (BN moving stats not trainable)
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == 288 + 64 + 512 + 32


def test_hidden_width_rounds_like_the_original():
    assert blocks.hidden_width(24, 3) == 72 and blocks.hidden_width(40, 4.5) == 180
    layer = MBConv(24, 3, 6, 1)
    layer.build((None, 8, 8, 24))
    assert layer.body[0].filters == 144


def test_residual_true_with_mismatched_shapes_is_an_error():
    with pytest.raises(ValueError, match="residual=True needs stride 1"):
        MBConv(24, 3, 3, 2, residual=True)(np.zeros((1, 8, 8, 24), "float32"))


def _depthwise_reference(x, kernel, stride):
    """PyTorch semantics: pad k // 2 on every side, windows every `stride`."""
    k = kernel.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out_h = (x.shape[1] + 2 * p - k) // stride + 1
    out_w = (x.shape[2] + 2 * p - k) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), "float32")
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            y[:, i, j, :] = np.einsum("bhwc,hwc->bc", window, kernel[..., 0])
    return y


@pytest.mark.parametrize("size", [12, 13])
def test_stride2_padding_matches_the_original(size):
    # The original pads k // 2 on every side. Keras "same" with stride 2 on an
    # even input pads 1 left / 2 right for k = 5, which shifts every window.
    x = np.random.rand(2, size, size, 3).astype("float32")
    layers = blocks.conv_bn_layers(3, 5, 2, "t", activation=False, depthwise=True)
    pad, dw = layers[0], layers[1]
    y = keras.ops.convert_to_numpy(dw(pad(x)))
    expected = _depthwise_reference(x, keras.ops.convert_to_numpy(dw.kernel), 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    same = keras.layers.DepthwiseConv2D(5, strides=2, padding="same", use_bias=False)
    same.build(x.shape)
    same.kernel.assign(dw.kernel)
    z = keras.ops.convert_to_numpy(same(x))
    assert z.shape == y.shape
    assert np.allclose(z, y, atol=1e-5) == (size % 2 == 1)  # equal only for odd sizes


def test_bn_epsilon_and_relu6():
    layer = MBConv(8, 3, 3, 1)
    layer.build((None, 4, 4, 8))
    bns = [l for l in layer.body if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 3 and all(bn.epsilon == 1e-3 for bn in bns)
    relus = [l for l in layer.body if isinstance(l, keras.layers.ReLU)]
    assert len(relus) == 2 and all(float(r.max_value) == 6.0 for r in relus)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
