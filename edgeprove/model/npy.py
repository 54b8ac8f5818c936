""".npy files from outside (weights, inputs, calibration batches), read within bounds.

The header is parsed from at most ``MAX_NPY_HEADER_BYTES`` and the file's size is checked against the shape
and dtype it declares before any data is read, mapped or hashed; pickled (object), structured and zero-byte
dtypes are refused, and so is a shape that is not at most MAX_NPY_DIMS plain non-negative integers (numpy's
parser passes True as 1, which its reader then fails on).  Every problem is a one-line ModelError saying what
the file should have held.
"""

from __future__ import annotations

import io
import math
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprove.model.ir import MAX_NPY_DIMS, MAX_NPY_HEADER_BYTES, ModelError, load_npy, short

MAGIC = b"\x93NUMPY"
READERS = {(1, 0): (2, np.lib.format.read_array_header_1_0), (2, 0): (4, np.lib.format.read_array_header_2_0)}
"""Supported .npy versions: the size of their header-length field and numpy's parser for the header."""


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header declares: dtype, shape, memory order and where the data starts."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def count(self) -> int:
        """Number of values the header declares (exact, however large)."""
        return math.prod(self.shape)

    def describe(self) -> str:
        """The declared array as people read it, e.g. ``int8[8, 10]`` (cut short when absurdly long)."""
        return f"{self.dtype}{short(list(self.shape), 60)}"


def regular_file(path: Path, what: str, kind: str = ".npy file") -> None:
    """Refuse a path that does not exist or is not a regular file (a directory, device or pipe); ``kind``
    says what it should be."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ModelError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise ModelError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ModelError(f"{what} {path}: is a directory, not a {kind}")
    if not stat.S_ISREG(mode):
        raise ModelError(f"{what} {path}: not a regular file")


def read_header(path: Path, what: str, expected: str) -> NpyHeader:
    """Parse the header of the .npy file ``path`` and check the file holds exactly the data it declares.

    ``what`` names the file in messages ("input", "weight file", ...) and ``expected`` says what it should
    hold ("an int8 array of shape (8, 10)").
    """
    regular_file(path, what)

    def refuse(reason: str) -> ModelError:
        return ModelError(f"{what} {path}: not a valid .npy file ({reason}); expected {expected}")

    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            lead = handle.read(len(MAGIC) + 2)
            if not lead:
                raise refuse("the file is empty")
            if lead[: len(MAGIC)] != MAGIC or len(lead) < len(MAGIC) + 2:
                raise refuse("no .npy signature")
            version = (lead[-2], lead[-1])
            if version not in READERS:
                raise refuse(f"unsupported .npy version {version[0]}.{version[1]}")
            width, parse = READERS[version]
            length_field = handle.read(width)
            length = int.from_bytes(length_field, "little")
            if len(length_field) < width or length > MAX_NPY_HEADER_BYTES:
                raise refuse(f"a header of {length:,} bytes, above the ceiling of {MAX_NPY_HEADER_BYTES:,}")
            text = handle.read(length)
    except OSError as exc:
        raise ModelError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    if len(text) < length:
        raise refuse("the header is truncated")
    try:
        shape, fortran_order, dtype = parse(
            io.BytesIO(length_field + text), max_header_size=MAX_NPY_HEADER_BYTES
        )
    except Exception:  # numpy's parser raises ValueError, SyntaxError, tokenize.TokenError, RecursionError...
        raise refuse("malformed header") from None
    if dtype.hasobject:
        raise refuse("it holds pickled Python objects")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise refuse(f"a structured dtype {dtype}")
    if dtype.itemsize == 0:
        raise refuse(f"a dtype of zero bytes, {dtype}")
    if len(shape) > MAX_NPY_DIMS:
        raise refuse(f"{len(shape)} dimensions, above the ceiling of {MAX_NPY_DIMS}")
    if any(type(dim) is not int for dim in shape):  # numpy's parser takes True and False as 1 and 0
        raise refuse(f"a dimension that is not an integer in shape {short(shape)}")
    if any(dim < 0 for dim in shape):
        raise refuse(f"a negative dimension in shape {short(shape)}")
    header = NpyHeader(dtype, tuple(shape), bool(fortran_order), len(lead) + width + length)
    data_bytes = header.count * dtype.itemsize
    if size != header.data_offset + data_bytes:
        declared = f"{data_bytes:,} bytes" if data_bytes < 1 << 62 else "more than 2^62 bytes"
        raise refuse(
            f"the header declares {header.describe()}, {declared} of data, but the file holds "
            f"{size - header.data_offset:,}"
        )
    return header


def load(path: Path, what: str) -> np.ndarray:
    """Load a .npy file whose header ``read_header`` accepted (its size is known to be bounded)."""
    try:
        return load_npy(path)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(f"{what} {path}: cannot read it ({exc.__class__.__name__})") from None
