"""The proof file as hostile input: one encoding per value, canonical headers, section sizes bounded before
they are read, a structure-aware fuzz of parser, header checks and verifier (no traceback, no acceptance);
and as output: a proof replaces the file at its path only when complete."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import fill, small_mlp, small_tmpfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proofedit import leaves, read_sections, replace, rewrite_header, write_sections

from edgeprove import field as F
from edgeprove import prover, verifier
from edgeprove.proof import (
    FORMAT_VERSION,
    SECTION_END,
    SECTION_INPUT,
    SECTION_LAYER,
    SECTION_OPENING,
    ProofFormatError,
    ProofReader,
    ProofWriter,
    decode,
    encode,
)

MODEL = small_mlp(12, (3, 2), "relu")
FUZZ = settings(
    max_examples=700, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)


@pytest.fixture(scope="module")
def proof_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("proof") / "mlp.proof"
    prover.prove(MODEL, np.random.default_rng(5).integers(-128, 128, MODEL.input_shape), path)
    assert verifier.verify(path, MODEL).accepted
    return path


def _verdict(path: Path):
    """The verifier's verdict, which must be a verdict (any exception fails the test)."""
    verdict = verifier.verify(path, MODEL)
    assert isinstance(verdict.reason, str) and verdict.reason
    return verdict


def test_a_value_has_one_encoding(tmp_path, proof_path):
    """An extension element sent as a list of integers v + p (which would be absorbed truncated and
    checked reduced) is refused when the section is parsed."""
    prefix, sections = read_sections(proof_path)
    index = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER)
    value = sections[index][1].linear.input_value
    sections[index] = (
        SECTION_LAYER,
        replace(sections[index][1], ("linear", "input_value"), [int(v) + F.P for v in value]),
    )
    write_sections(tmp_path / "p", prefix, sections)
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and "LinearProof.input_value is not of its declared type" in verdict.reason


def test_every_array_has_one_shape(tmp_path, proof_path):
    """Every array of every section, its values kept but given another shape of the same size (a leading
    axis, or the extension axis split), is refused: an element has one encoding."""
    prefix, sections = read_sections(proof_path)
    checked = 0
    for index, (kind, obj) in enumerate(sections):
        for trail, value in leaves(obj):
            if not isinstance(value, np.ndarray):
                continue
            for shape in {(1, *value.shape), (*value.shape[:-1], 2, value.shape[-1] // 2)}:
                if math.prod(shape) != value.size:
                    continue
                edited = list(sections)
                edited[index] = (kind, replace(obj, trail, value.reshape(shape)))
                write_sections(tmp_path / "p", prefix, edited)
                verdict = _verdict(tmp_path / "p")
                assert not verdict.accepted, f"section {index} {trail} reshaped to {shape} but accepted"
                checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    "payload",
    [[None], [0], b"X" * 40, [[]]],
    ids=["none", "integer", "bytes", "nested-list"],
)
def test_the_end_section_carries_nothing(tmp_path, proof_path, payload):
    """An end section that decodes but is not the empty list (bytes smuggled inside an accepted proof) is
    refused."""
    data = proof_path.read_bytes()
    honest_end = struct.pack("<BQ", SECTION_END, len(encode([]))) + encode([])
    assert data.endswith(honest_end)
    body = encode(payload)
    (tmp_path / "p").write_bytes(data[: -len(honest_end)] + struct.pack("<BQ", SECTION_END, len(body)) + body)
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and "end section is not empty" in verdict.reason, verdict.reason


def test_a_failed_read_is_a_format_error():
    """A file the kernel refuses to read (here the process's own memory, at an unmapped address) is a one
    line error naming the file, not a crash."""
    with pytest.raises(ProofFormatError, match="cannot read /proc/self/mem"):
        ProofReader("/proc/self/mem")


@pytest.mark.parametrize(
    "value",
    [b"\x01", "7", None, [7], np.array([7], dtype=np.uint64)],
    ids=["bytes", "str", "none", "list", "array"],
)
def test_an_integer_field_takes_only_an_integer(value):
    from edgeprove.protocol import CommitSection

    payload = encode(CommitSection(b"\x00" * 32, 3)).replace(b"I" + struct.pack("<q", 3), _raw(value))
    with pytest.raises(ProofFormatError, match="act_bits is not of its declared type"):
        decode(payload)


def test_a_header_must_be_canonical(tmp_path, proof_path):
    data = proof_path.read_bytes()
    spaced = data.replace(b'"layers": 2', b'"layers":  2')
    head_len = struct.unpack("<I", data[10:14])[0]
    spaced = spaced[:10] + struct.pack("<I", head_len + 1) + spaced[14:]
    (tmp_path / "p").write_bytes(spaced)
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and "canonical" in verdict.reason


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h.update(model="x" * 5000), "model name"),
        (lambda h: h.update(model="lenet5\x1b[2J"), "model name"),
        (lambda h: h.update(model="lenet5\u2028accepted (lenet5)\u202e"), "model name"),
        (lambda h: h.update(digest="ab" * 40), "digest"),
        (lambda h: h.update(layers=True), "layer count"),
        (lambda h: h.update(input_shape=[3, -1]), "input_shape"),
        (lambda h: h.update(output_shape=[[1]]), "output_shape"),
        (lambda h: h.update(input_mode=["public"]), "input mode"),
        (lambda h: h.update(schedule=None), "schedule"),
        (lambda h: h.update(security_bits="100"), "security_bits"),
        (lambda h: h.update(security_bits=100), "security_bits is not a decimal number"),
        (lambda h: h.update(extra=1), "unexpected ['extra']"),
        (lambda h: h.pop("ligero"), "missing ['ligero']"),
        (lambda h: h.update(protocol="edgeprove/v0"), "protocol"),
    ],
)
def test_every_header_field_is_checked(tmp_path, proof_path, edit, reason):
    rewrite_header(proof_path, tmp_path / "p", edit)
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and reason in verdict.reason, verdict.reason
    with pytest.raises(ProofFormatError, match="bad header"):
        verifier.read_header(tmp_path / "p")


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h.update(model="another_model"), "proof names model 'another_model', not 'small_mlp'"),
        (
            lambda h: h.update(security_bits=128.0),
            "header claims 128.0 bits of security; its parameters give",
        ),
    ],
)
def test_well_formed_header_fields_must_match_the_model(tmp_path, proof_path, edit, reason):
    """A header that parses but relabels the model or overstates its security is rejected."""
    rewrite_header(proof_path, tmp_path / "p", edit)
    verifier.read_header(tmp_path / "p")  # well-formed on its own
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and reason in verdict.reason, verdict.reason


def test_a_deeply_nested_header_is_a_rejection(tmp_path, proof_path):
    head = b"[" * 100_000 + b"]" * 100_000
    (tmp_path / "p").write_bytes(b"EDGEPRV1" + struct.pack("<HI", FORMAT_VERSION, len(head)) + head)
    with pytest.raises(ProofFormatError, match="header"):
        ProofReader(tmp_path / "p")


def test_a_section_longer_than_the_model_allows_is_refused_unread(tmp_path, proof_path):
    """A layer section claiming 1 TiB is refused by its declared length, before a byte of it is read."""
    prefix, sections = read_sections(proof_path)
    out = bytearray(prefix)
    for kind, obj in sections:
        if kind == SECTION_LAYER:
            out += struct.pack("<BQ", kind, 1 << 40)
            break
        payload = encode(obj)
        out += struct.pack("<BQ", kind, len(payload)) + payload
    (tmp_path / "p").write_bytes(bytes(out))
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and "layer section of 1,099,511,627,776 bytes is over" in verdict.reason


def test_an_opening_padded_past_its_ceiling_is_refused(tmp_path, proof_path):
    prefix, sections = read_sections(proof_path)
    index = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_OPENING)
    opening = sections[index][1]
    sections[index] = (SECTION_OPENING, replace(opening, ("paths",), opening.paths + bytes(1 << 20)))
    write_sections(tmp_path / "p", prefix, sections)
    verdict = _verdict(tmp_path / "p")
    assert not verdict.accepted and "opening section" in verdict.reason and "is over" in verdict.reason


# ------------------------------------------------------------------------------------------- writing
def test_close_moves_the_complete_proof_into_place(tmp_path: Path) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    writer = ProofWriter(target, {"model": "m"})
    writer.section(SECTION_INPUT, [1, 2, 3])
    assert target.read_bytes() == b"old proof"
    writer.close()
    assert ProofReader(target).header == {"model": "m"}
    assert os.listdir(tmp_path) == ["p.proof"]


def test_abort_keeps_the_old_file_and_removes_the_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    writer = ProofWriter(target, {"model": "m"})
    writer.section(SECTION_INPUT, [1, 2, 3])
    writer.abort()
    assert target.read_bytes() == b"old proof" and os.listdir(tmp_path) == ["p.proof"]


def test_an_interrupted_prover_keeps_the_old_proof(tmp_path: Path, cnn) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")

    def interrupt(index: int, name: str) -> None:
        if index == 2:
            raise KeyboardInterrupt

    x = np.zeros(cnn.input_shape, dtype=np.int64)
    with pytest.raises(KeyboardInterrupt):
        prover.prove(cnn, x, target, on_layer=interrupt)
    assert target.read_bytes() == b"old proof" and os.listdir(tmp_path) == ["p.proof"]


def test_a_full_disk_keeps_the_old_proof(cnn) -> None:
    with small_tmpfs("256k") as disk:
        target = disk / "p.proof"
        target.write_bytes(b"old proof")
        fill(disk)
        with pytest.raises(OSError, match="No space left"):
            prover.prove(cnn, np.zeros(cnn.input_shape, dtype=np.int64), target)
        assert target.read_bytes() == b"old proof"
        assert sorted(os.listdir(disk)) == ["filler", "filler.tail", "p.proof"]


# --------------------------------------------------------------------------------------------- fuzzing
def _raw(value) -> bytes:
    """Encode like the prover's encoder but without its checks: strings, arrays of any u32 (>= p too)."""
    if isinstance(value, np.ndarray):
        shape = value.shape
        return b"A" + struct.pack(f"<B{len(shape)}I", len(shape), *shape) + value.astype("<u4").tobytes()
    if isinstance(value, str):
        data = value.encode()
        return b"S" + struct.pack("<I", len(data)) + data
    if isinstance(value, list):
        return b"L" + struct.pack("<I", len(value)) + b"".join(_raw(v) for v in value)
    return encode(value)


hostile_values = st.recursive(
    st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.binary(max_size=40),
        st.text(max_size=10),
        st.lists(st.integers(0, 2**32 - 1), max_size=16).map(lambda v: np.array(v, dtype=np.uint64)),
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2**32 - 1)).map(
            lambda t: np.full((t[0], t[1]), t[2], dtype=np.uint64)
        ),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


def _with_raw_leaf(obj, trail, value) -> bytes:
    """The section payload with the leaf at ``trail`` replaced by the raw encoding of ``value``."""
    marker = np.array([0xDEAD], dtype=np.uint64)
    return encode(replace(obj, trail, marker)).replace(encode(marker), _raw(value), 1)


@FUZZ
@given(data=st.data())
def test_fuzz_sections(tmp_path_factory, proof_path, data):
    """Any leaf of any section replaced by any value, well-typed or not: a rejection, never an exception."""
    prefix, sections = read_sections(proof_path)
    index = data.draw(st.integers(0, len(sections) - 1))
    kind, obj = sections[index]
    spots = list(leaves(obj))
    if not spots:
        return
    trail, _ = spots[data.draw(st.integers(0, len(spots) - 1))]
    payload = _with_raw_leaf(obj, trail, data.draw(hostile_values))
    if payload == encode(obj):
        return  # the drawn value is the one already there: the proof is unchanged
    out = bytearray(prefix)
    for i, (k, o) in enumerate(sections):
        body = payload if i == index else encode(o)
        out += struct.pack("<BQ", k, len(body)) + body
    target = tmp_path_factory.mktemp("fuzz") / "p"
    target.write_bytes(bytes(out))
    assert not _verdict(target).accepted


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@FUZZ
@given(data=st.data())
def test_fuzz_header(tmp_path_factory, proof_path, data):
    """Any header key dropped, added or given any JSON value: a rejection with a reason, no exception."""
    key = data.draw(st.sampled_from([*json.loads(_header_bytes(proof_path)), "ligero.queries", "other"]))
    value = data.draw(json_values)
    drop = data.draw(st.booleans())

    def edit(header: dict) -> None:
        if key == "ligero.queries":
            header["ligero"]["queries"] = value
        elif drop:
            header.pop(key, None)
        else:
            header[key] = value

    target = tmp_path_factory.mktemp("fuzz") / "p"
    rewrite_header(proof_path, target, edit)
    verdict = _verdict(target)
    original, edited = json.loads(_header_bytes(proof_path)), json.loads(_header_bytes(target))
    for header in (original, edited):  # informational: both schedules write the same sections
        header.pop("schedule", None)
    assert not verdict.accepted or edited == original


@FUZZ
@given(data=st.data())
def test_fuzz_bytes(tmp_path_factory, proof_path, data):
    """Bytes flipped, inserted, removed or cut anywhere in the file: never an exception or an acceptance."""
    raw = bytearray(proof_path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=9))
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 9))]
        else:
            del raw[at:]
    target = tmp_path_factory.mktemp("fuzz") / "p"
    target.write_bytes(bytes(raw))
    assert not _verdict(target).accepted or bytes(raw) == proof_path.read_bytes()


def _header_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return data[14 : 14 + struct.unpack("<I", data[10:14])[0]]
