"""Parameter and MAC arithmetic of the blocks (pure functions, no TensorFlow)."""

from __future__ import annotations


def conv_cost(h: int, w: int, c_in: int, c_out: int, k: int) -> tuple[int, int]:
    """(params, macs) of a KxK conv (no bias) + BN at output size h x w."""
    return k * k * c_in * c_out + 2 * c_out, h * w * k * k * c_in * c_out


def depthwise_cost(h: int, w: int, c: int, k: int) -> tuple[int, int]:
    """(params, macs) of a KxK depthwise conv (no bias) + BN at output size h x w."""
    return k * k * c + 2 * c, h * w * k * k * c


def mbconv_cost(in_size, out_size, c_in: int, c_out: int, kernel: int, expand: float) -> tuple[int, int]:
    """(params, macs) of one MBConv block; pure arithmetic."""
    hidden = int(round(c_in * expand))
    parts = [conv_cost(*in_size, c_in, hidden, 1)] if expand != 1 else []
    parts.append(depthwise_cost(*out_size, hidden, kernel))
    parts.append(conv_cost(*out_size, hidden, c_out, 1))
    return sum(p for p, _ in parts), sum(m for _, m in parts)
