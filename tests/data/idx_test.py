"""IDX reader: round trips, the real Debian Fashion-MNIST files, and
corrupt / truncated files that must raise a DataError naming the file."""

import gzip
import os
import struct

import numpy as np
import pytest

from pxnas_tf.data import DataError, encode_idx, parse_idx, read_idx, write_idx

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
needs_debian = pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR),
                                  reason="apt-get install dataset-fashion-mnist")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = str(tmp_path / f"a-idx3{suffix}")
    write_idx(path, array)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, array)
    assert (open(path, "rb").read(2) == b"\x1f\x8b") == (suffix == ".gz")


def test_header_is_big_endian():
    data = encode_idx(np.array([[1, 2, 3]], dtype=np.int32))
    assert data[:4] == b"\x00\x00\x0c\x02"
    assert struct.unpack(">II", data[4:12]) == (1, 3)
    assert struct.unpack(">3i", data[12:]) == (1, 2, 3)


@needs_debian
def test_real_fashion_mnist_files():
    images = read_idx(os.path.join(DEBIAN_DIR, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DEBIAN_DIR, "train-labels-idx1-ubyte.gz"))
    test_labels = read_idx(os.path.join(DEBIAN_DIR, "t10k-labels-idx1-ubyte.gz"))
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert test_labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9


def _valid() -> bytes:
    return encode_idx(np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4))


CORRUPT = {
    "empty": (lambda: b"", "shorter than the 4-byte magic"),
    "bad magic": (lambda: b"\x12\x34" + _valid()[2:], "does not start with two zero bytes"),
    "unknown type": (lambda: b"\x00\x00\x07" + _valid()[3:], "unknown IDX element type 0x07"),
    "zero dims": (lambda: b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated header": (lambda: _valid()[:9], "truncated IDX header"),
    "truncated data": (lambda: _valid()[:-5], "truncated IDX data"),
    "extra data": (lambda: _valid() + b"\x00\x01", "2 extra"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_file_names_file_and_problem(tmp_path, case, compress):
    make, message = CORRUPT[case]
    path = tmp_path / "broken-idx3-ubyte"
    data = make()
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError) as info:
        read_idx(str(path))
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_valid())[:-12])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(str(path))


def test_corrupt_gzip_body(tmp_path):
    data = bytearray(gzip.compress(bytes(range(256)) * 64))
    data[20:40] = b"\xff" * 20
    path = tmp_path / "c-idx3-ubyte.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=str(path)):
        read_idx(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(str(tmp_path / "nope"))


def test_parse_returns_native_byte_order():
    array = parse_idx(encode_idx(np.array([1.5, -2.0], dtype=np.float32)))
    assert array.dtype.byteorder in ("=", "|") and array.tolist() == [1.5, -2.0]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
