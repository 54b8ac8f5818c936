"""Gated product y = requant(x * sum_g broadcast(g)): x (C, H, W) times the sum of its gates, each a
per-channel (C, 1, 1) or per-pixel (1, H, W) tensor broadcast to (C, H, W) — scSE attention's
x * (sigmoid(c) + sigmoid(s)), or cSE's x * sigmoid(c) with one gate.

Model side: ``source`` is x and ``extra_sources`` the gates (layers with activation relu or sigmoid, so every
gate is non-negative) read at their own size; no weights or window; x may be read upsampled 2x (its claim
moves to its own grid as for any upsampled source); out_shape = in_shape = x's shape as read.  The
accumulator is a = x * sum_g g (plus a residual, as for any layer: ONNX's x * g_c + x * g_s imports as a
second gated product adding the first), requantized as every layer is.

Proof: at the output point z the requantization gives a~(z); since a is zero at padded positions (x is),
a~(z) = sum_p eq(z, p) x(p) S(p) with S = sum_g g broadcast over the whole padded grid, one eq-weighted
sumcheck of degree 3 ending at gamma with x~(gamma) and each gate's value: a (C, 1, 1) gate broadcast over
(h, w) has the MLE g~(gamma_c) (the eq weights of the other variables sum to 1), a (1, H, W) gate
g~(gamma_h, gamma_w).  The verifier checks final = eq(z, gamma) x~(gamma) sum_g g~(.), and every value
becomes a claim on its tensor's commitment (or the public input).  A residual's y~(z) is sent and
subtracted first, as in ``affine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeprove import field as F
from edgeprove import lookup, poly
from edgeprove import sumcheck as S
from edgeprove.layers import requant
from edgeprove.layers.affine import (
    AffineWitness,
    RequantizedOutput,
    output_point,
    prove_output_claim,
    prove_residual,
    residual_plan,
    verify_output_claim,
    verify_residual,
)
from edgeprove.layers.common import K_BYTES, Grid, LinearProof, Randomizer, TailBits
from edgeprove.layers.kind import ProverStep, Rejected, VerifierStep, ext_value, read_randomizer
from edgeprove.layers.requant import RequantProof
from edgeprove.model.ir import DEFAULT_ACT_MAX, Layer, ModelError, Shape, check_no_window
from edgeprove.zk import Hidden, PadPlan

NON_NEGATIVE_ACTIVATIONS = ("relu", "sigmoid")
"""Activations a gate may have: their outputs lie in [0, act_max], act_max <= 127."""
ROUND_BYTES_PER_ENTRY = 20
"""The product sumcheck's bytes per padded entry at its first fold: x folded into compact K (8 B), S as it
is handed over (compact base, 4 B) and S folded (8 B); x was freed once folded, and the eq weights are two
small tables (``sumcheck.SplitEq``)."""
PRODUCT_SLICE_TEMPORARIES = 14
"""K slices (of ``sumcheck.SLICE`` entries) a round of the degree-3 product holds at once beside its
tables, the eq weights' low table among them (traced at 2^20 entries: 27 MiB beside 16 MiB of folds)."""


@dataclass
class GatedProof:
    """One gated product: q~(z), r~(z) (None for an accumulator output), the residual's y~(z) (or None),
    the product sumcheck, x~(gamma) and every gate's value at its part of gamma, the requantization
    lookups (or None) and, in a hidden proof, the residual's sumcheck (``affine.LayerProof``); in a hidden
    proof the values at gamma are the randomized ones."""

    q_value: np.ndarray | None
    r_value: np.ndarray | None
    residual_value: np.ndarray | None
    product: S.SumcheckProof
    x_value: np.ndarray
    gate_values: np.ndarray
    requant: RequantProof | None
    residual: LinearProof | None


def is_channel_gate(layer: Layer, view: Shape) -> bool:
    """Whether a gate of this shape is per channel (C, 1, 1) rather than per pixel (1, H, W)."""
    return tuple(view) == (layer.in_shape[0], 1, 1)


def _gate_shapes(step: ProverStep | VerifierStep) -> list[Shape]:
    model = step.model
    return [model.input_shape if ref == -1 else model.layers[ref].out_shape for ref in step.layer.sources[1:]]


def gate_point(layer: Layer, view: Shape, gamma: np.ndarray) -> np.ndarray:
    """The point on a gate's own grid that its broadcast's MLE reads: gamma's channel part for a channel
    gate, its spatial part for a pixel gate."""
    g_c, g_h, g_w = Grid(layer.in_shape).split(gamma)
    return g_c if is_channel_gate(layer, view) else np.concatenate([g_h, g_w], axis=1)


def gate_sum_table(layer: Layer, gates: list[np.ndarray]) -> np.ndarray:
    """S = sum_g g broadcast over the whole padded grid (padded positions included), as base elements in
    compact uint32 storage (gates are non-negative and small, so the sum is its own canonical element)."""
    grid = Grid(layer.in_shape)
    c, h, w = layer.in_shape
    total = np.zeros(grid.padded, dtype=np.uint32)
    for gate in gates:
        if is_channel_gate(layer, gate.shape):
            total[:c] += gate.reshape(c, 1, 1).astype(np.uint32)
        else:
            total[:, :h, :w] += gate.reshape(1, h, w).astype(np.uint32)
    return total.ravel()


def _product_terms() -> list[S.Term]:
    return [(1, (0, 1))]


def _label(step: ProverStep | VerifierStep) -> str:
    return f"{step.label}/gate"


def _randomizers(step: ProverStep | VerifierStep) -> list[Randomizer] | None:
    """x's randomizer on the layer's grid, then each gate's on the variables its broadcast reads (None in
    the clear)."""
    hidden = step.hidden if isinstance(step, VerifierStep) else step.masks is not None
    if not hidden:
        return None
    return _layer_randomizers(step.model, step.layer, step.masks if isinstance(step, ProverStep) else None)


def _layer_randomizers(model, layer: Layer, masks) -> list[Randomizer]:
    """x's and the gates' randomizers (``kind.read_randomizer``), the gates' moved to the layer's grid:
    a channel gate's variables are the grid's first, a pixel gate's its spatial ones."""
    bc = Grid(layer.in_shape).bits[0]
    out = []
    for position, ref in enumerate(layer.sources):
        coefficients = None if masks is None else masks(ref)
        own = read_randomizer(model, ref, layer.factors[position], coefficients)
        shape = model.input_shape if ref == -1 else model.layers[ref].out_shape
        shift = 0 if position == 0 or is_channel_gate(layer, shape) else bc
        out.append(Randomizer(tuple(p + shift for p in own.positions), own.powers, own.coefficients))
    return out


def _randomized_degrees(num_vars: int, randomizers: list[Randomizer]) -> list[int]:
    """The product sumcheck's round degrees: 3, and from the first randomized variable on 3 plus x's and
    the gates' highest powers (eq x^ S^ holds a product of two randomized factors)."""
    start = min(r.start for r in randomizers)
    extra = max(randomizers[0].powers) + max(max(r.powers) for r in randomizers[1:])
    return [3 if i < start else 3 + extra for i in range(num_vars)]


def _prove_randomized(
    tables: list[np.ndarray],
    z: np.ndarray,
    claim: np.ndarray,
    step: ProverStep,
    randomizers: list[Randomizer],
) -> tuple[S.SumcheckProof, np.ndarray, list[np.ndarray]]:
    """The product sumcheck over eq(z, .) x^ S^, hidden: plain rounds on [eq, x, S] up to the first
    randomized variable, then x^ S^ = (x + R_x)(S + sum_g R_g) expanded into terms over the tail's bit
    tables; returns (proof, gamma, final [eq, x, S] values)."""
    num_vars = z.shape[1]
    start = min(r.start for r in randomizers)
    tables = [poly.eq_table(z), *tables]
    terms = [(1, (0, 1, 2))]
    rounds, points, _, current = S.prove_rounds(
        tables, terms, 3, start, step.transcript, _label(step), claim=claim, consume=True, pads=step.pads
    )
    bits = TailBits(tables, start, num_vars)
    x_terms = bits.terms(randomizers[0])
    gate_terms = [term for r in randomizers[1:] for term in bits.terms(r)]
    terms = [(1, (0, 1, 2))]
    terms += [(c, (0, *m, 2)) for c, m in x_terms]
    terms += [(c, (0, 1, *m)) for c, m in gate_terms]
    terms += [(F.ext_mul(a, b), (0, *ma, *mb)) for a, ma in x_terms for b, mb in gate_terms]
    degree = _randomized_degrees(num_vars, randomizers)[-1]
    rest, point, finals, _ = S.prove(
        tables, terms, degree, step.transcript, _label(step), claim=current, consume=True, pads=step.pads
    )
    gamma = poly.concat_points(poly.point(points), point) if points else point
    return S.SumcheckProof(rounds + rest.rounds), gamma, finals[1:3]


class GatedMulKind(RequantizedOutput):
    """The gated product as a layer kind: a degree-3 sumcheck, then requantization."""

    keeps_range: ClassVar[bool] = False
    source_rule: ClassVar[str] = "broadcast"
    proof_types: ClassVar[tuple[type, ...]] = (
        GatedProof,
        S.SumcheckProof,
        LinearProof,
        RequantProof,
        lookup.LookupProof,
        lookup.FractionSumProof,
    )

    def prove(self, step: ProverStep, w: AffineWitness) -> tuple[GatedProof, np.ndarray, np.ndarray]:
        """The product sumcheck and the requantization (every value hidden by the step's pads in a hidden
        proof, over the randomized x and gates); returns the proof, gamma and x's value sent at gamma."""
        layer = step.layer
        grid, c = Grid(layer.in_shape), layer.in_shape[0]
        z = output_point(step)
        claim_a, q_value, r_value = prove_output_claim(step, w, z)
        claim, residual_value, residual = prove_residual(step, z, claim_a)
        shapes = _gate_shapes(step)
        gates = []
        for i, shape in enumerate(shapes):
            view = step.source[(i + 1) * c : (i + 2) * c]
            gates.append(view[:, :1, :1] if is_channel_gate(layer, shape) else view[:1])
        x_table = grid.pad(step.source[:c], out=np.zeros(grid.size, dtype=np.uint32))
        tables = [x_table, gate_sum_table(layer, gates)]
        del x_table
        randomizers = _randomizers(step)
        if randomizers is None:
            product, gamma, finals = S.prove_eq_weighted(
                tables, _product_terms(), 3, z, claim, step.transcript, _label(step), consume=True
            )
            x_value = finals[0]
        else:
            product, gamma, finals = _prove_randomized(tables, z, claim, step, randomizers)
            x_value = randomizers[0].value(finals[0], gamma)
        del tables
        gate_values = [
            poly.evaluate(Grid(shape).pad(gate), gate_point(layer, shape, gamma))
            for shape, gate in zip(shapes, gates, strict=True)
        ]
        if randomizers is not None:
            gate_values = [r.value(v, gamma) for r, v in zip(randomizers[1:], gate_values)]
        gate_values = np.stack(gate_values, axis=1)
        step.transcript.absorb_ext(f"{_label(step)}/x", x_value)
        step.transcript.absorb_ext(f"{_label(step)}/gates", gate_values)
        for i, shape in enumerate(shapes):
            step.claim_read(layer.sources[i + 1], gate_point(layer, shape, gamma), gate_values[:, i])
        rq_proof = None
        if w.rq is not None:
            rq_proof, rq_claims = requant.prove(
                layer, grid, w.rq, step.transcript, step.label, step.index, step.pads
            )
            step.claims.extend(rq_claims)
        proof = GatedProof(
            q_value, r_value, residual_value, product, x_value, gate_values, rq_proof, residual
        )
        return proof, gamma, x_value

    def verify(self, step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
        """Check the product sumcheck against x's and the gates' values, then the requantization (each
        check a constraint on the pads in a hidden proof); returns gamma and x's value at gamma."""
        layer = step.layer
        grid = Grid(layer.in_shape)
        shapes = _gate_shapes(step)
        if not isinstance(proof, GatedProof) or not isinstance(proof.product, S.SumcheckProof):
            raise Rejected(f"layer {layer.name}: malformed gated product proof")
        gate_values = proof.gate_values
        if not isinstance(gate_values, np.ndarray) or gate_values.shape != (F.EXT_DEGREE, len(shapes)):
            raise Rejected(f"layer {layer.name}: malformed gate values")
        x_value = ext_value(proof.x_value, "x~(gamma)")
        z = output_point(step)
        claim = verify_output_claim(step, z, proof.q_value, proof.r_value)
        claim = verify_residual(step, z, claim, proof.residual_value, proof.residual)
        randomizers = _randomizers(step)
        degrees = 3 if randomizers is None else _randomized_degrees(grid.num_vars, randomizers)
        gamma, final = S.verify_hidden(
            claim, grid.num_vars, degrees, proof.product, step.transcript, _label(step), step.checker
        )
        step.transcript.absorb_ext(f"{_label(step)}/x", x_value)
        step.transcript.absorb_ext(f"{_label(step)}/gates", gate_values)
        gate_sum = F.ext_sum(gate_values)
        expected = Hidden.of(F.ext_mul(poly.eq_eval(z, gamma), F.ext_mul(x_value, gate_sum)))
        step.require(final, expected, "the gated product's final check failed")
        for i, shape in enumerate(shapes):
            point = gate_point(layer, shape, gamma)
            if step.hidden:
                step.claim_randomized(layer.sources[i + 1], point, point, gate_values[:, i])
            else:
                step.claim_read(layer.sources[i + 1], point, gate_values[:, i], "gate")
        self.verify_requantization(step, proof.requant)
        return gamma, x_value

    def pad_plan(self, model, index: int, table_bits: int) -> PadPlan:
        """The values a hidden gated product sends, in order: q~(z) and r~(z), the residual's share and
        sumcheck, the product's rounds, the requantization lookups."""
        layer = model.layers[index]
        grid = Grid(layer.in_shape)
        plan = PadPlan(2 if layer.requantized else 0).then(residual_plan(model, layer))
        randomizers = _layer_randomizers(model, layer, None)
        plan = plan.then(S.rounds_plan(_randomized_degrees(grid.num_vars, randomizers)))
        if layer.requantized:
            plan = plan.then(requant.hidden_plan(layer, grid, table_bits))
        return plan

    def working_bytes(self, layer: Layer) -> int:
        """The product sumcheck's tables on the padded grid beside the round's slices."""
        entries = Grid(layer.in_shape).size
        slices = PRODUCT_SLICE_TEMPORARIES * K_BYTES * min(entries // 2, S.SLICE)
        return ROUND_BYTES_PER_ENTRY * entries + slices

    def inference_bytes(self, layer: Layer) -> int:
        """The float64 gate sum and product beside the gathered input."""
        return 16 * int(np.prod(layer.in_shape))

    def weight_shape(self, layer: Layer) -> None:
        """None: a gated product has no weights."""
        return None

    def out_shape(self, layer: Layer) -> Shape:
        """x's shape."""
        return tuple(layer.in_shape)

    def validate(self, layers: list[Layer], index: int) -> None:
        """At least one gate, each a relu or sigmoid layer (non-negative) read at its own size; no window or
        groups.  x may be upsampled (a UNet++ decoder gates the upsampled deeper tensor beside its skips)."""
        layer = layers[index]
        where = f"layer {layer.name}"
        check_no_window(layer)
        if not layer.extra_sources:
            raise ModelError(f"{where}: gated_mul needs at least one gate in extra_sources")
        if any(factor != 1 for factor in layer.factors[1:]):
            raise ModelError(f"{where}: gated_mul may upsample x, not its gates")
        for ref in layer.extra_sources:
            if ref < 0 or layers[ref].activation not in NON_NEGATIVE_ACTIVATIONS:
                name = "the input" if ref < 0 else layers[ref].name
                raise ModelError(
                    f"{where}: gate {name} is not a relu or sigmoid layer (gates must be non-negative)"
                )

    def evaluate(self, layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
        """x times the sum of its broadcast gates, on a batch (sources stacked along channels), in float64."""
        c = layer.in_shape[0]
        parts = np.asarray(x, dtype=np.float64).reshape(-1, c, *x.shape[1:])
        return parts[0] * parts[1:].sum(axis=0)

    def sign_sums(self, layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
        """Each output is x times a sum of n gates in [0, 127]: with the input range [lo, hi] (the union of
        x's and the gates', so lo <= 0 <= hi), a = x S lies in [n 127 lo, n 127 hi]."""
        channels = layer.out_shape[0]
        bound = len(layer.extra_sources) * DEFAULT_ACT_MAX
        return np.full(channels, bound, dtype=np.int64), np.zeros(channels, dtype=np.int64)

    def scale_bits(self, layer: Layer) -> int:
        """0: the accumulator's fraction bits are x's plus the gates' (the quantizer adds them)."""
        return 0

    def channel_split(self, layer: Layer) -> str:
        """ "channels": output channel c is x's channel c times its gates (a channel gate's c, a pixel gate
        whole)."""
        return "channels"
