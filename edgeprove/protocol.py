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


INPUT = -1
"""Tensor index of the model input (the source of first layers)."""
INPUT_MODES = ("public", "committed")
INPUT_RANGE_BITS = 8


def statement_header(model, params, schedule: str, input_shape, input_mode: str = "public") -> dict:
    """The proof file's JSON header: what is being proven and with which parameters."""
    return {
        "protocol": PROTOCOL,
        "model": model.name,
        "digest": model.digest,
        "input_mode": input_mode,
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


def start_transcript(header: dict, input_binding: TensorSection | bytes) -> Transcript:
    """Bind protocol, parameters, model digest and the input: its values when public, its commitment root
    when committed (the schedule is not part of the statement)."""
    t = Transcript(PROTOCOL.encode())
    keys = ("protocol", "digest", "input_mode", "input_shape", "output_shape", "ligero")
    bound = {k: header[k] for k in keys}
    t.absorb_bytes("statement", json.dumps(bound, sort_keys=True).encode())
    if isinstance(input_binding, bytes):
        t.absorb_bytes("input/root", input_binding)
    else:
        t.absorb_base("input", input_binding.values)
    return t


def input_layout(input_shape):
    """The committed vector of a private input: the padded tensor and its int8 range multiplicities."""
    from edgeprove.layers.common import Grid, Layout

    return Layout.of({"y": Grid(tuple(input_shape)).num_vars, "m_rng": INPUT_RANGE_BITS})


def input_range_table() -> np.ndarray:
    """The signed int8 values -128..127 as field elements: the committed input's lookup table."""
    from edgeprove import lookup

    return lookup.activation_table(INPUT_RANGE_BITS, -128, 127)[0]


def input_range_mle(point: np.ndarray) -> list[np.ndarray]:
    """MLE of ``input_range_table`` (linear: the range MLE shifted by -128)."""
    from edgeprove import lookup

    return [F.ext_sub(lookup.range_mle(point), F.ext_const(1 << (INPUT_RANGE_BITS - 1)))]


def tensor_section(values: np.ndarray) -> TensorSection:
    """A public integer tensor for the proof file."""
    arr = np.asarray(values, dtype=np.int64)
    return TensorSection(list(arr.shape), F.encode_signed(arr.ravel()))


def last_uses(model) -> dict[int, int]:
    """For each tensor (INPUT and every layer), the index of the last layer that reads it; len(layers) for
    the output, whose commitment is opened at the end."""
    n = len(model.layers)
    last = {INPUT: 0, **{k: k for k in range(n)}}  # an unread tensor is opened right after its own layer
    for j, layer in enumerate(model.layers):
        for src in (layer.source, layer.residual):
            if src is not None:
                last[src] = max(last[src], j)
    last[n - 1] = n
    return last


def openings_after(last_use: dict[int, int], open_tensors, k: int, n: int) -> list[int]:
    """Tensors whose commitment is opened after layer k (in order): last read by k, or all at the end."""
    return sorted(t for t in open_tensors if last_use[t] == k or (k == n - 1 and last_use[t] == n))


def commitment_layout(model, t: int, table_bits: int):
    """How tensor t's committed vector is laid out (private input, max pool or requantization)."""
    from edgeprove.layers import maxpool, requant
    from edgeprove.layers.common import Grid

    if t == INPUT:
        return input_layout(model.input_shape)
    layer = model.layers[t]
    if layer.kind == "maxpool":
        return maxpool.layout(layer)
    return requant.layout(Grid(layer.out_shape), layer.shift, table_bits)


def layer_label(k: int) -> str:
    """Transcript label prefix of layer k's messages."""
    return f"layer{k}"


def opening_label(k: int) -> str:
    """Transcript label prefix of tensor k's opening."""
    return f"open{k}"
