"""Read a proof file into decoded sections, change one value, and write it back (for tamper tests)."""

from __future__ import annotations

import copy
import dataclasses
import json
import struct
from pathlib import Path

import numpy as np

from edgeprove import field as F
from edgeprove import protocol  # noqa: F401  (registers the proof types)
from edgeprove.proof import decode, encode


def read_sections(path: Path) -> tuple[bytes, list[tuple[int, object]]]:
    data = path.read_bytes()
    head_len = struct.unpack("<I", data[10:14])[0]
    prefix, pos, sections = data[: 14 + head_len], 14 + head_len, []
    while pos < len(data):
        kind, length = struct.unpack("<BQ", data[pos : pos + 9])
        sections.append((kind, decode(data[pos + 9 : pos + 9 + length])))
        pos += 9 + length
    return prefix, sections


def write_sections(path: Path, prefix: bytes, sections) -> None:
    out = bytearray(prefix)
    for kind, obj in sections:
        payload = encode(obj)
        out += struct.pack("<BQ", kind, len(payload)) + payload
    path.write_bytes(bytes(out))


def leaves(obj, trail=()):
    """Every (trail, value) of a decoded object whose value can be altered: arrays, bytes and ints."""
    if isinstance(obj, np.ndarray):
        if obj.size:
            yield trail, obj
    elif isinstance(obj, (bytes, int)) and not isinstance(obj, bool):
        yield trail, obj
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from leaves(item, (*trail, i))
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from leaves(getattr(obj, f.name), (*trail, f.name))


def altered(value):
    """The same value changed minimally: first field element +1, first byte flipped, int +1."""
    if isinstance(value, np.ndarray):
        out = value.copy()
        flat = out.reshape(-1)
        flat[0] = (int(flat[0]) + 1) % F.P
        return out
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:] if value else b"\x00"
    return value + 1


def replace(obj, trail, new):
    """A deep copy of obj with the value at ``trail`` replaced."""
    obj = copy.deepcopy(obj)
    parent = obj
    for key in trail[:-1]:
        parent = parent[key] if isinstance(key, int) else getattr(parent, key)
    last = trail[-1]
    if isinstance(last, int):
        parent[last] = new
    else:
        setattr(parent, last, new)
    return obj


def rewrite_header(source: Path, target: Path, edit) -> None:
    """Copy a proof with ``edit(header)`` applied to its JSON header, written canonically (as the prover
    writes it), so a test reaches the checks on the header's values rather than the canonical-form check."""
    data = source.read_bytes()
    head_len = struct.unpack("<I", data[10:14])[0]
    header = json.loads(data[14 : 14 + head_len])
    edit(header)
    head = json.dumps(header, sort_keys=True).encode()
    target.write_bytes(data[:10] + struct.pack("<I", len(head)) + head + data[14 + head_len :])
