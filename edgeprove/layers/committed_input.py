"""The private input: committed (the padded tensor and its int8 range multiplicities in one vector) and
proven in range by one LogUp lookup into the table -128..127.  Prover and verifier side by side, sharing
the claims the lookup leaves on the input's commitment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import lookup
from edgeprove.claims import INPUT, Claim, ClaimLedger
from edgeprove.layers.common import Grid, Layout, mask_eval
from edgeprove.layers.kind import Rejected
from edgeprove.transcript import Transcript
from edgeprove.zk import Checker, PadPlan, PadSource

RANGE_BITS = 8
"""Width of the input's range table (int8)."""
_LABEL = "input/range"


def layout(input_shape) -> Layout:
    """The committed vector: the padded tensor and its range multiplicities."""
    return Layout.of({"y": Grid(tuple(input_shape)).num_vars, "m_rng": RANGE_BITS})


def range_table() -> np.ndarray:
    """The signed int8 values -128..127 as field elements: the lookup's table."""
    return lookup.activation_table(RANGE_BITS, -128, 127)[0]


def range_mle(point: np.ndarray) -> list[np.ndarray]:
    """MLE of ``range_table`` (linear: the range MLE shifted by -128)."""
    return [F.ext_sub(lookup.range_mle(point), F.ext_const(1 << (RANGE_BITS - 1)))]


@dataclass
class InputWitness:
    """The padded input, its valid-position mask and its range multiplicities."""

    values: np.ndarray
    mask: np.ndarray
    mult: np.ndarray


def witness(input_shape, x: np.ndarray) -> tuple[InputWitness, np.ndarray]:
    """The lookup's witness and the vector to commit."""
    grid = Grid(tuple(input_shape))
    values, mask = grid.pad(x), grid.mask()
    mult = lookup.multiplicities([values], mask, [range_table()])
    vector = layout(input_shape).assemble({"y": values, "m_rng": F.asbase(mult)})
    return InputWitness(values, mask, mult), vector


def _claims(rng: lookup.LookupClaims) -> list[Claim]:
    owed = [("y", rng.column_openings(0)), ("m_rng", rng.multiplicity_openings())]
    return [Claim(INPUT, segment, z, v) for segment, openings in owed for z, v in openings]


def prove(
    w: InputWitness, transcript: Transcript, claims: ClaimLedger, pads: PadSource | None = None
) -> lookup.LookupProof:
    """The range lookup (hidden with ``pads``); records the claims it leaves on the input's commitment."""
    table = [range_table()]
    proof, found = lookup.prove_lookups(
        [lookup.Lookup([w.values], w.mask, table, w.mult)], transcript, _LABEL, pads=pads
    )
    claims.extend(_claims(found[0]))
    return proof


def _statement(input_shape) -> lookup.LookupStatement:
    grid = Grid(tuple(input_shape))
    return lookup.LookupStatement(grid.num_vars, RANGE_BITS, lambda z: mask_eval(grid, z), range_mle)


def verify(
    input_shape, proof: object, transcript: Transcript, claims: ClaimLedger, checker: Checker | None = None
) -> None:
    """Check the range lookup (Rejected / LogUpError on failure), hidden with a hiding ``checker``;
    records the claims it leaves."""
    if not isinstance(proof, lookup.LookupProof):
        raise Rejected("malformed input range proof")
    statement = _statement(input_shape)
    if checker is None:
        found = lookup.verify_lookups([statement], proof, transcript, _LABEL)
    else:
        found = lookup.verify_lookups_hidden([statement], [1], proof, transcript, _LABEL, checker)
    claims.extend(_claims(found[0]))


def hidden_plan(input_shape) -> PadPlan:
    """The pads of the range lookup sent hidden."""
    return lookup.hidden_plan([(Grid(tuple(input_shape)).num_vars, RANGE_BITS, 1)])
