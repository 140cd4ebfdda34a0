"""IDX files (the MNIST / Fashion-MNIST container), read with numpy.

Layout (all integers big-endian):

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions N (>= 1)
    4 * N       the size of each dimension, uint32
    rest        the elements, row-major, exactly prod(sizes) of them

Files may be gzip-compressed (detected from the content, not the name).
Every check failure raises `DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from pxnas_tf.data.errors import DataError

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIMS = 8


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (plain or gzip) into a native-endian numpy array.

    Args:
        path: the file.

    Returns:
        An array with the file's element type and dimensions.

    Raises:
        DataError: the file is missing, unreadable, not IDX, or truncated.
    """
    return parse_idx(_read_bytes(path), source=path)


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of an uncompressed IDX file.

    Args:
        data: the whole file content.
        source: a name for error messages (usually the path).
    """
    if len(data) < 4:
        raise DataError(
            f"{source}: not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataError(
            f"{source}: not an IDX file: magic number 0x{data[:4].hex()} does not start with two "
            "zero bytes")
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{source}: unknown IDX element type 0x{type_code:02X} (known: {known})")
    if not 1 <= ndim <= _MAX_DIMS:
        raise DataError(f"{source}: IDX header gives {ndim} dimensions, expected 1 to {_MAX_DIMS}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header_len} bytes, file has "
            f"{len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise DataError(
            f"{source}: truncated IDX data: shape {shape} of {dtype.name} needs {expected} bytes after "
            f"the header, file has {got}")
    if got > expected:
        raise DataError(
            f"{source}: IDX size mismatch: shape {shape} of {dtype.name} needs {expected} bytes after "
            f"the header, file has {got} ({got - expected} extra)")
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def encode_idx(array: np.ndarray) -> bytes:
    """Encodes an array as IDX bytes (the inverse of `parse_idx`).

    Args:
        array: any array whose dtype is one of the IDX element types.
    """
    array = np.asarray(array)
    code = next((c for c, d in IDX_DTYPES.items() if d.kind == array.dtype.kind
                 and d.itemsize == array.dtype.itemsize), None)
    if code is None or array.ndim < 1:
        raise DataError(f"cannot encode an array of dtype {array.dtype} and {array.ndim} dims as IDX")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes `array` as an IDX file.

    Args:
        path: the destination.
        array: see `encode_idx`.
        compress: gzip the file; by default when `path` ends with ".gz".
    """
    data = encode_idx(array)
    if compress if compress is not None else path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when the content is gzip."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: IDX file not found")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read IDX file: {e}") from e
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip stream: {e}") from e
