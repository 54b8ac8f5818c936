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
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove.commit import ligero
from edgeprove.layers.common import LinearProof
from edgeprove.layers.requant import RequantProof
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

    shape: list
    values: np.ndarray


@register
@dataclass
class LayerProof:
    """One layer: opened q~(z), r~(z) (None for an accumulator output), the residual's y~(z) (or None),
    the linear map's sumcheck and the requantization lookups (or None)."""

    q_value: np.ndarray | None
    r_value: np.ndarray | None
    residual_value: np.ndarray | None
    linear: LinearProof
    requant: RequantProof | None


def _register_dependencies() -> None:
    from edgeprove import lookup, sumcheck
    from edgeprove.layers import maxpool

    for cls in (
        maxpool.MaxPoolProof,
        sumcheck.SumcheckProof,
        LinearProof,
        RequantProof,
        lookup.LookupProof,
        lookup.FractionSumProof,
        ligero.OpeningProof,
    ):
        register(cls)


_register_dependencies()


def default_params() -> ligero.LigeroParams:
    """Commitment parameters of a proof: rate 1/4, >= 100 bits, layouts sized for ~8 openings per layer."""
    return ligero.LigeroParams(rate_log=2, security_bits_target=100, expected_points=8)


def params_from_header(lig: dict) -> ligero.LigeroParams:
    """The commitment parameters a proof header names (ValueError when malformed)."""
    if not isinstance(lig, dict) or not all(
        isinstance(lig.get(k), int) and not isinstance(lig.get(k), bool)
        for k in ("rate_log", "queries", "expected_points")
    ):
        raise ValueError("commitment parameters missing from the header")
    return ligero.LigeroParams(
        rate_log=lig["rate_log"], queries=lig["queries"], expected_points=lig["expected_points"]
    )


def statement_header(model, params, schedule: str, input_shape) -> dict:
    """The proof file's JSON header: what is being proven and with which parameters."""
    return {
        "protocol": PROTOCOL,
        "model": model.name,
        "digest": model.digest,
        "input_shape": list(input_shape),
        "output_shape": list(model.layers[-1].out_shape),
        "ligero": {
            "rate_log": params.rate_log,
            "queries": params.num_queries(),
            "expected_points": params.expected_points,
        },
        "security_bits": round(params.security_bits(), 1),
        "schedule": schedule,
        "layers": len(model.layers),
    }


def start_transcript(header: dict, input_section: TensorSection) -> Transcript:
    """Bind protocol, parameters, model digest and the public input (the schedule is not part of it)."""
    t = Transcript(PROTOCOL.encode())
    bound = {k: header[k] for k in ("protocol", "digest", "input_shape", "output_shape", "ligero")}
    t.absorb_bytes("statement", json.dumps(bound, sort_keys=True).encode())
    t.absorb_base("input", input_section.values)
    return t


def tensor_section(values: np.ndarray) -> TensorSection:
    """A public integer tensor for the proof file."""
    arr = np.asarray(values, dtype=np.int64)
    return TensorSection(list(arr.shape), F.encode_signed(arr.ravel()))


def last_uses(model) -> list[int]:
    """For each layer, the index of the last layer that reads its output (len(layers) for the output)."""
    n = len(model.layers)
    last = list(range(n))  # an unread tensor is opened right after its own layer
    for j, layer in enumerate(model.layers):
        for src in (layer.source, layer.residual):
            if src is not None and src >= 0:
                last[src] = max(last[src], j)
    last[n - 1] = n
    return last


def commitment_layout(layer, table_bits: int):
    """How a layer's committed vector is laid out (max pool or requantization)."""
    from edgeprove.layers import maxpool, requant
    from edgeprove.layers.common import Grid

    if layer.kind == "maxpool":
        return maxpool.layout(layer)
    return requant.layout(Grid(layer.out_shape), layer.shift, table_bits)


def layer_label(k: int) -> str:
    return f"layer{k}"


def opening_label(k: int) -> str:
    return f"open{k}"
