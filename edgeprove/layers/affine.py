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
from edgeprove import sumcheck as S
from edgeprove.layers import requant
from edgeprove.layers.common import (
    Grid,
    Layout,
    LinearProof,
    linear_degrees,
    mask_eval,
    prefix_eq,
    prove_linear_separable,
    verify_linear,
)
from edgeprove.layers.kind import ProverStep, Rejected, VerifierStep, ext_value, read_randomizer
from edgeprove.layers.requant import RequantProof
from edgeprove.model import ops
from edgeprove.model.ir import Layer, Model, Shape, channel_offsets, source_views
from edgeprove.model.kinds import MapRules
from edgeprove.sumcheck import SumcheckProof
from edgeprove.zk import Hidden, PadPlan


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
    the linear map's sumcheck (one per source when it reads several), the requantization lookups (or
    None) and, in a hidden proof, the residual's sumcheck (its share of the claim, ``residual_value``, is
    then sent hidden and proven like a source's)."""

    q_value: np.ndarray | None
    r_value: np.ndarray | None
    residual_value: np.ndarray | None
    linear: LinearProof | SourcesProof
    requant: RequantProof | None
    residual: LinearProof | None


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


def prove_output_claim(
    step: ProverStep, w: AffineWitness, z: np.ndarray
) -> tuple[np.ndarray, object, object]:
    """a~(z): from q~(z), r~(z) (sent, hidden by the step's pads in a hidden proof; their openings owed)
    when requantized, else the accumulator's own MLE; returns (a~(z), q and r as sent or None)."""
    grid = Grid(step.layer.out_shape)
    if w.rq is None:
        return poly.evaluate(grid.pad(w.a), z), None, None
    q_value, r_value = poly.evaluate(w.rq.q, z), poly.evaluate(w.rq.r, z)
    sent = step.send(np.stack([q_value, r_value], axis=1), f"{step.label}/qr")
    step.claims.add(step.index, "q", z, q_value)
    step.claims.add(step.index, "r", z, r_value)
    claim = requant.accumulator_claim(step.layer.shift, grid, z, q_value, r_value)
    return claim, sent[:, 0].copy(), sent[:, 1].copy()


def verify_output_claim(step: VerifierStep, z: np.ndarray, q_value: object, r_value: object) -> Hidden:
    """The verifier's a~(z): 2^s q~(z) + r~(z) - 2^(s-1) V(z) from the values received (their openings
    owed) when requantized, else the public output's MLE."""
    layer = step.layer
    grid = Grid(layer.out_shape)
    if not layer.requantized:
        if q_value is not None or r_value is not None:
            raise Rejected(f"layer {layer.name}: unexpected requantization values")
        return Hidden.of(poly.evaluate_padded(step.output, layer.out_shape, z))
    pair = np.stack([ext_value(q_value, "q~(z)"), ext_value(r_value, "r~(z)")], axis=1)
    q, r = step.receive(pair, f"{step.label}/qr", "q~(z), r~(z)")
    step.claim_own("q", z, q)
    step.claim_own("r", z, r)
    offset = F.ext_scale(mask_eval(grid, z), np.uint64(requant.rounding_offset(layer.shift)))
    return q.times(pow(2, layer.shift, F.P)) + r - offset


def requantize_witness(
    layer: Layer, a: np.ndarray, table_bits: int | None = None
) -> tuple[AffineWitness, np.ndarray | None]:
    """Requantize a and build the lookups' multiplicities; the committed vector when requantized (shared
    by every kind whose output is a requantized accumulator), its table ``table_bits`` wide when given."""
    if not layer.requantized:
        return AffineWitness(a, a, None), None
    q, r, y = ops.requantize(layer, a)
    out_grid = Grid(layer.out_shape)
    rq, vector = requant.witness(layer, out_grid, q, r, y, table_bits)
    return AffineWitness(None, ops.compact(y), rq), vector


def _less_bias(step: ProverStep | VerifierStep, z: np.ndarray, claim_a: np.ndarray) -> np.ndarray:
    bias = step.model.bias(step.index) if step.layer.has_weights else None
    return F.ext_sub(claim_a, bias_eval(step.layer, bias, z))


def prove_residual(
    step: ProverStep, z: np.ndarray, claim: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, LinearProof | None]:
    """The claim less the residual's share, with what is sent for it: in the clear 2^t y_res~(z) (y_res~(z)
    sent, owed to the residual's opening); hidden, a share sent hidden and proven by a sumcheck of
    sum_x y^_res(x) 2^t eq(z, x) over the randomized residual (like a linear map's source).  Returns
    (claim, the value sent or None, the sumcheck or None)."""
    layer = step.layer
    if layer.residual is None:
        return claim, None, None
    grid = Grid(layer.out_shape)
    if step.pads is not None:
        a, ew = residual_factors(grid, z, layer.residual_shift)
        randomizer = step.randomizer(layer.residual)
        proof, _, _, share, sent = prove_linear_separable(
            step.residual, grid, a, ew, None, step.transcript, _residual_label(step), step.pads, randomizer
        )
        return F.ext_sub(claim, share), sent, proof
    value = poly.evaluate(grid.pad(step.residual), z)
    step.transcript.absorb_ext(f"{step.label}/residual", value)
    step.claim_read(layer.residual, z, value)
    return F.ext_sub(claim, F.ext_scale(value, np.uint64(pow(2, layer.residual_shift, F.P)))), value, None


def verify_residual(
    step: VerifierStep, z: np.ndarray, claim: Hidden, residual_value: object, residual: object
) -> Hidden:
    """The claim less the residual's share (``prove_residual``), its checks made or owed."""
    layer = step.layer
    if layer.residual is None:
        if residual_value is not None or residual is not None:
            raise Rejected(f"layer {layer.name}: unexpected residual value")
        return claim
    if not step.hidden:
        if residual is not None:
            raise Rejected(f"layer {layer.name}: unexpected residual sumcheck")
        value = ext_value(residual_value, "residual value")
        received = step.receive(value, f"{step.label}/residual", "residual value")[0]
        step.claim_read(layer.residual, z, value, "residual input")
        return claim - received.times(pow(2, layer.residual_shift, F.P))
    if not isinstance(residual, LinearProof):
        raise Rejected(f"layer {layer.name}: malformed residual proof")
    label = _residual_label(step)
    share = step.receive(ext_value(residual_value, "residual share"), f"{label}/sum", "residual share")[0]
    grid = Grid(layer.out_shape)
    randomizer = step.randomizer(layer.residual)
    gamma, value, final = verify_linear(
        residual, share, grid.num_vars, step.transcript, label, step.checker, randomizer
    )
    scale = F.ext_scale(poly.eq_eval(z, gamma), np.uint64(pow(2, layer.residual_shift, F.P)))
    step.require(final, Hidden.of(value).times(scale), "residual's final check failed")
    step.claim_randomized(layer.residual, gamma, gamma, value)
    return claim - share


def residual_plan(model: Model, layer: Layer) -> PadPlan:
    """The pads of a hidden residual: its share, then its sumcheck's rounds."""
    if layer.residual is None:
        return PadPlan()
    randomizer = read_randomizer(model, layer.residual)
    degrees = linear_degrees(Grid(layer.out_shape).num_vars, randomizer)
    return PadPlan(1).then(S.rounds_plan(degrees))


def _linear_label(step: ProverStep | VerifierStep) -> str:
    return f"{step.label}/linear"


def _residual_label(step: ProverStep | VerifierStep) -> str:
    return f"{step.label}/residual"


def residual_factors(grid: Grid, z: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """The residual's G = 2^t eq(z, .) on the output grid as separable factors (A, Ew) with one column
    offset: A[c, 0, h] = 2^t eq(z_c, c) eq(z_h, h), Ew[0, w] = eq(z_w, w)."""
    z_c, z_h, z_w = grid.split(z)
    scaled = F.ext_scale(poly.eq_table(z_c), np.uint64(pow(2, shift, F.P)))
    a = F.ext_mul(scaled[:, :, None], poly.eq_table(z_h)[:, None, :])[:, :, None, :]
    return np.ascontiguousarray(a), poly.eq_table(z_w)[:, None, :]


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

    def static_table_bits(self, layer: Layer, static_bits: int) -> int:
        """The widest table the rule allows: the model's bound on q, within the field."""
        return min(static_bits, requant.MAX_SPLIT_BITS - layer.shift) if layer.requantized else 0

    def witness(
        self, layer: Layer, x: np.ndarray, a: np.ndarray, table_bits: int | None = None
    ) -> tuple[AffineWitness, np.ndarray | None]:
        """Requantize a and build the lookups' multiplicities; the committed vector when requantized."""
        return requantize_witness(layer, a, table_bits)

    def verify_requantization(self, step: VerifierStep, proof: object) -> None:
        """Check the layer's requantization lookups (present exactly when it requantizes) and record the
        claims they leave on its commitment."""
        layer = step.layer
        if layer.requantized:
            if not isinstance(proof, RequantProof):
                raise Rejected(f"layer {layer.name}: missing requantization proof")
            out_grid = Grid(layer.out_shape)
            checker = step.checker if step.hidden else None
            step.claims.extend(
                requant.verify(
                    layer, out_grid, step.table_bits, proof, step.transcript, step.label, step.index, checker
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
        """The layer's proof (every value hidden by the step's pads in a hidden proof); returns it with
        gamma and the input value sent at gamma."""
        layer = step.layer
        out_grid, in_grid = Grid(layer.out_shape), Grid(layer.in_shape)
        z = output_point(step)
        claim_a, q_value, r_value = prove_output_claim(step, w, z)
        claim, residual_value, residual = prove_residual(step, z, _less_bias(step, z, claim_a))
        weight = _weight(step.model, step.index)
        if len(layer.sources) > 1:
            linear, gamma, x_value = self._prove_sources(step, z, weight)
        else:
            a, ew = self.linear_map.g_factors(layer, weight, z)
            linear, gamma, x_value, _, _ = prove_linear_separable(
                step.source,
                in_grid,
                a,
                ew,
                claim,
                step.transcript,
                _linear_label(step),
                step.pads,
                step.source_randomizer(0),
            )
        rq_proof = None
        if w.rq is not None:
            rq_proof, rq_claims = requant.prove(
                layer, out_grid, w.rq, step.transcript, step.label, step.index, step.pads
            )
            step.claims.extend(rq_claims)
        proof = LayerProof(q_value, r_value, residual_value, linear, rq_proof, residual)
        return proof, gamma, x_value

    def verify(self, step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
        """Check the layer's proof (each check a constraint on the pads in a hidden proof); returns gamma
        and the input value sent at gamma."""
        layer = step.layer
        in_grid = Grid(layer.in_shape)
        if not isinstance(proof, LayerProof):
            raise Rejected(f"layer {layer.name}: malformed layer proof")
        z = output_point(step)
        claim = verify_output_claim(step, z, proof.q_value, proof.r_value)
        claim = claim - bias_eval(layer, step.model.bias(step.index) if layer.has_weights else None, z)
        claim = verify_residual(step, z, claim, proof.residual_value, proof.residual)
        if len(layer.sources) > 1:
            gamma, x_value = self._verify_sources(step, z, claim, proof.linear)
        else:
            if not isinstance(proof.linear, LinearProof):
                raise Rejected(f"layer {layer.name}: malformed layer proof")
            randomizer = step.source_randomizer(0)
            gamma, x_value, final = verify_linear(
                proof.linear,
                claim,
                in_grid.num_vars,
                step.transcript,
                _linear_label(step),
                step.checker,
                randomizer,
            )
            g = self.linear_map.g_eval(layer, _weight(step.model, step.index), z, gamma)
            step.require(final, Hidden.of(x_value).times(g), "linear map's final check failed")
        self.verify_requantization(step, proof.requant)
        return gamma, x_value

    def pad_plan(self, model: Model, index: int, table_bits: int) -> PadPlan:
        """The values a hidden proof of the layer sends, in order: q~(z) and r~(z), the residual's share
        and sumcheck, each source's share (when several) and sumcheck, the requantization lookups."""
        layer = model.layers[index]
        plan = PadPlan(2 if layer.requantized else 0).then(residual_plan(model, layer))
        views = source_views(model.input_shape, model.layers, layer)
        for position, view in enumerate(views):
            randomizer = read_randomizer(model, layer.sources[position], layer.factors[position])
            share = PadPlan(1 if len(views) > 1 else 0)
            plan = plan.then(share).then(S.rounds_plan(linear_degrees(Grid(view).num_vars, randomizer)))
        if layer.requantized:
            plan = plan.then(requant.hidden_plan(layer, Grid(layer.out_shape), table_bits))
        return plan

    def _prove_sources(
        self, step: ProverStep, z: np.ndarray, weight: np.ndarray | None
    ) -> tuple[SourcesProof, np.ndarray, np.ndarray]:
        """One linear sumcheck per source over its own channels, after binding its partial sum (hidden in a
        hidden proof); records the claims on sources 1.. and returns source 0's point and value."""
        sums, parts, first = [], [], None
        for position, (lo, hi, part, part_weight) in enumerate(_parts(step, self.source_part)):
            a, ew = self.linear_map.g_factors(part, part_weight, z)
            label = _part_label(step, position)
            linear, gamma, x_value, _, sent = prove_linear_separable(
                step.source[lo:hi],
                Grid(part.in_shape),
                a,
                ew,
                None,
                step.transcript,
                label,
                step.pads,
                step.source_randomizer(position),
            )
            sums.append(sent)
            parts.append(linear)
            if position == 0:
                first = (gamma, x_value)
            else:
                step.claim_source(position, gamma, x_value)
        return SourcesProof(sums, parts), *first

    def _verify_sources(
        self, step: VerifierStep, z: np.ndarray, claim: Hidden, proof: object
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
        total, first = Hidden(), None
        for position, (_, _, part, weight) in enumerate(_parts(step, self.source_part)):
            label = _part_label(step, position)
            sent = ext_value(proof.sums[position], f"source {position}'s partial sum")
            partial = step.receive(sent, f"{label}/sum", f"source {position}'s partial sum")[0]
            gamma, x_value, final = verify_linear(
                proof.parts[position],
                partial,
                Grid(part.in_shape).num_vars,
                step.transcript,
                label,
                step.checker,
                step.source_randomizer(position),
            )
            g = self.linear_map.g_eval(part, weight, z, gamma)
            step.require(
                final, Hidden.of(x_value).times(g), f"source {position}'s linear map's final check failed"
            )
            total = total + partial
            if position == 0:
                first = (gamma, x_value)
            else:
                step.claim_source(position, gamma, x_value, f"source {position}")
        step.require(total, claim, "the sources' partial sums do not add up to the claim")
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
