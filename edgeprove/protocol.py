"""What prover and verifier share: the statement header, transcript start, proof sections and the
schedule of openings (which commitment is opened after which layer).

Fiat-Shamir order (one transcript): protocol id, parameters, model digest and the public input; then for
each layer k: its commitment (root and table width), the public output if k is the last layer, layer k's
challenges and proofs; after layer k every commitment whose last consumer is k is opened once, at all
points collected for it.  A zero-knowledge proof commits runs of consecutive layers together
(``hidden_groups``): a group's root comes at its first member, and it is opened once after the last
reader of any member.  The output is bound before the last layer's challenges, so a streaming prover
needs no second pass.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import layers, poly
from edgeprove.claims import INPUT, Claim
from edgeprove.commit import DEFAULT_SCHEME, HIDING_SCHEME, SCHEMES, CommitmentScheme
from edgeprove.commit.ligero import MAX_NUM_VARS
from edgeprove.commit.zk_ligero import ZkLigeroParams, ZkOpeningProof
from edgeprove.layers import committed_input
from edgeprove.layers.common import Layout
from edgeprove.layers.kind import read_count
from edgeprove.model.bounds import LayerBounds, check_model
from edgeprove.model.ir import MAX_NAME_CHARS, NAME_PATTERN, Model, ModelError
from edgeprove.model.tiling import Tiles, check_tiles
from edgeprove.proof import register
from edgeprove.transcript import Transcript
from edgeprove.zk import LinearConstraint, PadLedger, PadPlan, ZkError

PROTOCOL = "edgeprove/v1"


@register
@dataclass
class CommitSection:
    """A layer's commitment root and the width b of its activation table."""

    root: bytes
    act_bits: int


@register
@dataclass
class HiddenOpening:
    """A hidden proof's opening of one commitment: the lines of its product checks (``zk``), then the
    hiding opening of every constraint owed to it (``zk_ligero.open_constraints``)."""

    lines: np.ndarray
    opening: ZkOpeningProof


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
    "zero_knowledge",
)
"""The header's keys besides the commitment scheme's parameters (under the scheme's header key)."""
BOUND_KEYS = ("protocol", "digest", "input_mode", "input_shape", "output_shape", "tiles", "zero_knowledge")
"""The header fields the transcript binds, with the commitment parameters (the model name is only
displayed, the schedule is not part of the statement, and the rest follows from these).  ``tiles`` names
the tiling (``model.tiling``): which layers are proven a block of channels at a time; ``zero_knowledge``
whether every value the proof sends is hidden (design.md section 10), which only a committed input has."""
_DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_SHAPE_RANK = 4


def scheme_keys(header: dict, scheme: CommitmentScheme) -> tuple[str, ...]:
    """The header keys of the commitment parameters: the layers' scheme, and with a committed input the
    hiding scheme its commitment uses; a zero-knowledge proof commits everything with the hiding one."""
    if header.get("zero_knowledge") is True:
        return (HIDING_SCHEME.header_key,)
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
    if type(header["zero_knowledge"]) is not bool:
        raise ValueError("zero_knowledge is not true or false")
    if header["zero_knowledge"] and header["input_mode"] != "committed":
        raise ValueError("a zero-knowledge proof needs a committed input")
    for key in scheme_keys(header, scheme):
        (scheme if key == scheme.header_key else HIDING_SCHEME).params_from_header(header[key])


COMMIT_SECTION_BYTES = 256
"""Ceiling of a commitment section (a 32-byte root and a table width)."""
LAYER_SECTION_BYTES = 1 << 20
"""Ceiling of one layer's proof section.  Its size is set by the model (sumcheck rounds of at most 32
variables, GKR trees of at most 32 levels, a few extension elements each): tens of KiB when honest."""
END_SECTION_BYTES = 64


def lines_bytes(factors: int) -> int:
    """Ceiling of a hidden opening's product lines beside its opening: 16 bytes each and the framing."""
    return 256 + 16 * factors


INPUT_PRIVACY = {
    "public": "input public (in the proof)",
    "private": "input private (zero-knowledge: nothing about it is revealed beyond the output)",
    "committed": "input committed, not private (the proof is not zero-knowledge)",
}
"""What a verified proof says about its input, by ``input_privacy``."""


def input_privacy(header: dict) -> str:
    """ "public", "private" (a committed input in a zero-knowledge proof) or "committed" (a committed input in
    a proof that is not zero-knowledge: never called private)."""
    if header.get("input_mode") != "committed":
        return "public"
    return "private" if header.get("zero_knowledge") is True else "committed"


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
    zero_knowledge: bool = False,
) -> dict:
    """The proof file's JSON header: what is being proven and with which commitment parameters (with a
    committed input, ``input_params`` of the hiding scheme its commitment uses), the tiling the proof
    follows (``model`` is the model as given, before tiling) and whether it is zero-knowledge."""
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
        "zero_knowledge": zero_knowledge,
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


def commitment_layout(model: Model, t: int, table_bits: int, plan: PadPlan | None = None) -> Layout:
    """How tensor t's committed vector is laid out: the private input's, or its layer kind's (empty for a
    kind that commits nothing), with a hidden proof's pads (``plan``) after them."""
    if t == INPUT:
        base = committed_input.layout(model.input_shape)
    else:
        layer = model.layers[t]
        kind = layers.kind_of(layer)
        base = kind.layout(layer, table_bits) if kind.commits(layer) else Layout(())
    if plan is None:
        return base
    return base.with_tail(PADS, poly.num_vars(poly.next_pow2(F.EXT_DEGREE * plan.size)))


PADS = "pads"
"""The segment of a hidden proof's pads in every committed vector."""


def hidden_plan(model: Model, t: int, table_bits: int) -> PadPlan:
    """Tensor t's pads in a hidden proof: what its own proof sends (the input's range lookup, or its
    layer's kind's plan), then the mask coefficients of its randomized evaluations, one per read."""
    if t == INPUT:
        own = committed_input.hidden_plan(model.input_shape)
    else:
        own = layers.kind_of(model.layers[t]).pad_plan(model, t, table_bits)
    return own.then(PadPlan(masks=read_count(model, t)))


def check_hideable(model: Model) -> None:
    """Refuse, with one line (ModelError), a model a zero-knowledge proof cannot cover: a tensor of one
    value that a layer reads (a read is hidden by terms that vanish on the cube, which has no variable)."""
    for t in range(INPUT, len(model.layers)):
        try:
            hidden_plan(model, t, 0)
        except ZkError as exc:
            name = "the input" if t == INPUT else f"layer {model.layers[t].name}"
            raise ModelError(
                f"{name}: {exc}; --no-zero-knowledge proves with the input committed but not private"
            ) from None


def owe_constraints(
    ledger: PadLedger, claims: list, layout: Layout, tau: np.ndarray, lines: np.ndarray
) -> list[np.ndarray]:
    """Close a hidden commitment's ledger for its opening: the product checks for tau and the sent lines,
    then every claim owed to it as a constraint (its MLE at the claim's point, less the claim's hidden
    value); returns the claims' points on the whole vector, in order."""
    ledger.check_lines(tau, lines)
    ledger.finish()
    for j, claim in enumerate(claims):
        ledger.claim(j, claim.value, f"{claim.segment} claim")
    return [layout.point(claim.segment, claim.point) for claim in claims]


@dataclass(frozen=True)
class HiddenGroup:
    """Tensors committed together in a hidden proof: their pads (``hidden_plan``) and vectors
    (``commitment_layout``, pads included) in aligned segments of one vector (``layout``, one segment per
    member named by ``member_key``), which ends at ``length`` (the last member's committed length)."""

    members: tuple[int, ...]
    plans: tuple[PadPlan, ...]
    layouts: tuple[Layout, ...]
    layout: Layout
    length: int

    @property
    def first(self) -> int:
        """The member whose turn commits the group (the commitment precedes every member's proof)."""
        return self.members[0]

    def layout_of(self, t: int) -> Layout:
        """Member t's own vector's layout."""
        return self.layouts[self.members.index(t)]

    def offset(self, t: int) -> int:
        """Where member t's vector starts in the group's."""
        return self.layout.offsets()[member_key(t)]

    def place(self, vector: np.ndarray, t: int, member: np.ndarray) -> None:
        """Write member t's hidden vector into the group's ``vector`` (``length`` entries)."""
        offset = self.offset(t)
        vector[offset : offset + member.size] = member


def zk_params(group_bits: int | None, zero_knowledge: bool) -> ZkLigeroParams | None:
    """A zero-knowledge proof's commitment parameters with its layers sharing hiding commitments of up to
    2^``group_bits`` entries (``--zk-group-bits``); None when no size is given (the default).  ValueError,
    in the option's words, for a size out of range or given to a proof that is not zero-knowledge."""
    if group_bits is None:
        return None
    if not zero_knowledge:
        raise ValueError(
            "--zk-group-bits sets a zero-knowledge proof's groups: it needs --private-input (without "
            "--no-zero-knowledge)"
        )
    if not 0 <= group_bits <= MAX_NUM_VARS:
        raise ValueError(f"--zk-group-bits must be in [0, {MAX_NUM_VARS}], got {group_bits}")
    return ZkLigeroParams(group_vars=group_bits)


def member_key(t: int) -> str:
    """The segment name of tensor t in its group's layout."""
    return f"t{t}"


def hidden_table_bits(model: Model, static: list[LayerBounds] | None = None) -> tuple[int, ...]:
    """Every layer's table width in a hidden proof: its kind's width for the model's static bound on q
    (``static``, the model's ``check_model`` when given), never the data's (ModelError for a model the
    bounds refuse)."""
    static = check_model(model) if static is None else static
    return tuple(
        layers.kind_of(layer).static_table_bits(layer, s.q_bits) for layer, s in zip(model.layers, static)
    )


def hidden_groups(model: Model, table_bits: tuple[int, ...], group_vars: int) -> list[HiddenGroup]:
    """A hidden proof's commitments, in the order they are made (design.md section 10.2.1): the private
    input alone (its root starts the transcript), then runs of consecutive layers (their table widths
    ``table_bits``, the model's) while their vectors' segments fit in 2^group_vars entries; a larger
    vector is a group of its own."""
    members: list[tuple[int, PadPlan, Layout, int]] = []
    for t, bits in [(INPUT, committed_input.RANGE_BITS), *enumerate(table_bits)]:
        plan = hidden_plan(model, t, bits)
        lay = commitment_layout(model, t, bits, plan)
        members.append((t, plan, lay, committed_length(lay, plan)))
    groups, current = [], []
    for member in members:
        span = sum(1 << lay.num_vars for _, _, lay, _ in current) + (1 << member[2].num_vars)
        if current and (current[0][0] == INPUT or span > 1 << group_vars):
            groups.append(_group(current))
            current = []
        current.append(member)
    return [*groups, _group(current)] if current else groups


def _group(members: list[tuple[int, PadPlan, Layout, int]]) -> HiddenGroup:
    """Members (tensor, pads, layout, committed length) placed in one vector, largest first."""
    layout = Layout.of({member_key(t): lay.num_vars for t, _, lay, _ in members})
    offsets = layout.offsets()
    length = max(offsets[member_key(t)] + used for t, _, _, used in members)
    tensors, plans, layouts, _ = zip(*members)
    return HiddenGroup(tensors, plans, layouts, layout, length)


def opening_turns(model: Model, groups: list[HiddenGroup] | None = None) -> dict[int, int]:
    """After which layer each tensor's commitment is opened (``last_uses``); in a hidden proof a group's
    members all wait for the last of them."""
    turns = last_uses(model)
    for group in groups or ():
        turn = max(turns[t] for t in group.members)
        turns.update(dict.fromkeys(group.members, turn))
    return turns


def group_constraints(
    group: HiddenGroup,
    ledgers: list[PadLedger],
    claims: list[list[Claim]],
    tau: np.ndarray,
    lines: np.ndarray,
) -> tuple[list[np.ndarray], list[LinearConstraint]]:
    """Close every member's ledger for the group's one opening (``owe_constraints``, each with its share
    of the sent ``lines``) and return the points on the group's vector and the constraints, each pad moved
    to its entry in that vector (pad offset 0) and each claim to its place in the points."""
    counts = [len(ledger.plan.factors) for ledger in ledgers]
    if lines.shape != (F.EXT_DEGREE, sum(counts)):
        raise ZkError(f"expected {sum(counts)} product lines, got shape {lines.shape}")
    points, constraints, start = [], [], 0
    for t, lay, ledger, owed, count in zip(
        group.members, group.layouts, ledgers, claims, counts, strict=True
    ):
        own = owe_constraints(ledger, owed, lay, tau, lines[:, start : start + count])
        start += count
        pad_base = (group.offset(t) + lay.offsets()[PADS]) // F.EXT_DEGREE
        constraints += [c.moved(pad_base, len(points)) for c in ledger.constraints]
        points += [group.layout.point(member_key(t), z) for z in own]
    return points, constraints


def committed_length(layout: Layout, plan: PadPlan | None = None) -> int:
    """Where a committed vector ends (its length, zero-padded to a power of two when committed): its
    layout's whole span, or in a hidden proof its last pad entry (a hiding tableau leaves out the rows
    after it)."""
    if plan is None:
        return 1 << layout.num_vars
    return layout.offsets()[PADS] + F.EXT_DEGREE * plan.size


def hidden_vector(vector: np.ndarray | None, layout: Layout, pads: np.ndarray) -> np.ndarray:
    """The committed vector of a hidden proof, up to its last pad (``committed_length``): the kind's vector
    (``None``: nothing) with the pads in their tail segment, in place when the vector has room for them."""
    if vector is None or vector.size != 1 << layout.num_vars:
        grown = layout.zeros()
        if vector is not None:
            grown[: vector.size] = vector
        vector = grown
    segment = layout.views(vector)[PADS]
    segment[: pads.size] = pads
    return vector[: layout.offsets()[PADS] + pads.size]


def layer_label(k: int) -> str:
    """Transcript label prefix of layer k's messages."""
    return f"layer{k}"


def opening_label(k: int) -> str:
    """Transcript label prefix of tensor k's opening."""
    return f"open{k}"
