"""What prover and verifier share: the statement header, transcript start, proof sections and the
schedule of openings (which commitment is opened after which layer).

Fiat-Shamir order (one transcript): protocol id, parameters, model digest and the public input; then for
each layer k: its commitment (root and table width), the public output if k is the last layer, layer k's
challenges and proofs; after layer k every commitment whose last consumer is k is opened once, at all
points collected for it.  The output is bound before the last layer's challenges, so a streaming prover
needs no second pass.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import layers
from edgeprove.claims import INPUT
from edgeprove.commit import DEFAULT_SCHEME, HIDING_SCHEME, SCHEMES, CommitmentScheme
from edgeprove.layers import committed_input
from edgeprove.layers.common import Layout
from edgeprove.model.ir import MAX_NAME_CHARS, NAME_PATTERN, Model
from edgeprove.model.tiling import Tiles, check_tiles
from edgeprove.proof import register
from edgeprove.transcript import Transcript

PROTOCOL = "edgeprove/v1"


@register
@dataclass
class CommitSection:
    """A layer's commitment root and the width b of its activation table."""

    root: bytes
    act_bits: int


@register
@dataclass
class TensorSection:
    """A public tensor (the model input or the claimed output) as signed integers mod p."""

    shape: list[int]
    values: np.ndarray


def _register_dependencies() -> None:
    """Every layer kind's proof types and every scheme's opening proof may appear in sections."""
    for kind in layers.KINDS.values():
        for cls in kind.proof_types:
            register(cls)
    for scheme in SCHEMES.values():
        register(scheme.opening_type)


_register_dependencies()


def _is_int(value: object) -> bool:
    return type(value) is int


SCHEDULES = ("streaming", "baseline")
"""How the prover orders its work; both write the same proof bytes, so the schedule is not bound."""

HEADER_KEYS = (
    "digest",
    "input_mode",
    "input_shape",
    "layers",
    "model",
    "output_shape",
    "protocol",
    "schedule",
    "security_bits",
    "tiles",
)
"""The header's keys besides the commitment scheme's parameters (under the scheme's header key)."""
BOUND_KEYS = ("protocol", "digest", "input_mode", "input_shape", "output_shape", "tiles")
"""The header fields the transcript binds, with the commitment parameters (the model name is only
displayed, the schedule is not part of the statement, and the rest follows from these).  ``tiles`` names
the tiling (``model.tiling``): which layers are proven a block of channels at a time."""
_DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_SHAPE_RANK = 4


def scheme_keys(header: dict, scheme: CommitmentScheme) -> tuple[str, ...]:
    """The header keys of the commitment parameters: the layers' scheme, and with a committed input the
    hiding scheme its commitment uses."""
    if header.get("input_mode") == "committed" and HIDING_SCHEME.header_key != scheme.header_key:
        return (scheme.header_key, HIDING_SCHEME.header_key)
    return (scheme.header_key,)


def tensor_scheme(t: int, scheme: CommitmentScheme) -> CommitmentScheme:
    """The scheme tensor t is committed with: the hiding one for the private input, else the proof's."""
    return HIDING_SCHEME if t == INPUT else scheme


def security_bits(scheme: CommitmentScheme, params, input_params=None) -> float:
    """The proof's security figure: the least over its commitment schemes (the input's when committed)."""
    bits = scheme.security_bits(params)
    return bits if input_params is None else min(bits, HIDING_SCHEME.security_bits(input_params))


def check_header(header: dict, scheme: CommitmentScheme = DEFAULT_SCHEME) -> None:
    """Check every header field's type and range before anything uses it (ValueError with one line)."""
    keys = (*HEADER_KEYS, *scheme_keys(header, scheme))
    if sorted(header) != sorted(keys):
        missing, extra = set(keys) - set(header), set(header) - set(keys)
        raise ValueError(f"header keys differ (missing {sorted(missing)}, unexpected {sorted(extra)[:4]})")
    if header["protocol"] != PROTOCOL:
        raise ValueError(f"unsupported protocol {str(header['protocol'])[:40]!r}")
    name = header["model"]
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"model name is not 1-{MAX_NAME_CHARS} characters of A-Z a-z 0-9 _ . - (as models are)"
        )
    if not isinstance(header["digest"], str) or not _DIGEST.fullmatch(header["digest"]):
        raise ValueError("model digest is not 64 lowercase hex digits")
    if header["input_mode"] not in INPUT_MODES:
        raise ValueError(f"input mode is not one of {INPUT_MODES}")
    for key in ("input_shape", "output_shape"):
        shape = header[key]
        if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_SHAPE_RANK:
            raise ValueError(f"{key} is not a list of 1 to {MAX_SHAPE_RANK} sizes")
        if not all(_is_int(v) and 1 <= v < 1 << 31 for v in shape):
            raise ValueError(f"{key} holds a size that is not a positive integer")
    if not _is_int(header["layers"]) or header["layers"] < 1:
        raise ValueError("layer count is not a positive integer")
    if type(header["security_bits"]) is not float:  # written as the writer writes it: 101.0, never 101
        raise ValueError("security_bits is not a decimal number")
    if header["schedule"] not in SCHEDULES:
        raise ValueError(f"schedule is not one of {SCHEDULES}")
    check_tiles(header["tiles"])
    for key in scheme_keys(header, scheme):
        (scheme if key == scheme.header_key else HIDING_SCHEME).params_from_header(header[key])


COMMIT_SECTION_BYTES = 256
"""Ceiling of a commitment section (a 32-byte root and a table width)."""
LAYER_SECTION_BYTES = 1 << 20
"""Ceiling of one layer's proof section.  Its size is set by the model (sumcheck rounds of at most 32
variables, GKR trees of at most 32 levels, a few extension elements each): tens of KiB when honest."""
END_SECTION_BYTES = 64


def tensor_section_bytes(shape) -> int:
    """Ceiling of a public tensor section of this shape: 4 bytes a value plus the framing."""
    return 256 + 4 * int(np.prod(shape, dtype=np.int64))


INPUT_MODES = ("public", "committed")


def statement_header(
    model: Model,
    params,
    schedule: str,
    input_shape,
    input_mode: str = "public",
    scheme: CommitmentScheme = DEFAULT_SCHEME,
    input_params=None,
    tiles: Tiles = (),
) -> dict:
    """The proof file's JSON header: what is being proven and with which commitment parameters (with a
    committed input, ``input_params`` of the hiding scheme its commitment uses), and the tiling the proof
    follows (``model`` is the model as given, before tiling)."""
    hiding = {HIDING_SCHEME.header_key: HIDING_SCHEME.params_header(input_params)} if input_params else {}
    return {
        "protocol": PROTOCOL,
        "model": model.name,
        "digest": model.digest,
        "input_mode": input_mode,
        "input_shape": list(input_shape),
        "output_shape": list(model.layers[-1].out_shape),
        scheme.header_key: scheme.params_header(params),
        **hiding,
        "security_bits": round(security_bits(scheme, params, input_params), 1),
        "schedule": schedule,
        "layers": len(model.layers),
        "tiles": [list(pair) for pair in tiles],
    }


def start_transcript(
    header: dict, input_binding: TensorSection | bytes, scheme: CommitmentScheme = DEFAULT_SCHEME
) -> Transcript:
    """Bind protocol, parameters, model digest and the input: its values when public, its commitment root
    when committed (the schedule is not part of the statement)."""
    t = Transcript(PROTOCOL.encode())
    bound = {k: header[k] for k in (*BOUND_KEYS, *scheme_keys(header, scheme))}
    t.absorb_bytes("statement", json.dumps(bound, sort_keys=True).encode())
    if isinstance(input_binding, bytes):
        t.absorb_bytes("input/root", input_binding)
    else:
        t.absorb_base("input", input_binding.values)
    return t


def tensor_section(values: np.ndarray) -> TensorSection:
    """A public integer tensor for the proof file."""
    arr = np.asarray(values, dtype=np.int64)
    return TensorSection(list(arr.shape), F.encode_signed(arr.ravel()))


def last_uses(model: Model) -> dict[int, int]:
    """For each tensor (INPUT and every layer), the index of the last layer that reads it; len(layers) for
    the output, whose commitment is opened at the end."""
    n = len(model.layers)
    last = {INPUT: 0, **{k: k for k in range(n)}}  # an unread tensor is opened right after its own layer
    for j, layer in enumerate(model.layers):
        for src in layer.reads:
            last[src] = max(last[src], j)
    last[n - 1] = n
    return last


def openings_after(last_use: dict[int, int], open_tensors, k: int, n: int) -> list[int]:
    """Tensors whose commitment is opened after layer k (in order): last read by k, or all at the end."""
    return sorted(t for t in open_tensors if last_use[t] == k or (k == n - 1 and last_use[t] == n))


def commitment_layout(model: Model, t: int, table_bits: int) -> Layout:
    """How tensor t's committed vector is laid out: the private input's, or its layer kind's."""
    if t == INPUT:
        return committed_input.layout(model.input_shape)
    layer = model.layers[t]
    return layers.kind_of(layer).layout(layer, table_bits)


def layer_label(k: int) -> str:
    """Transcript label prefix of layer k's messages."""
    return f"layer{k}"


def opening_label(k: int) -> str:
    """Transcript label prefix of tensor k's opening."""
    return f"open{k}"
