"""Affine layers (dense, conv2d, average and global average pooling): a linear map, plus bias, plus
residual, then requantization (or, on the last layer, the accumulator as output).

Prover and verifier side by side, sharing their transcript labels and claim helpers.  At a random output
point z the accumulator claim a~(z) comes from the opened q~(z), r~(z) (``requant.accumulator_claim``) or
from the public output; bias and residual terms are subtracted, and what is left is sum_x x(x) G(x) over
the input grid, one sumcheck (``common.prove_linear_separable``).  Each affine kind's module supplies only
its G: ``g_factors(layer, weight, rho)`` for the prover, ``g_eval(layer, weight, rho, gamma)`` for the
verifier (pools take weight None), its memory estimates, and its model side (``LinearMap``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from edgeprove import field as F
from edgeprove import lookup, poly
from edgeprove.layers import requant
from edgeprove.layers.common import (
    Grid,
    Layout,
    LinearProof,
    mask_eval,
    prefix_eq,
    prove_linear_separable,
    verify_linear,
)
from edgeprove.layers.kind import ProverStep, Rejected, VerifierStep, ext_value
from edgeprove.layers.requant import RequantProof
from edgeprove.model import ops
from edgeprove.model.ir import Layer, Model, Shape, channel_offsets, source_views
from edgeprove.model.kinds import MapRules
from edgeprove.sumcheck import SumcheckProof


class LinearMap(MapRules, Protocol):
    """What an affine kind's module supplies: its G, G~(gamma) and memory estimates, and the model side's
    map rules (``keeps_range`` is the kind's: an affine map rescales)."""

    def g_factors(
        self, layer: Layer, weight: np.ndarray | None, rho: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The prover's G for the output point rho as its factors (A, Ew), G[c,h,w] = sum_v A[c,v,h] Ew[v,w]
        on the padded input grid: the sumcheck never builds G (``common.prove_linear_separable``)."""
        ...

    def g_eval(
        self, layer: Layer, weight: np.ndarray | None, rho: np.ndarray, gamma: np.ndarray
    ) -> np.ndarray:
        """The verifier's G~(gamma), from the public weights."""
        ...

    def working_bytes(self, layer: Layer) -> int:
        """Bytes of G and its sumcheck folds."""
        ...

    def inference_bytes(self, layer: Layer) -> int:
        """Transient bytes of computing the accumulator."""
        ...


@dataclass
class LayerProof:
    """One layer: opened q~(z), r~(z) (None for an accumulator output), the residual's y~(z) (or None),
    the linear map's sumcheck (one per source when it reads several) and the requantization lookups (or
    None)."""

    q_value: np.ndarray | None
    r_value: np.ndarray | None
    residual_value: np.ndarray | None
    linear: LinearProof | SourcesProof
    requant: RequantProof | None


@dataclass
class SourcesProof:
    """A linear map over several concatenated sources: per source, the partial sum
    sum_x x_s(x) G_s(x) (its share of the claim) and the sumcheck proving it."""

    sums: list[np.ndarray]
    parts: list[LinearProof]


SourcePart = Callable[[Layer, np.ndarray | None, int, int], tuple[Layer, np.ndarray | None]]
"""A module's map restricted to input channels [lo, hi): the part's layer and weights."""


@dataclass
class AffineWitness:
    """The accumulator a (None when requantized: the committed q and r stand for it), the output y (a when
    not requantized, else in its narrowest integer type) and the requantization witness."""

    a: np.ndarray | None
    y: np.ndarray
    rq: requant.RequantWitness | None

    @property
    def table_bits(self) -> int:
        """The activation table width (0: nothing committed)."""
        return self.rq.act_bits if self.rq is not None else 0


def bias_eval(layer: Layer, bias: np.ndarray | None, rho: np.ndarray) -> np.ndarray:
    """MLE at rho of the bias broadcast over the valid output positions: b~(rho_c) V_h(rho_h) V_w(rho_w)."""
    if bias is None:
        return F.ext_zeros()
    out_grid = Grid(layer.out_shape)
    rho_c, rho_h, rho_w = out_grid.split(rho)
    b = F.ext_inner(F.asbase(np.asarray(bias, dtype=np.int64)), prefix_eq(rho_c, out_grid.shape[0]))
    hw = Grid((1, out_grid.shape[1], out_grid.shape[2]))
    return F.ext_mul(b, mask_eval(hw, np.concatenate([rho_h, rho_w], axis=1)))


def _weight(model: Model, k: int) -> np.ndarray | None:
    return model.weight(k) if model.layers[k].has_weights else None


def output_point(step: ProverStep | VerifierStep) -> np.ndarray:
    """z: the random point on the output grid every claim of the layer starts from."""
    return step.transcript.challenge_ext_vec(f"{step.label}/z", Grid(step.layer.out_shape).num_vars)


def requantized_claim(step: ProverStep | VerifierStep, z: np.ndarray, q_value, r_value) -> np.ndarray:
    """Bind q~(z), r~(z), owe their openings, and derive a~(z) from them."""
    step.transcript.absorb_ext(f"{step.label}/qr", np.stack([q_value, r_value], axis=1))
    step.claims.add(step.index, "q", z, q_value)
    step.claims.add(step.index, "r", z, r_value)
    return requant.accumulator_claim(step.layer.shift, Grid(step.layer.out_shape), z, q_value, r_value)


def requantize_witness(layer: Layer, a: np.ndarray) -> tuple[AffineWitness, np.ndarray | None]:
    """Requantize a and build the lookups' multiplicities; the committed vector when requantized (shared
    by every kind whose output is a requantized accumulator)."""
    if not layer.requantized:
        return AffineWitness(a, a, None), None
    q, r, y = ops.requantize(layer, a)
    out_grid = Grid(layer.out_shape)
    rq, vector = requant.witness(layer, out_grid, q, r, y)
    return AffineWitness(None, ops.compact(y), rq), vector


def _less_bias(step: ProverStep | VerifierStep, z: np.ndarray, claim_a: np.ndarray) -> np.ndarray:
    bias = step.model.bias(step.index) if step.layer.has_weights else None
    return F.ext_sub(claim_a, bias_eval(step.layer, bias, z))


def less_residual(step: ProverStep | VerifierStep, claim: np.ndarray, residual_value) -> np.ndarray:
    """Bind the residual's y~(z) and subtract 2^residual_shift times it."""
    step.transcript.absorb_ext(f"{step.label}/residual", residual_value)
    scale = np.uint64(pow(2, step.layer.residual_shift, F.P))
    return F.ext_sub(claim, F.ext_scale(residual_value, scale))


def _linear_label(step: ProverStep | VerifierStep) -> str:
    return f"{step.label}/linear"


def _part_label(step: ProverStep | VerifierStep, position: int) -> str:
    return f"{step.label}/linear{position}"


def _parts(step: ProverStep | VerifierStep, source_part: SourcePart) -> list[tuple[int, int, Layer, object]]:
    """Per source: its channel range in the layer's input, and the map's part over it (layer, weights)."""
    layer = step.layer
    offsets = channel_offsets(source_views(step.model.input_shape, step.model.layers, layer))
    weight = _weight(step.model, step.index)
    ranges = zip(offsets[:-1], offsets[1:], strict=True)
    return [(lo, hi, *source_part(layer, weight, lo, hi)) for lo, hi in ranges]


class RequantizedOutput:
    """What every kind whose output is its requantized accumulator shares: the committed layout, the table
    width rules, the witness and the check of its requantization (``AffineKind``,
    ``gated_mul.GatedMulKind``)."""

    def commits(self, layer: Layer) -> bool:
        """A requantized layer commits (q, r, y) and its multiplicities; an accumulator output nothing."""
        return layer.requantized

    def layout(self, layer: Layer, table_bits: int) -> Layout:
        """The requantization's committed vector."""
        return requant.layout(Grid(layer.out_shape), layer.shift, table_bits)

    def check_table_bits(self, layer: Layer, bits: int, static_bits: int) -> None:
        """1 <= b <= the model's static bound on q, and b + shift within the field (``MAX_SPLIT_BITS``)."""
        bound = min(static_bits, requant.MAX_SPLIT_BITS - layer.shift)
        if not 1 <= bits <= bound:
            raise Rejected(
                f"layer {layer.name}: activation table width {bits} is outside [1, {bound}] (model bound)"
            )

    def table_bits(self, layer: Layer, q: np.ndarray | None) -> int:
        """The smallest activation table covering q."""
        return 0 if q is None else requant.act_bits_for(q)

    def witness(self, layer: Layer, x: np.ndarray, a: np.ndarray) -> tuple[AffineWitness, np.ndarray | None]:
        """Requantize a and build the lookups' multiplicities; the committed vector when requantized."""
        return requantize_witness(layer, a)

    def verify_requantization(self, step: VerifierStep, proof: object) -> None:
        """Check the layer's requantization lookups (present exactly when it requantizes) and record the
        claims they leave on its commitment."""
        layer = step.layer
        if layer.requantized:
            if not isinstance(proof, RequantProof):
                raise Rejected(f"layer {layer.name}: missing requantization proof")
            out_grid = Grid(layer.out_shape)
            step.claims.extend(
                requant.verify(
                    layer, out_grid, step.table_bits, proof, step.transcript, step.label, step.index
                )
            )
        elif proof is not None:
            raise Rejected(f"layer {layer.name}: unexpected requantization proof")


@dataclass(frozen=True)
class AffineKind(RequantizedOutput):
    """An affine layer kind: the shared proof around one module's linear map."""

    linear_map: LinearMap
    source_part: SourcePart | None = None
    """The map over one source's channels, for a map that splits over input channels (None: one source)."""
    keeps_range: ClassVar[bool] = False
    proof_types: ClassVar[tuple[type, ...]] = (
        LayerProof,
        SourcesProof,
        LinearProof,
        SumcheckProof,
        RequantProof,
        lookup.LookupProof,
        lookup.FractionSumProof,
    )

    @property
    def source_rule(self) -> str:
        """The rule "concat" when the module splits the map over channels (several sources), else "one"."""
        return "one" if self.source_part is None else "concat"

    def prove(self, step: ProverStep, w: AffineWitness) -> tuple[LayerProof, np.ndarray, np.ndarray]:
        """The layer's proof; returns it with gamma and x~(gamma)."""
        layer = step.layer
        out_grid, in_grid = Grid(layer.out_shape), Grid(layer.in_shape)
        z = output_point(step)
        q_value = r_value = None
        if w.rq is not None:
            q_value = poly.evaluate(w.rq.q, z)
            r_value = poly.evaluate(w.rq.r, z)
            claim_a = requantized_claim(step, z, q_value, r_value)
        else:
            claim_a = poly.evaluate(out_grid.pad(w.a), z)
        claim = _less_bias(step, z, claim_a)
        residual_value = None
        if layer.residual is not None:
            residual_value = poly.evaluate(out_grid.pad(step.residual), z)
            claim = less_residual(step, claim, residual_value)
            step.claim_read(layer.residual, z, residual_value)
        weight = _weight(step.model, step.index)
        if len(layer.sources) > 1:
            linear, gamma, x_value = self._prove_sources(step, z, weight)
        else:
            a, ew = self.linear_map.g_factors(layer, weight, z)
            linear, gamma, x_value, _ = prove_linear_separable(
                step.source, in_grid, a, ew, claim, step.transcript, _linear_label(step)
            )
        rq_proof = None
        if w.rq is not None:
            rq_proof, rq_claims = requant.prove(
                layer, out_grid, w.rq, step.transcript, step.label, step.index
            )
            step.claims.extend(rq_claims)
        return LayerProof(q_value, r_value, residual_value, linear, rq_proof), gamma, x_value

    def verify(self, step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
        """Check the layer's proof; returns gamma and x~(gamma)."""
        layer = step.layer
        in_grid = Grid(layer.in_shape)
        if not isinstance(proof, LayerProof):
            raise Rejected(f"layer {layer.name}: malformed layer proof")
        z = output_point(step)
        if layer.requantized:
            q_value, r_value = ext_value(proof.q_value, "q~(z)"), ext_value(proof.r_value, "r~(z)")
            claim_a = requantized_claim(step, z, q_value, r_value)
        else:
            if proof.q_value is not None or proof.r_value is not None:
                raise Rejected(f"layer {layer.name}: unexpected requantization values")
            claim_a = poly.evaluate_padded(step.output, layer.out_shape, z)
        claim = _less_bias(step, z, claim_a)
        if layer.residual is not None:
            residual_value = ext_value(proof.residual_value, "residual value")
            claim = less_residual(step, claim, residual_value)
            step.claim_read(layer.residual, z, residual_value, "residual input")
        elif proof.residual_value is not None:
            raise Rejected(f"layer {layer.name}: unexpected residual value")
        if len(layer.sources) > 1:
            gamma, x_value = self._verify_sources(step, z, claim, proof.linear)
        else:
            if not isinstance(proof.linear, LinearProof):
                raise Rejected(f"layer {layer.name}: malformed layer proof")
            gamma, x_value, final = verify_linear(
                proof.linear, claim, in_grid.num_vars, step.transcript, _linear_label(step)
            )
            g = self.linear_map.g_eval(layer, _weight(step.model, step.index), z, gamma)
            if not F.ext_eq(final, F.ext_mul(x_value, g)):
                raise Rejected(f"layer {layer.name}: linear map's final check failed")
        self.verify_requantization(step, proof.requant)
        return gamma, x_value

    def _prove_sources(
        self, step: ProverStep, z: np.ndarray, weight: np.ndarray | None
    ) -> tuple[SourcesProof, np.ndarray, np.ndarray]:
        """One linear sumcheck per source over its own channels, after binding its partial sum; records the
        claims on sources 1.. and returns source 0's point and value."""
        sums, parts, first = [], [], None
        for position, (lo, hi, part, part_weight) in enumerate(_parts(step, self.source_part)):
            a, ew = self.linear_map.g_factors(part, part_weight, z)
            label = _part_label(step, position)
            linear, gamma, x_value, partial = prove_linear_separable(
                step.source[lo:hi], Grid(part.in_shape), a, ew, None, step.transcript, label
            )
            sums.append(partial)
            parts.append(linear)
            if position == 0:
                first = (gamma, x_value)
            else:
                step.claim_source(position, gamma, x_value)
        return SourcesProof(sums, parts), *first

    def _verify_sources(
        self, step: VerifierStep, z: np.ndarray, claim: np.ndarray, proof: object
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check every source's sumcheck and that the partial sums add up to the claim; records the claims
        on sources 1.. and returns source 0's point and value."""
        layer = step.layer
        count = len(layer.sources)
        if (
            not isinstance(proof, SourcesProof)
            or len(proof.sums) != count
            or len(proof.parts) != count
            or not all(isinstance(part, LinearProof) for part in proof.parts)
        ):
            raise Rejected(f"layer {layer.name}: malformed proof of a map over {count} sources")
        total, first = F.ext_zeros(), None
        for position, (_, _, part, weight) in enumerate(_parts(step, self.source_part)):
            partial = ext_value(proof.sums[position], f"source {position}'s partial sum")
            label = _part_label(step, position)
            step.transcript.absorb_ext(f"{label}/sum", partial)
            gamma, x_value, final = verify_linear(
                proof.parts[position], partial, Grid(part.in_shape).num_vars, step.transcript, label
            )
            g = self.linear_map.g_eval(part, weight, z, gamma)
            if not F.ext_eq(final, F.ext_mul(x_value, g)):
                raise Rejected(f"layer {layer.name}: source {position}'s linear map's final check failed")
            total = F.ext_add(total, partial)
            if position == 0:
                first = (gamma, x_value)
            else:
                step.claim_source(position, gamma, x_value, f"source {position}")
        if not F.ext_eq(total, claim):
            raise Rejected(f"layer {layer.name}: the sources' partial sums do not add up to the claim")
        return first

    def working_bytes(self, layer: Layer) -> int:
        """The linear map's tables (the module's estimate)."""
        return self.linear_map.working_bytes(layer)

    def inference_bytes(self, layer: Layer) -> int:
        """The accumulator's transient bytes (the module's estimate)."""
        return self.linear_map.inference_bytes(layer)

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        """The module's weight shape."""
        return self.linear_map.weight_shape(layer)

    def out_shape(self, layer: Layer) -> Shape:
        """The module's output shape."""
        return self.linear_map.out_shape(layer)

    def validate(self, layers: list[Layer], index: int) -> None:
        """The module's rules."""
        self.linear_map.validate(layers, index)

    def evaluate(self, layer: Layer, weight: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """The module's linear map."""
        return self.linear_map.evaluate(layer, weight, x)

    def sign_sums(self, layer: Layer, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The module's sign sums."""
        return self.linear_map.sign_sums(layer, weight)

    def channel_split(self, layer: Layer) -> str:
        """How the module's map splits into blocks of output channels."""
        return self.linear_map.channel_split(layer)

    def scale_bits(self, layer: Layer) -> int:
        """The module's scale bits."""
        return self.linear_map.scale_bits(layer)
