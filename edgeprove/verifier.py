"""The standalone verifier: replays the transcript over the proof file, section by section.

For every layer it derives the accumulator claim from the opened q~(z), r~(z) (or from the public output),
subtracts bias and residual terms, checks the linear map's sumcheck against G~(gamma) computed from the
public weights, checks both lookups against the public tables, and collects every opening claim; each
commitment is opened once, after its last consumer, and checked by the commitment scheme's verifier.
Any failure, including a malformed file, is a rejection with a one-line reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprove import field as F
from edgeprove import layers as L
from edgeprove import lookup, poly
from edgeprove import protocol as PR
from edgeprove.blas import require_exact_blas
from edgeprove.claims import Claim, ClaimLedger
from edgeprove.commit import DEFAULT_SCHEME, zk_ligero
from edgeprove.commit.scheme import CommitmentError, CommitmentScheme
from edgeprove.layers import committed_input, requant
from edgeprove.layers.common import Grid
from edgeprove.layers.kind import Rejected, VerifierStep
from edgeprove.model.bounds import LayerBounds, check_model
from edgeprove.model.ir import Layer, Model, ModelError
from edgeprove.model.tiling import tile
from edgeprove.proof import (
    SECTION_COMMIT,
    SECTION_INPUT,
    SECTION_LAYER,
    SECTION_OPENING,
    SECTION_OUTPUT,
    ProofFormatError,
    ProofReader,
)
from edgeprove.sumcheck import SumcheckError
from edgeprove.transcript import Transcript
from edgeprove.zk import Hidden, PadLedger, PadPlan, ZkError

MIN_SECURITY_BITS = 100
"""Default floor: proofs whose commitment parameters give fewer bits than this are rejected outright
(``verify --min-security-bits`` changes it)."""


@dataclass
class VerifyResult:
    """Outcome of verification: accepted or not, why, and the statement's claimed output."""

    accepted: bool
    reason: str
    output: np.ndarray | None
    header: dict | None


def read_header(path: str | Path) -> dict:
    """The proof's JSON header, every field checked (to find which model it claims to be about);
    ProofFormatError with one line when it is malformed."""
    reader = ProofReader(path)
    reader.close()
    try:
        PR.check_header(reader.header)
    except ValueError as exc:
        raise ProofFormatError(f"bad header: {exc}") from None
    return reader.header


def verify(
    path: str | Path,
    model: Model,
    min_security_bits: float = MIN_SECURITY_BITS,
    scheme: CommitmentScheme = DEFAULT_SCHEME,
) -> VerifyResult:
    """Verify the proof file at ``path`` against ``model`` (made with commitment ``scheme``); never raises
    on bad proof bytes (InexactBLAS, before reading anything, where this machine's products are wrong)."""
    require_exact_blas()
    header = None
    output = None
    try:
        reader = ProofReader(path)
        header = reader.header
        try:
            output = _verify(reader, model, min_security_bits, scheme)
        finally:
            reader.close()
        return VerifyResult(True, "accepted", output, header)
    except (Rejected, ProofFormatError, SumcheckError, lookup.LogUpError, CommitmentError, ZkError) as exc:
        return VerifyResult(False, str(exc), output, header)
    except ModelError as exc:
        return VerifyResult(False, f"model: {exc}", output, header)
    except OSError as exc:  # a weight file of the model vanished or became unreadable mid-verification
        return VerifyResult(False, f"model: cannot read {exc.filename}: {exc.strerror}", output, header)
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        OverflowError,
        ZeroDivisionError,
        struct.error,
        RecursionError,
        MemoryError,
    ) as exc:  # malformed objects that slipped past the shape checks: never accept, never a traceback
        return VerifyResult(False, f"malformed proof ({type(exc).__name__}: {exc})", output, header)


def _tensor(section, shape, what: str) -> np.ndarray:
    if not isinstance(section, PR.TensorSection) or list(section.shape) != list(shape):
        raise Rejected(f"{what} has the wrong shape (expected {tuple(shape)})")
    values = section.values
    if not isinstance(values, np.ndarray) or values.shape != (int(np.prod(shape)),):
        raise Rejected(f"{what} values are malformed")
    return F.decode_signed(values).reshape(shape)


def _check_header(
    header: dict, model: Model, min_security_bits: float, scheme: CommitmentScheme
) -> tuple[object, object]:
    """The header checked against the model and the security floor; returns the commitment parameters and
    those of a committed input's hiding commitment (None for a public input)."""
    try:
        PR.check_header(header, scheme)
    except ValueError as exc:
        raise Rejected(f"bad header: {exc}") from None
    if header["digest"] != model.digest:
        raise Rejected(f"proof is for model digest {header['digest'][:16]}…, not {model.name}'s")
    if header["model"] != model.name:
        raise Rejected(f"proof names model {header['model'][:40]!r}, not {model.name!r}")
    if header["input_shape"] != list(model.input_shape):
        raise Rejected("input shape does not match the model")
    if header["output_shape"] != list(model.layers[-1].out_shape):
        raise Rejected("output shape does not match the model")
    if header["layers"] != len(model.layers):
        raise Rejected("layer count does not match the model")
    if header["zero_knowledge"]:
        scheme = PR.tensor_scheme(PR.INPUT, scheme)
    params = scheme.params_from_header(header[scheme.header_key])
    hiding = PR.tensor_scheme(PR.INPUT, scheme)
    input_params = (
        hiding.params_from_header(header[hiding.header_key]) if header["input_mode"] == "committed" else None
    )
    bits = PR.security_bits(scheme, params, input_params)
    if header["security_bits"] != round(bits, 1):
        raise Rejected(
            f"header claims {header['security_bits']} bits of security; its parameters give {bits:.1f}"
        )
    if bits < min_security_bits:
        raise Rejected(f"commitment parameters give {bits:.1f} bits of security, below {min_security_bits:g}")
    return params, input_params


def _verify(
    reader: ProofReader, model: Model, min_security_bits: float, scheme: CommitmentScheme
) -> np.ndarray:
    header = reader.header
    params, input_params = _check_header(header, model, min_security_bits, scheme)
    hidden = header["zero_knowledge"]
    if hidden:
        scheme = PR.tensor_scheme(PR.INPUT, scheme)
    try:
        model = tile(model, header["tiles"])[0]
    except ModelError as exc:
        raise Rejected(f"bad header: tiles: {exc}") from None
    static = check_model(model)
    mode = header["input_mode"]  # one of PR.INPUT_MODES: checked with the header
    roots: dict[int, tuple[bytes, int]] = {}
    tensors = ([PR.INPUT] if mode == "committed" else []) + list(range(len(model.layers)))
    claims = ClaimLedger(tensors)
    ledgers, widths, groups = _hidden_setup(model, params, static) if hidden else (None, None, {})
    x = None
    if mode == "committed":
        transcript = _verify_committed_input(reader, header, model, roots, claims, scheme, ledgers)
    else:
        input_section = reader.next(SECTION_INPUT, PR.tensor_section_bytes(model.input_shape))
        x = _tensor(input_section, model.input_shape, "input")
        if x.min(initial=0) < -128 or x.max(initial=0) > 127:
            raise Rejected("input values are outside int8")
        transcript = PR.start_transcript(header, input_section, scheme)
    n = len(model.layers)
    turns = PR.opening_turns(model, list(groups.values()))
    output = None
    for k, layer in enumerate(model.layers):
        label = PR.layer_label(k)
        out_grid = Grid(layer.out_shape)
        kind = L.kind_of(layer)
        if (hidden and groups[k].first == k) or (not hidden and kind.commits(layer)):
            roots[k] = _read_commitment(reader, layer, static[k].q_bits, hidden)
            transcript.absorb_bytes(f"{label}/root", roots[k][0])
            transcript.absorb_int(f"{label}/act_bits", roots[k][1])
        if k == n - 1:
            section = reader.next(SECTION_OUTPUT, PR.tensor_section_bytes(layer.out_shape))
            output = _tensor(section, layer.out_shape, "output")
            if layer.requantized:
                lo = requant.act_lo(layer.activation)
                if output.min(initial=lo) < lo or output.max(initial=lo) > layer.act_max:
                    raise Rejected("output values are outside the activation's range")
            transcript.absorb_base("output", section.values)
        proof = reader.next(SECTION_LAYER, PR.LAYER_SECTION_BYTES)
        if hidden:
            step = VerifierStep(
                model, k, label, widths[k], output, x, transcript, claims, ledgers[k], _plans(ledgers)
            )
        else:
            step = VerifierStep(
                model, k, label, roots[k][1] if k in roots else 0, output, x, transcript, claims
            )
        gamma, x_value = kind.verify(step, proof)
        step.claim_source(0, gamma, x_value)
        if k == n - 1 and kind.commits(layer):
            z_out = transcript.challenge_ext_vec(f"{label}/z_out", out_grid.num_vars)
            value = poly.evaluate_padded(output, layer.out_shape, z_out)
            claims.add(k, "y", z_out, Hidden.of(value) if hidden else value)
        for t in PR.openings_after(turns, list(ledgers if hidden else roots), k, n):
            if hidden and t in ledgers:
                group = groups[t]
                owed = [(ledgers.pop(m), claims.pop(m)) for m in group.members]
                opened = input_params if group.first == PR.INPUT else params
                _check_group_opening(
                    model, group, roots.pop(group.first), owed, reader, transcript, scheme, opened
                )
            elif not hidden:
                opened = (PR.tensor_scheme(t, scheme), input_params if t == PR.INPUT else params)
                _check_opening(model, t, roots.pop(t), claims.pop(t), reader, transcript, *opened)
    reader.finish(PR.END_SECTION_BYTES)
    return output


def _hidden_setup(
    model: Model, params: object, static: list[LayerBounds]
) -> tuple[dict[int, PadLedger], tuple[int, ...], dict[int, PR.HiddenGroup]]:
    """A hidden proof's ledger for every commitment, its pads planned from the model alone, every layer's
    table width (the model's bound, ``static``) and each tensor's group (``protocol.hidden_groups`` for the
    header's group size)."""
    try:
        widths = PR.hidden_table_bits(model, static)
        groups = PR.hidden_groups(model, widths, params.group_vars)
    except (ValueError, ZkError) as exc:
        raise Rejected(f"model: {exc}") from None
    ledgers = {t: PadLedger(plan) for group in groups for t, plan in zip(group.members, group.plans)}
    return ledgers, widths, {t: group for group in groups for t in group.members}


def _plans(ledgers: dict[int, PadLedger]) -> dict[int, PadPlan]:
    """The pad plans of the commitments still open."""
    return {t: ledger.plan for t, ledger in ledgers.items()}


def _verify_committed_input(
    reader: ProofReader,
    header: dict,
    model: Model,
    roots: dict[int, tuple[bytes, int]],
    claims: ClaimLedger,
    scheme: CommitmentScheme,
    ledgers: dict[int, PadLedger] | None,
) -> Transcript:
    """A private input: its commitment, then its int8 range lookup (hidden in a hidden proof); returns
    the started transcript."""
    commit = reader.next(SECTION_COMMIT, PR.COMMIT_SECTION_BYTES)
    if not isinstance(commit, PR.CommitSection) or not isinstance(commit.root, bytes):
        raise Rejected("malformed input commitment")
    if commit.act_bits != committed_input.RANGE_BITS:
        raise Rejected(f"input range width {commit.act_bits} is not {committed_input.RANGE_BITS}")
    roots[PR.INPUT] = (commit.root, commit.act_bits)
    transcript = PR.start_transcript(header, commit.root, scheme)
    proof = reader.next(SECTION_LAYER, PR.LAYER_SECTION_BYTES)
    checker = ledgers[PR.INPUT] if ledgers is not None else None
    committed_input.verify(model.input_shape, proof, transcript, claims, checker)
    return transcript


def _read_commitment(reader: ProofReader, layer: Layer, static_bits: int, hidden: bool) -> tuple[bytes, int]:
    """A layer's commitment section: its root and table width.  The width is the prover's choice, within
    its kind's rule (for requantized layers never more than the model's static bound on q needs, so the
    table the verifier evaluates is sized by the model, at most 2^MAX_Q_BITS rows); a hidden proof's is
    the model's, whatever the data."""
    commit = reader.next(SECTION_COMMIT, PR.COMMIT_SECTION_BYTES)
    if not isinstance(commit, PR.CommitSection) or not isinstance(commit.root, bytes):
        raise Rejected(f"layer {layer.name}: malformed commitment section")
    kind = L.kind_of(layer)
    if hidden:
        fixed = kind.static_table_bits(layer, static_bits)
        if commit.act_bits != fixed:
            raise Rejected(f"layer {layer.name}: table width {commit.act_bits} is not the model's {fixed}")
    else:
        kind.check_table_bits(layer, commit.act_bits, static_bits)
    return commit.root, commit.act_bits


def _check_group_opening(
    model: Model,
    group: PR.HiddenGroup,
    root: tuple[bytes, int],
    owed: list[tuple[PadLedger, list[Claim]]],
    reader: ProofReader,
    transcript: Transcript,
    scheme: CommitmentScheme,
    params: object,
) -> None:
    """A hidden proof's opening of one group: the product lines of every member, then the hiding opening
    of every constraint the members' ledgers and claims owe."""
    first = group.first
    name = "input" if first == PR.INPUT else model.layers[first].name
    if len(group.members) > 1:
        name = f"layers {name} to {model.layers[group.members[-1]].name}"
    commitment = scheme.commitment(root[0], group.length, params)
    ceiling = scheme.opening_bytes_ceiling(commitment, params, sum(len(claims) for _, claims in owed))
    factors = sum(len(ledger.plan.factors) for ledger, _ in owed)
    section = reader.next(SECTION_OPENING, ceiling + PR.lines_bytes(factors))
    if not isinstance(section, PR.HiddenOpening) or not isinstance(section.opening, scheme.opening_type):
        raise Rejected(f"{name}: malformed hidden opening")
    lines = section.lines
    if (
        not isinstance(lines, np.ndarray)
        or lines.dtype != np.uint64
        or lines.shape != (F.EXT_DEGREE, factors)
    ):
        raise Rejected(f"{name}: malformed product lines")
    if np.any(lines >= np.uint64(F.P)):
        raise Rejected(f"{name}: a product line is not below p")
    label = PR.opening_label(first)
    tau = transcript.challenge_ext(f"{label}/tau")
    transcript.absorb_ext(f"{label}/lines", lines)
    ledgers, claims = [ledger for ledger, _ in owed], [own for _, own in owed]
    points, constraints = PR.group_constraints(group, ledgers, claims, tau, lines)
    try:
        zk_ligero.verify_constraints(
            commitment, points, constraints, 0, section.opening, transcript, label, params
        )
    except CommitmentError as exc:
        raise Rejected(f"{name}: opening rejected: {exc}") from exc


def _check_opening(
    model: Model,
    t: int,
    root: tuple[bytes, int],
    claims: list[Claim],
    reader: ProofReader,
    transcript: Transcript,
    scheme: CommitmentScheme,
    params: object,
) -> None:
    """Tensor t's opening section, checked at every point owed to it."""
    name = "input" if t == PR.INPUT else model.layers[t].name
    root_bytes, act_bits = root
    lay = PR.commitment_layout(model, t, act_bits)
    commitment = scheme.commitment(root_bytes, PR.committed_length(lay), params)
    ceiling = scheme.opening_bytes_ceiling(commitment, params, len(claims))
    proof = reader.next(SECTION_OPENING, ceiling)
    if not isinstance(proof, scheme.opening_type):
        raise Rejected(f"{name}: malformed opening")
    points = [lay.point(c.segment, c.point) for c in claims]
    values = [c.value for c in claims]
    try:
        scheme.verify(commitment, points, values, proof, transcript, PR.opening_label(t), params)
    except CommitmentError as exc:
        raise Rejected(f"{name}: opening rejected: {exc}") from exc
