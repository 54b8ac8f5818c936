"""Requantization with ReLU, clamp or sigmoid: a -> (q, r, y) with a + 2^(s-1) = 2^s q + r, r in [0, 2^s),
y = act(q) (clamp(q, lo, act_max), or ``model.sigmoid``), proven by an identity at a random point plus two
LogUp-GKR lookups (one batch).

The prover commits W = (q, r, y, m_act, m_rem) in one vector (aligned segments, see ``Layout``).  At a
random z the verifier derives a~(z) = 2^s q~(z) + r~(z) - 2^(s-1) V(z) from two openings; that claim is
what the linear map must then prove.  Lookups show (q_i, y_i) in {(v, act(v))} for v in
[-2^(b-1), 2^(b-1)) and r_i in [0, 2^s) at every valid position.  The table width b is the prover's
choice (the smallest that covers its q), bound in the commitment section; the verifier only requires
b + s <= 30, so 2^s q + r cannot wrap the field and (q, r) is unique for every accumulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import lookup
from edgeprove.claims import Claim
from edgeprove.layers.common import Grid, Layout, mask_eval
from edgeprove.model import ops
from edgeprove.model.ir import ACTIVATION_RANGE
from edgeprove.zk import PadPlan

MAX_SPLIT_BITS = 30
"""b + s may not exceed this: |2^s q + r| < 2^(b+s-1) <= 2^29 < (p-1)/2."""


def act_lo(activation: str) -> int:
    """Lowest output: 0 after ReLU and sigmoid, -128 otherwise."""
    return ACTIVATION_RANGE.get(activation, ACTIVATION_RANGE["clamp"])[0]


def _act(layer) -> Callable[[np.ndarray], np.ndarray]:
    """The layer's activation as a map of int64 arrays (the table's second column)."""
    return lambda values: ops.activate(layer, values)


def rounding_offset(shift: int) -> int:
    """2^(s-1) for s >= 1, else 0 (no rounding when nothing is shifted out)."""
    return 1 << (shift - 1) if shift >= 1 else 0


def act_bits_for(q: np.ndarray) -> int:
    """Smallest b >= 1 with -2^(b-1) <= q < 2^(b-1) for every entry."""
    if q.size == 0:
        return 1
    lo, hi = int(q.min()), int(q.max())
    b = 1
    while lo < -(1 << (b - 1)) or hi >= 1 << (b - 1):
        b += 1
    return b


def layout(out_grid: Grid, shift: int, act_bits: int) -> Layout:
    """The committed vector of a requantized layer."""
    n = out_grid.num_vars
    return Layout.of({"q": n, "r": n, "y": n, "m_act": act_bits, "m_rem": shift})


@dataclass
class RequantWitness:
    """Everything the prover commits for one requantized layer: q, r, y as base tables on the padded output
    grid (uint32 views of the committed vector's segments, used by the commitment, the opened values and
    the lookups without a copy), and the multiplicities."""

    q: np.ndarray
    r: np.ndarray
    y: np.ndarray
    act_bits: int
    m_act: np.ndarray
    m_rem: np.ndarray


def witness(
    layer, out_grid: Grid, q: np.ndarray, r: np.ndarray, y: np.ndarray, table_bits: int | None = None
) -> tuple[RequantWitness, np.ndarray]:
    """The committed vector, with q, r and y padded straight into their segments, and the multiplicities of
    both lookups (the prover refuses if some value is outside its table, ``table_bits`` wide when given,
    else the narrowest)."""
    b = act_bits_for(q)
    if table_bits is not None:
        if b > table_bits:
            raise OverflowError(f"layer {layer.name}: quotient needs {b} bits, over the table's {table_bits}")
        b = table_bits
    if b + layer.shift > MAX_SPLIT_BITS:
        raise OverflowError(
            f"layer {layer.name}: quotient needs {b} bits with shift {layer.shift}; over the field"
        )
    committed = layout(out_grid, layer.shift, b)
    vector = committed.zeros()
    segments = committed.views(vector)
    q_table, r_table, y_table = (out_grid.pad(v, segments[n]) for n, v in (("q", q), ("r", r), ("y", y)))
    mask = out_grid.mask()
    act_cols = lookup.mapped_table(b, _act(layer))
    m_act = lookup.multiplicities([q_table, y_table], mask, list(act_cols))
    m_rem = lookup.multiplicities([r_table], mask, [lookup.range_table(layer.shift)])
    segments["m_act"][:] = F.asbase(m_act)
    segments["m_rem"][:] = F.asbase(m_rem)
    return RequantWitness(q_table, r_table, y_table, b, m_act, m_rem), vector


def accumulator_claim(shift: int, out_grid: Grid, z: np.ndarray, q_value, r_value) -> np.ndarray:
    """a~(z) = 2^s q~(z) + r~(z) - 2^(s-1) V(z), from the two opened values."""
    scaled = F.ext_scale(np.asarray(q_value, dtype=np.uint64), np.uint64(pow(2, shift, F.P)))
    offset = F.ext_scale(mask_eval(out_grid, z), np.uint64(rounding_offset(shift)))
    return F.ext_sub(F.ext_add(scaled, np.asarray(r_value, dtype=np.uint64)), offset)


@dataclass
class RequantProof:
    """The activation and remainder lookups of one layer, proven as one batch."""

    lookups: lookup.LookupProof


def prove(
    layer, out_grid: Grid, w: RequantWitness, transcript, label: str, tensor: int, pads=None
) -> tuple[RequantProof, list[Claim]]:
    """Both lookups (hidden with ``pads``); returns the proof and the claims they leave on the layer's
    commitment (``tensor``)."""
    mask = out_grid.mask()
    act_cols = lookup.mapped_table(w.act_bits, _act(layer))
    proof, (act_claims, rem_claims) = lookup.prove_lookups(
        [
            lookup.Lookup([w.q, w.y], mask, list(act_cols), w.m_act),
            lookup.Lookup([w.r], mask, [lookup.range_table(layer.shift)], w.m_rem),
        ],
        transcript,
        f"{label}/requant",
        pads=pads,
    )
    return RequantProof(proof), _claims(tensor, act_claims, rem_claims)


def _statements(layer, out_grid: Grid, act_bits: int) -> list[lookup.LookupStatement]:
    """The activation and the remainder lookups as the verifier states them."""
    n = out_grid.num_vars

    def mask_mle(z):
        return mask_eval(out_grid, z)

    return [
        lookup.LookupStatement(
            n, act_bits, mask_mle, lookup.mapped_mles(act_bits, _act(layer)), "activation"
        ),
        lookup.LookupStatement(n, layer.shift, mask_mle, lambda z: [lookup.range_mle(z)], "remainder range"),
    ]


LOOKUP_COLUMNS = (2, 1)
"""Witness columns of the activation (q, y) and remainder (r) lookups."""


def verify(
    layer,
    out_grid: Grid,
    act_bits: int,
    proof: RequantProof,
    transcript,
    label: str,
    tensor: int,
    checker=None,
) -> list[Claim]:
    """Check both lookups against the public tables; returns the claims still owed to ``tensor``.  With a
    hiding ``checker`` (``zk.PadLedger``) the lookups are the hidden ones and the claims' values
    ``Hidden``."""
    statements = _statements(layer, out_grid, act_bits)
    if checker is None:
        found = lookup.verify_lookups(statements, proof.lookups, transcript, f"{label}/requant")
    else:
        found = lookup.verify_lookups_hidden(
            statements, LOOKUP_COLUMNS, proof.lookups, transcript, f"{label}/requant", checker
        )
    return _claims(tensor, *found)


def hidden_plan(layer, out_grid: Grid, act_bits: int) -> PadPlan:
    """The pads of both lookups sent hidden."""
    n = out_grid.num_vars
    return lookup.hidden_plan([(n, act_bits, LOOKUP_COLUMNS[0]), (n, layer.shift, LOOKUP_COLUMNS[1])])


def _claims(tensor: int, act: lookup.LookupClaims, rem: lookup.LookupClaims) -> list[Claim]:
    owed = [("q", act.column_openings(0)), ("y", act.column_openings(1))]
    owed += [("m_act", act.multiplicity_openings()), ("r", rem.column_openings(0))]
    owed += [("m_rem", rem.multiplicity_openings())]
    return [Claim(tensor, segment, z, v) for segment, openings in owed for z, v in openings]
