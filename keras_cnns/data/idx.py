"""Reader for the IDX format used by the original MNIST and Fashion-MNIST files.

An IDX file starts with a four-byte magic number: two zero bytes, a byte naming
the element type and a byte giving the number of dimensions. The size of each
dimension follows as a big-endian 32-bit integer, then the data itself in
row-major order. The files are usually distributed gzipped
(`train-images-idx3-ubyte.gz`); this reader accepts both forms and recognises
gzip by its content, not by the file name.

Reference: Y. LeCun, C. Cortes, C. Burges, "The MNIST database of handwritten
digits" (file format section), http://yann.lecun.com/exdb/mnist/.
"""

import gzip
import os
import struct
import zlib

import numpy as np

# Element type byte -> big-endian numpy dtype, as the format defines them.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path, expected_ndim=None):
    """Reads an IDX file (gzipped or not) into a numpy array.

    Args:
        path: Path of the `.idx*-ubyte` or `.idx*-ubyte.gz` file.
        expected_ndim: If given, the number of dimensions the file must have
            (3 for image files, 1 for label files).

    Returns:
        A numpy array in native byte order with the shape stored in the file.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If the file is not valid IDX (bad magic number, unknown
            element type, wrong number of dimensions, or a data size that does
            not match the header); the message names the path.

    Example:

    ```python
    labels = read_idx("train-labels-idx1-ubyte.gz", expected_ndim=1)
    ```
    """
    path = os.fspath(path)
    content = _read_bytes(path)
    dtype, shape, header_size = _parse_header(content, path)
    if expected_ndim is not None and len(shape) != expected_ndim:
        raise ValueError(
            f"IDX file {path} has {len(shape)} dimensions {shape}, but "
            f"{expected_ndim} were expected. Check that the image and label "
            "files are not swapped."
        )
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    data_bytes = len(content) - header_size
    if data_bytes != expected_bytes:
        raise ValueError(
            f"IDX file {path} is broken: its header announces shape {shape} "
            f"({expected_bytes} data bytes) but it holds {data_bytes} data "
            "bytes. The file is probably truncated; download it again."
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes a numpy array as an (uncompressed, or gzipped if `path` ends
    in `.gz`) IDX file.

    Used to make small IDX files for tests and to export arrays in the MNIST
    format.

    Args:
        path: Destination path.
        array: Array whose dtype is one of the IDX element types
            (uint8, int8, int16, int32, float32, float64).

    Raises:
        ValueError: If the dtype of `array` has no IDX element type.
    """
    array = np.asarray(array)
    type_code = _type_code_for(array.dtype)
    big_endian = array.astype(IDX_DTYPES[type_code], copy=False)
    header = bytes([0, 0, type_code, array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    content = header + big_endian.tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(content)


def _read_bytes(path):
    with open(path, "rb") as handle:
        content = handle.read()
    if not content.startswith(_GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"IDX file {path} looks gzipped but cannot be decompressed "
            f"({error}). The download is probably incomplete; fetch the file "
            "again."
        ) from error


def _parse_header(content, path):
    if len(content) < 4:
        raise ValueError(
            f"IDX file {path} is too short to hold a header "
            f"({len(content)} bytes). Fetch the file again."
        )
    zero_a, zero_b, type_code, ndim = content[:4]
    if zero_a != 0 or zero_b != 0 or type_code not in IDX_DTYPES:
        raise ValueError(
            f"File {path} is not an IDX file: its magic number is "
            f"0x{content[:4].hex()}, expected 0x0000 followed by an element "
            f"type in {sorted(hex(code) for code in IDX_DTYPES)} and the "
            "number of dimensions. Check the path points at an MNIST-format "
            "file."
        )
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(content) < header_size:
        raise ValueError(
            f"IDX file {path} announces {ndim} dimensions but its header is "
            "incomplete. Fetch the file again."
        )
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    return IDX_DTYPES[type_code], tuple(int(size) for size in shape), header_size


def _type_code_for(dtype):
    for code, idx_dtype in IDX_DTYPES.items():
        if idx_dtype.newbyteorder("=") == dtype.newbyteorder("="):
            return code
    raise ValueError(
        f"Arrays of dtype {dtype} cannot be written as IDX. Convert the array "
        "to uint8, int8, int16, int32, float32 or float64 first."
    )
