""".npy files from outside: the header is read within bounds and checked against the file's size before any
data is read; every refusal is one line saying what the file should have held."""

from __future__ import annotations

import io
import os
import re
import tracemalloc

import numpy as np
import pytest

from edgeprove.model import npy
from edgeprove.model.ir import ModelError
from edgeprove.model.onnx_import import read_calibration
from edgeprove.model.resolve import check_input_header, load_input


def npy_bytes(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=True)
    return buffer.getvalue()


def header_bytes(text: str, version: int = 1) -> bytes:
    """A .npy file of the given header dict text (padded like numpy's) and no data."""
    body = text.encode("latin1") + b"\n"
    width = 2 if version == 1 else 4
    return b"\x93NUMPY" + bytes([version, 0]) + len(body).to_bytes(width, "little") + body


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
@pytest.mark.parametrize(
    "array",
    [np.arange(12, dtype=np.int8).reshape(3, 4), np.zeros(0, np.int64), np.asfortranarray(np.ones((2, 3)))],
)
def test_valid_files_are_read(tmp_path, array, version):
    path = tmp_path / "a.npy"
    path.write_bytes(npy_bytes(array, version))
    header = npy.read_header(path, "input", "anything")
    assert header.shape == array.shape and header.dtype == array.dtype
    assert header.fortran_order == (array.ndim > 1 and not array.flags.c_contiguous)
    assert header.count == array.size and header.data_offset + array.nbytes == path.stat().st_size
    np.testing.assert_array_equal(npy.load(path, "input"), array)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "the file is empty"),
        (b"\x93NUM", "no .npy signature"),
        (os.urandom(64).replace(b"\x93", b"x"), "no .npy signature"),
        (b"\x93NUMPY\x01", "no .npy signature"),
        (b"\x93NUMPY\x09\x00\x10\x00", "unsupported .npy version 9.0"),
        (b"\x93NUMPY\x01\x00\x00\x20", "a header of 8,192 bytes, above the ceiling of 4,096"),
        (b"\x93NUMPY\x02\x00\xff\xff\xff\xff", "a header of 4,294,967,295 bytes"),
        (b"\x93NUMPY\x01\x00\x40\x00{'descr'", "the header is truncated"),
        (header_bytes("not a dict"), "malformed header"),
        (header_bytes("{'descr': '<i8'}"), "malformed header"),
        (header_bytes("{'descr': 'zz9', 'fortran_order': False, 'shape': (1,)}"), "malformed header"),
        (header_bytes("(" * 2000 + ")" * 2000), "malformed header"),
        (header_bytes("{'descr': '|i1'( 'fortran_order': False, 'shape': ()}"), "malformed header"),
        (header_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}"), "negative dimension"),
        (
            header_bytes("{'descr': '|i1', 'fortran_order': False, 'shape': (True, 28, 28), }"),
            r"a dimension that is not an integer in shape \(True, 28, 28\)",
        ),
        (
            header_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (4, False)}"),
            r"a dimension that is not an integer in shape \(4, False\)",
        ),
        (
            header_bytes("{'descr': '|i1', 'fortran_order': False, 'shape': (" + "1, " * 40 + "4)}"),
            "41 dimensions, above the ceiling of 32",
        ),
        (
            header_bytes("{'descr': '|S0', 'fortran_order': False, 'shape': (" + "9" * 30 + ",)}"),
            r"a dtype of zero bytes, \|S0",
        ),
        (header_bytes("{'descr': '<U0', 'fortran_order': False, 'shape': (3,)}"), "a dtype of zero bytes"),
        (header_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}"), "pickled Python objects"),
        (
            header_bytes("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}"),
            "structured dtype",
        ),
        (
            header_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}"),
            "8 bytes of data, but .* 0$",
        ),
        (
            header_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (" + "9" * 40 + ",)}"),
            "more than 2.62 bytes of data",
        ),
        (npy_bytes(np.array([{}], dtype=object)), "pickled Python objects"),
        (npy_bytes(np.ones(4)) + b"x", "32 bytes of data, but the file holds 33"),
    ],
)
def test_malformed_files_are_refused_with_one_line(tmp_path, content, reason):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(ModelError) as caught:
        npy.read_header(path, "input", "an int8 array of shape (4,)")
    message = str(caught.value)
    prefix, suffix = f"input {path}: not a valid .npy file (", "); expected an int8 array of shape (4,)"
    assert message.startswith(prefix) and message.endswith(suffix), message
    assert re.search(reason, message[len(prefix) : -len(suffix)]), message
    assert "\n" not in message and "allow_pickle" not in message


def test_a_huge_declared_header_or_array_reads_only_a_few_bytes(tmp_path):
    path = tmp_path / "huge.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_2_0(
            handle, {"descr": "<i8", "fortran_order": False, "shape": (1 << 40,)}
        )
        handle.truncate(8 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(
            ModelError, match="8,796,093,022,208 bytes of data, but the file holds 8,589,934,"
        ):
            npy.read_header(path, "input", "ten int8 values")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 16


def test_paths_that_are_not_regular_files(tmp_path):
    with pytest.raises(ModelError, match="input .*missing.npy: no such file$"):
        npy.read_header(tmp_path / "missing.npy", "input", "x")
    with pytest.raises(ModelError, match="input .*: is a directory, not a .npy file$"):
        npy.read_header(tmp_path, "input", "x")
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(ModelError, match="input .*pipe.npy: not a regular file$"):
        npy.read_header(tmp_path / "pipe.npy", "input", "x")


def test_a_boolean_dimension_is_refused_by_every_reader(tmp_path, mlp):
    """numpy's header parser takes True as the dimension 1 and its reader then raises TypeError: every reader
    refuses the header first, in one line."""
    path = tmp_path / "x.npy"
    text = "{'descr': '|i1', 'fortran_order': False, 'shape': (True, 3, 1, 2), }"
    path.write_bytes(header_bytes(text) + bytes(6))
    for read in (
        lambda: load_input(mlp, path),
        lambda: check_input_header(path, None),
        lambda: read_calibration(path),
        lambda: npy.load(path, "input") if npy.read_header(path, "input", "x") else None,
    ):
        with pytest.raises(
            ModelError, match=r"a dimension that is not an integer in shape \(True, 3, 1, 2\)"
        ):
            read()
