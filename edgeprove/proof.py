"""The proof file: a versioned header, then length-prefixed sections written as the prover goes.

File layout (little-endian):
    magic b"EDGEPRV1" | u16 format version | u32 header length | header (UTF-8 JSON)
    then sections: u8 section kind | u64 payload length | payload
Payloads are a small self-describing encoding of proof objects (dataclasses of field arrays, ints,
bytes, lists).  Field elements are u32 and must be < p.  The reader checks every length against what
is left and against the caller's ceiling for that section, every element, every dataclass field against
its declared type (so each value has exactly one encoding: what is absorbed is what is checked), and
trailing bytes; any violation is a ``ProofFormatError`` with a one-line reason.  The header must be the
canonical JSON the writer produces.  The writer never holds more than one section in memory.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import struct
import types
import typing
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edgeprove import field as F
from edgeprove.process.atomic import AtomicFile, reap_stale_temps

MAGIC = b"EDGEPRV1"
FORMAT_VERSION = 7
MAX_HEADER = 1 << 16
"""Largest header accepted (an honest one is a few hundred bytes)."""
MAX_DEPTH = 16
MAX_NDIM = 4

SECTION_COMMIT = 1
SECTION_LAYER = 2
SECTION_OPENING = 3
SECTION_OUTPUT = 4
SECTION_END = 5
SECTION_INPUT = 6
SECTION_NAMES = {
    SECTION_INPUT: "input",
    SECTION_COMMIT: "commit",
    SECTION_LAYER: "layer",
    SECTION_OPENING: "opening",
    SECTION_OUTPUT: "output",
    SECTION_END: "end",
}

_REGISTRY: dict[str, type] = {}
_FIELD_TYPES: dict[type, dict[str, object]] = {}


class ProofFormatError(Exception):
    """A proof file that cannot be parsed: truncated, malformed, or not an edgeprove proof."""


def register(cls: type) -> type:
    """Allow a dataclass to appear in proof payloads (decorator)."""
    _REGISTRY[cls.__name__] = cls
    return cls


# ------------------------------------------------------------------------------------------ encoding
def encode(obj) -> bytes:
    """Serialize a proof object (dataclass / ndarray / int / bytes / list) to bytes."""
    out = io.BytesIO()
    _encode(obj, out)
    return out.getvalue()


def _encode(obj, out: io.BytesIO) -> None:
    if isinstance(obj, np.ndarray):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "ui" or (arr.size and int(arr.max()) >= F.P):
            raise ValueError("proof arrays must hold canonical field elements")
        out.write(b"A" + struct.pack("<B", arr.ndim))
        out.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
        out.write(np.ascontiguousarray(arr, dtype="<u4").tobytes())
    elif isinstance(obj, bool):
        raise TypeError("booleans are not proof values")
    elif isinstance(obj, (int, np.integer)):
        out.write(b"I" + struct.pack("<q", int(obj)))
    elif isinstance(obj, (bytes, bytearray)):
        out.write(b"B" + struct.pack("<I", len(obj)) + bytes(obj))
    elif isinstance(obj, str):
        data = obj.encode()
        out.write(b"S" + struct.pack("<I", len(data)) + data)
    elif isinstance(obj, (list, tuple)):
        out.write(b"L" + struct.pack("<I", len(obj)))
        for item in obj:
            _encode(item, out)
    elif obj is None:
        out.write(b"N")
    elif dataclasses.is_dataclass(obj):
        name = type(obj).__name__
        if name not in _REGISTRY:
            raise TypeError(f"{name} is not a registered proof type")
        fields = dataclasses.fields(obj)
        data = name.encode()
        out.write(b"D" + struct.pack("<H", len(data)) + data + struct.pack("<H", len(fields)))
        for f in fields:
            _encode(getattr(obj, f.name), out)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} in a proof")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        """The next n bytes, or ProofFormatError when fewer are left."""
        if n < 0 or self.pos + n > len(self.data):
            raise ProofFormatError("truncated payload")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        """struct.unpack of the next bytes."""
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def decode(data: bytes):
    """Parse bytes produced by ``encode``; raises ProofFormatError on anything malformed."""
    reader = _Reader(data)
    obj = _decode(reader, 0)
    if reader.pos != len(data):
        raise ProofFormatError("trailing bytes in a section")
    return obj


def _decode(r: _Reader, depth: int):
    if depth > MAX_DEPTH:
        raise ProofFormatError("nesting too deep")
    tag = r.take(1)
    if tag == b"A":
        (ndim,) = r.unpack("<B")
        if ndim > MAX_NDIM:
            raise ProofFormatError("array has too many dimensions")
        shape = r.unpack(f"<{ndim}I")
        count = math.prod(shape)  # exact: a hostile shape cannot wrap
        raw = r.take(4 * count)
        arr = np.frombuffer(raw, dtype="<u4").astype(np.uint64).reshape(shape)
        if arr.size and int(arr.max()) >= F.P:
            raise ProofFormatError("field element out of range")
        return arr
    if tag == b"I":
        return r.unpack("<q")[0]
    if tag == b"B":
        (n,) = r.unpack("<I")
        return r.take(n)
    if tag == b"S":
        (n,) = r.unpack("<I")
        try:
            return r.take(n).decode()
        except UnicodeDecodeError as exc:
            raise ProofFormatError("invalid text") from exc
    if tag == b"L":
        (n,) = r.unpack("<I")
        if n > len(r.data) - r.pos:
            raise ProofFormatError("list longer than the payload")
        return [_decode(r, depth + 1) for _ in range(n)]
    if tag == b"N":
        return None
    if tag == b"D":
        (n,) = r.unpack("<H")
        name = r.take(n).decode(errors="replace")
        cls = _REGISTRY.get(name)
        if cls is None:
            raise ProofFormatError(f"unknown proof object {name!r}")
        (count,) = r.unpack("<H")
        fields = dataclasses.fields(cls)
        if count != len(fields):
            raise ProofFormatError(f"{name} has {count} fields, expected {len(fields)}")
        values = {f.name: _decode(r, depth + 1) for f in fields}
        for field_name, hint in _field_types(cls).items():
            if not _conforms(values[field_name], hint):
                raise ProofFormatError(f"{name}.{field_name} is not of its declared type")
        return cls(**values)
    raise ProofFormatError(f"unknown value tag {tag!r}")


def _field_types(cls: type) -> dict[str, object]:
    """The declared (resolved) type of every field of a registered proof dataclass, cached."""
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = _FIELD_TYPES[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return hints


def _conforms(value: object, hint: object) -> bool:
    """Whether a decoded value has the declared type: unions, ``list[T]``, ints (not bools), bytes, field
    arrays, None and registered dataclasses; anything else (a string, a list where an array belongs, an
    int where an extension element belongs) has no place in a proof."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, option) for option in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint in (int, bytes):
        return type(value) is hint
    if hint is np.ndarray:
        return isinstance(value, np.ndarray)
    return isinstance(hint, type) and hint in _REGISTRY.values() and type(value) is hint


# ------------------------------------------------------------------------------------------ file I/O
class ProofWriter:
    """Writes the header, then one section at a time, flushing each so memory holds only one.

    The sections go to a temporary file beside `path` (process.atomic) that replaces `path` only when
    close() has written the end section: a failed, interrupted or killed prover never truncates an existing
    proof. Temporaries left by killed provers in the same folder are removed first.
    """

    def __init__(self, path: str | Path, header: dict) -> None:
        self.path = Path(path)
        self.header = header
        reap_stale_temps(self.path.parent)
        self._out = AtomicFile(self.path)
        self._file: BinaryIO = self._out.file
        head = json.dumps(header, sort_keys=True).encode()
        try:
            self._file.write(MAGIC + struct.pack("<HI", FORMAT_VERSION, len(head)) + head)
        except BaseException:
            self._out.discard()
            raise
        self.bytes_written = len(MAGIC) + 6 + len(head)

    def section(self, kind: int, obj) -> int:
        """Append one section; returns its size in bytes."""
        payload = encode(obj)
        self._file.write(struct.pack("<BQ", kind, len(payload)))
        self._file.write(payload)
        self._file.flush()
        size = 9 + len(payload)
        self.bytes_written += size
        return size

    def close(self) -> None:
        """Write the end section, sync, and move the complete proof into place."""
        self.section(SECTION_END, [])
        self._out.commit()

    def abort(self) -> None:
        """Drop the partial proof (the prover failed); a file already at `path` is untouched."""
        self._out.discard()


class ProofReader:
    """Reads a proof file section by section, validating framing as it goes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115
            self.size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise ProofFormatError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            self.header = self._read_header()
        except BaseException:
            self._file.close()
            raise
        self._ended = False

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes; a failed read (a bad disk, a file the kernel will not read) is a format
        error naming the file, not a crash."""
        try:
            return self._file.read(size)
        except OSError as exc:
            raise ProofFormatError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def _read_header(self) -> dict:
        """Magic, version and the canonical JSON header, every length checked before it is read."""
        if self._read(len(MAGIC)) != MAGIC:
            raise ProofFormatError("not an edgeprove proof file (bad magic)")
        fixed = self._read(6)
        if len(fixed) != 6:
            raise ProofFormatError("truncated header")
        version, head_len = struct.unpack("<HI", fixed)
        if version != FORMAT_VERSION:
            raise ProofFormatError(f"unsupported proof format version {version}")
        if head_len > MAX_HEADER:
            raise ProofFormatError("header too large")
        head = self._read(head_len)
        if len(head) != head_len:
            raise ProofFormatError("truncated header")
        try:
            header = json.loads(head.decode())
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ProofFormatError("header is not valid JSON") from exc
        if not isinstance(header, dict):
            raise ProofFormatError("header is not a JSON object")
        if json.dumps(header, sort_keys=True).encode() != head:
            raise ProofFormatError("header is not in canonical form (sorted keys, the writer's spacing)")
        return header

    def next(self, expected: int, limit: int | None = None):
        """Read the next section, which must be of kind ``expected`` and at most ``limit`` bytes long (the
        size the statement allows, checked before the payload is read); returns its decoded object."""
        fixed = self._read(9)
        if len(fixed) != 9:
            raise ProofFormatError(f"truncated file: expected a {SECTION_NAMES.get(expected)} section")
        kind, length = struct.unpack("<BQ", fixed)
        if kind != expected:
            raise ProofFormatError(
                f"expected a {SECTION_NAMES.get(expected)} section, found {SECTION_NAMES.get(kind, kind)}"
            )
        remaining = self.size - self._file.tell()
        if limit is not None and length > limit:
            raise ProofFormatError(
                f"{SECTION_NAMES[expected]} section of {length:,} bytes is over the {limit:,} allowed"
            )
        if length > remaining:
            raise ProofFormatError("truncated file: section longer than what is left")
        payload = self._read(length)
        obj = decode(payload)
        if kind == SECTION_END:
            if not (isinstance(obj, list) and not obj):  # nothing may ride in the end section
                raise ProofFormatError("the end section is not empty")
            self._ended = True
        return obj

    def finish(self, limit: int | None = None) -> None:
        """Require the end section (at most ``limit`` bytes) and no trailing bytes."""
        if not self._ended:
            self.next(SECTION_END, limit)
        if self._read(1):
            raise ProofFormatError("trailing bytes after the end section")
        self._file.close()

    def close(self) -> None:
        """Close the file without further checks."""
        self._file.close()
