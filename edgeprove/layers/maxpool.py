"""Max pooling y[c,i,j] = max_{u,v<k} x[c, s*i+u-p, s*j+v-p], proven without comparisons in the circuit;
positions in the padding p count as -128, the int8 minimum (ONNX pads with -inf, and every window holds at
least one input value since p < k, so the maximum is the same).

The prover commits y, the differences d_uv = y - x_uv (one slice per window offset, stacked; slices padded
to a power of two stay zero) and range-table multiplicities.  Three checks:
  1. linear: at a random z and with random lambda, sum_uv lambda_uv (y~(z) - d_uv~(z)) equals
     sum_x x(x) G(x) - 128 sum_uv lambda_uv P_uv~(z) with G = eq(z_c) * sum_uv lambda_uv Eh_u(z_h) Ew_v(z_w)
     (the conv shift tables) and P_uv the public indicator of the output positions whose offset (u, v)
     falls in the padding; one sumcheck that ends in an opening of the input, as for every linear map;
  2. every d_uv is in [0, 2^8) at valid positions (LogUp-GKR), so y >= every x_uv;
  3. prod_uv d_uv = 0 at every position: sum_pos eq(rho, pos) prod_uv d_uv(pos) = 0 (one sumcheck of degree
     k^2 + 1), so y equals one of the x_uv.  Hence y is exactly the window maximum.

Model side: kernel k, stride s, padding p < k, no weights, no residual; out_shape (C, H', W') with
H' = (H + 2p - k) // s + 1.  It does not rescale: shift is 0, so q = a, r = 0, and its activation and act_max
must give exactly its source's value range (the model input's range is that of clamp with act_max 127);
then y = clamp(q, lo, act_max) = a, and the quantizer gives it its source's out_frac (``keeps_range``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeprove import field as F
from edgeprove import lookup, poly
from edgeprove import sumcheck as S
from edgeprove.claims import Claim
from edgeprove.layers.common import (
    LINEAR_BYTES_PER_INPUT,
    Grid,
    Layout,
    LinearProof,
    linear_degrees,
    mask_eval,
    prefix_eq,
    prove_linear,
    verify_linear,
)
from edgeprove.layers.conv2d import shift_tables
from edgeprove.layers.kind import ProverStep, Rejected, VerifierStep, read_randomizer
from edgeprove.model.bounds import window_sign_sums
from edgeprove.model.ir import (
    INPUT_RANGE,
    Layer,
    ModelError,
    Shape,
    activation_range,
    check_no_groups,
    check_square_window,
    conv_out_size,
    value_range,
)
from edgeprove.zk import Hidden, PadPlan, combination

RANGE_BITS = 8
"""y - x_uv lies in [0, 255] for int8 activations."""
PAD_VALUE = INPUT_RANGE[0]
"""The value a position in the padding counts as: -128, the int8 minimum."""


def offsets(layer) -> list[tuple[int, int]]:
    """The window offsets (u, v), in the order of the stacked difference slices."""
    return [(u, v) for u in range(layer.kernel) for v in range(layer.kernel)]


def slice_bits(layer) -> int:
    """Variables selecting a difference slice (k^2 slices padded to a power of two)."""
    return poly.num_vars(poly.next_pow2(layer.kernel * layer.kernel))


def layout(layer) -> Layout:
    """The committed vector of a max-pool layer: y, the stacked differences, the range multiplicities."""
    n = Grid(layer.out_shape).num_vars
    return Layout.of({"y": n, "d": n + slice_bits(layer), "m_rng": RANGE_BITS})


def window_values(layer, x: np.ndarray) -> np.ndarray:
    """x_uv[c, i, j] = x[c, s*i+u-p, s*j+v-p] for every offset (PAD_VALUE in the padding), shape
    (k*k, C, Ho, Wo)."""
    _, ho, wo = layer.out_shape
    s, p = layer.stride, layer.padding
    x = np.pad(x, ((0, 0), (p, p), (p, p)), constant_values=PAD_VALUE)
    return np.stack(
        [x[:, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s] for u, v in offsets(layer)]
    )


@dataclass
class MaxPoolWitness:
    """The output y, and y and the stacked differences as base tables on the padded grid, and the range
    multiplicities."""

    y: np.ndarray
    y_table: np.ndarray
    d_table: np.ndarray
    mult: np.ndarray

    @property
    def table_bits(self) -> int:
        """The range table width the commitment section names."""
        return RANGE_BITS


def _d_mask(layer) -> np.ndarray:
    """The stacked differences' valid positions (uint8): every window slice's output mask, then zeros."""
    out = Grid(layer.out_shape)
    slices = 1 << slice_bits(layer)
    mask = np.zeros((slices, out.size), dtype=np.uint8)
    mask[: layer.kernel * layer.kernel] = out.mask()
    return mask.ravel()


def witness(layer, x: np.ndarray, y: np.ndarray) -> MaxPoolWitness:
    """Differences and multiplicities (the prover refuses if y is not the window maximum's upper bound)."""
    out = Grid(layer.out_shape)
    diffs = y[None] - window_values(layer, x)
    table = np.zeros((1 << slice_bits(layer), out.size), dtype=np.uint64)
    for i, d in enumerate(diffs):
        table[i] = out.pad(d)
    d_table = table.ravel()
    mult = lookup.multiplicities([d_table], _d_mask(layer), [lookup.range_table(RANGE_BITS)])
    return MaxPoolWitness(y, out.pad(y), d_table, mult)


def committed_vector(w: MaxPoolWitness, layer) -> np.ndarray:
    """The base-field vector the layer commits to."""
    return layout(layer).assemble({"y": w.y_table, "d": w.d_table, "m_rng": F.asbase(w.mult)})


@dataclass
class MaxPoolProof:
    """Opened y~(z) and d_uv~(z); the linear sumcheck; the product sumcheck and its final d values; the
    range lookup; in a hidden proof the product's partial products d_1 d_2, d_1 d_2 d_3, ... but the
    last (4, k^2 - 2), so that each step of the product is one product of two hidden values."""

    y_value: np.ndarray
    d_values: np.ndarray
    linear: LinearProof
    product: S.SumcheckProof
    product_finals: np.ndarray
    range_lookup: lookup.LookupProof
    partials: np.ndarray


def _slice_point(layer, index: int, z: np.ndarray) -> np.ndarray:
    bits = slice_bits(layer)
    sel = np.array([(index >> (bits - 1 - b)) & 1 for b in range(bits)], dtype=np.uint64)
    return poly.concat_points(F.ext_from_base(sel), z)


def _g_factors(layer, z: np.ndarray, lam: np.ndarray):
    out, inp = Grid(layer.out_shape), Grid(layer.in_shape)
    z_c, z_h, z_w = out.split(z)
    k, s, p = layer.kernel, layer.stride, layer.padding
    eh = shift_tables(z_h, out.shape[1], inp.shape[1], k, s, p)  # (4, k, H')
    ew = shift_tables(z_w, out.shape[2], inp.shape[2], k, s, p)  # (4, k, W')
    return prefix_eq(z_c, inp.shape[0]), eh, ew, lam.reshape(F.EXT_DEGREE, k, k)


def window_g_table(layer, z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """G[c,h,w] = eq(z_c, c) sum_uv lambda_uv Eh_u[h] Ew_v[w] on the padded input grid."""
    eq_c, eh, ew, lam = _g_factors(layer, z, lam)
    inp = Grid(layer.in_shape)
    k = layer.kernel
    plane = F.ext_zeros((eh.shape[2], ew.shape[2]))
    for u in range(k):
        row = F.ext_zeros(ew.shape[2])
        for v in range(k):
            row = F.ext_add(row, F.ext_mul(ew[:, v], lam[:, u, v].reshape(F.EXT_DEGREE, 1)))
        plane = F.ext_add(plane, F.ext_mul(eh[:, u, :, None], row[:, None, :]))
    cp, hp, wp = inp.padded
    g = np.zeros((F.EXT_DEGREE, cp, hp, wp), dtype=np.uint32)  # compact storage (``sumcheck.prove``)
    step = max(1, poly.FOLD_SLICE // (hp * wp))  # channels at a time: temporaries of a few MiB
    for start in range(0, inp.shape[0], step):
        part = slice(start, min(inp.shape[0], start + step))
        g[:, part] = F.ext_mul(eq_c[:, part, None, None], plane[:, None, :, :])
    return g.reshape(F.EXT_DEGREE, -1)


def window_g_eval(layer, z: np.ndarray, lam: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable: eq_c~(gamma_c) * sum_uv lambda_uv Eh_u~(gamma_h) Ew_v~(gamma_w)."""
    eq_c, eh, ew, lam = _g_factors(layer, z, lam)
    g_c, g_h, g_w = Grid(layer.in_shape).split(gamma)
    eh_g = F.ext_sum(F.ext_mul(eh, poly.eq_table(g_h)[:, None, :]), axis=1)  # (4, k)
    ew_g = F.ext_sum(F.ext_mul(ew, poly.eq_table(g_w)[:, None, :]), axis=1)  # (4, k)
    inner = F.ext_sum(
        F.ext_sum(F.ext_mul(F.ext_mul(lam, eh_g[:, :, None]), ew_g[:, None, :]), axis=1), axis=0
    )
    return F.ext_mul(F.ext_inner(eq_c, prefix_eq(g_c, eq_c.shape[1])), inner)


def padding_term(layer, z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """-PAD_VALUE * sum_uv lambda_uv P_uv~(z), where P_uv marks the valid output positions whose offset (u, v)
    reads the padding: P_uv~(z) = eq_c(z_c) (V_h(z_h) V_w(z_w) - S_u(z_h) T_v(z_w)), with S_u, T_v the sums
    of the shift tables (the positions whose offset lands inside the input).  Zero without padding."""
    if layer.padding == 0:
        return F.ext_zeros()
    out, inp = Grid(layer.out_shape), Grid(layer.in_shape)
    z_c, z_h, z_w = out.split(z)
    k, s, p = layer.kernel, layer.stride, layer.padding
    inside_h = F.ext_sum(shift_tables(z_h, out.shape[1], inp.shape[1], k, s, p), axis=1)  # (4, k)
    inside_w = F.ext_sum(shift_tables(z_w, out.shape[2], inp.shape[2], k, s, p), axis=1)  # (4, k)
    all_hw = F.ext_mul(F.ext_sum(prefix_eq(z_h, out.shape[1])), F.ext_sum(prefix_eq(z_w, out.shape[2])))
    padded = F.ext_sub(
        all_hw.reshape(F.EXT_DEGREE, 1, 1), F.ext_mul(inside_h[:, :, None], inside_w[:, None, :])
    )
    lam = lam.reshape(F.EXT_DEGREE, k, k)
    total = F.ext_sum(F.ext_sum(F.ext_mul(lam, padded), axis=1), axis=0)
    total = F.ext_mul(total, F.ext_sum(prefix_eq(z_c, out.shape[0])))
    return F.ext_scale(total, np.uint64(-PAD_VALUE))


def _product_terms(count: int) -> list[S.Term]:
    return [(1, tuple(range(count + 1)))]


def prove(step: ProverStep, w: MaxPoolWitness) -> tuple[MaxPoolProof, np.ndarray, np.ndarray]:
    """The three relations (every value hidden by the step's pads in a hidden proof); returns the proof,
    gamma and the input value sent at gamma, and records the claims on this layer's commitment."""
    layer, transcript, label = step.layer, step.transcript, step.label
    out = Grid(layer.out_shape)
    count = layer.kernel * layer.kernel
    slices = w.d_table.reshape(1 << slice_bits(layer), out.size)
    z = transcript.challenge_ext_vec(f"{label}/z", out.num_vars)
    y_value = poly.evaluate(w.y_table, z)
    d_values = np.stack([poly.evaluate(slices[i], z) for i in range(count)], axis=1)
    sent_yd = step.send(np.concatenate([y_value[:, None], d_values], axis=1), f"{label}/yd")
    lam = transcript.challenge_ext_vec(f"{label}/lambda", count)
    claim = F.ext_add(_linear_claim(y_value, d_values, lam), padding_term(layer, z, lam))
    tables = [Grid(layer.in_shape).pad(step.source), window_g_table(layer, z, lam)]
    linear, gamma, x_value = prove_linear(
        tables, claim, transcript, f"{label}/linear", step.pads, step.source_randomizer(0)
    )
    rho = transcript.challenge_ext_vec(f"{label}/rho", out.num_vars)
    tables = [poly.eq_table(rho)] + [slices[i] for i in range(count)]
    product, rho2, finals, _ = S.prove(
        tables,
        _product_terms(count),
        count + 1,
        transcript,
        f"{label}/product",
        claim=F.ext_zeros(),
        consume=True,
        pads=step.pads,
    )
    product_finals = np.stack(finals[1:], axis=1)
    sent_finals = step.send(product_finals, f"{label}/product_finals")
    partials = F.ext_zeros((0,))
    if step.pads is not None:
        partials = step.send(_partial_products(product_finals), f"{label}/partials")
    range_proof, found = lookup.prove_lookups(
        [lookup.Lookup([w.d_table], _d_mask(layer), [lookup.range_table(RANGE_BITS)], w.mult)],
        transcript,
        f"{label}/range",
        pads=step.pads,
    )
    y_sent, d_sent = sent_yd[:, 0].copy(), sent_yd[:, 1:].copy()
    proof = MaxPoolProof(y_sent, d_sent, linear, product, sent_finals, range_proof, partials)
    step.claims.extend(
        _claims(step.index, layer, z, y_value, list(d_values.T), rho2, list(product_finals.T), found[0])
    )
    return proof, gamma, x_value


def _partial_products(finals: np.ndarray) -> np.ndarray:
    """d_1 d_2, d_1 d_2 d_3, ... of the final values (4, k^2), all but the whole product (4, k^2 - 2)."""
    out, running = [], finals[:, 0]
    for i in range(1, finals.shape[1] - 1):
        running = F.ext_mul(running, finals[:, i])
        out.append(running)
    return np.stack(out, axis=1) if out else F.ext_zeros((0,))


def verify(step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
    """Check the three relations (Rejected on failure; constraints on the pads in a hidden proof);
    returns gamma and the input value sent at gamma, and records the claims on this layer's
    commitment."""
    layer, transcript, label = step.layer, step.transcript, step.label
    if not isinstance(proof, MaxPoolProof):
        raise Rejected(f"layer {layer.name}: malformed max-pool proof")
    where = f"layer {layer.name}: {label}"
    out = Grid(layer.out_shape)
    count = layer.kernel * layer.kernel
    partial_count = max(0, count - 2) if step.hidden else 0
    for value, shape, what in (
        (proof.y_value, (F.EXT_DEGREE,), "y value"),
        (proof.d_values, (F.EXT_DEGREE, count), "difference values"),
        (proof.product_finals, (F.EXT_DEGREE, count), "product values"),
        (proof.partials, (F.EXT_DEGREE, partial_count), "partial products"),
    ):
        if not isinstance(value, np.ndarray) or value.shape != shape:
            raise Rejected(f"{where}: malformed {what}")
    if not isinstance(proof.linear, LinearProof) or not isinstance(proof.product, S.SumcheckProof):
        raise Rejected(f"{where}: malformed proof")
    z = transcript.challenge_ext_vec(f"{label}/z", out.num_vars)
    y_value, *d_values = step.receive(
        np.concatenate([proof.y_value[:, None], proof.d_values], axis=1), f"{label}/yd", "y and d values"
    )
    lam = transcript.challenge_ext_vec(f"{label}/lambda", count)
    claim = combination(list(lam.T), [y_value - d for d in d_values]) + padding_term(layer, z, lam)
    gamma, x_value, final = verify_linear(
        proof.linear,
        claim,
        Grid(layer.in_shape).num_vars,
        transcript,
        f"{label}/linear",
        step.checker,
        step.source_randomizer(0),
    )
    step.require(
        final,
        Hidden.of(x_value).times(window_g_eval(layer, z, lam, gamma)),
        f"{label}: window differences do not match the input",
    )
    rho = transcript.challenge_ext_vec(f"{label}/rho", out.num_vars)
    rho2, final = S.verify_hidden(
        Hidden(), out.num_vars, count + 1, proof.product, transcript, f"{label}/product", step.checker
    )
    finals = step.receive(proof.product_finals, f"{label}/product_finals", "product values")
    partials = iter(
        step.receive(proof.partials, f"{label}/partials", "partial products") if step.hidden else []
    )
    running = finals[0]
    for i in range(1, count):
        running = step.checker.product(running, finals[i])
        if step.hidden and i < count - 1:  # each partial product hidden, so the next is of two hidden values
            sent = next(partials)
            step.require(sent, running, f"{label}: partial product {i}")
            running = sent
    step.require(
        final,
        running.times(poly.eq_eval(rho, rho2)),
        f"{label}: the maximum is not one of the window's values",
    )
    statement = lookup.LookupStatement(
        out.num_vars + slice_bits(layer),
        RANGE_BITS,
        lambda zeta: _d_mask_eval(layer, zeta),
        lambda zeta: [lookup.range_mle(zeta)],
    )
    if step.hidden:
        found = lookup.verify_lookups_hidden(
            [statement], [1], proof.range_lookup, transcript, f"{label}/range", step.checker
        )
    else:
        found = lookup.verify_lookups([statement], proof.range_lookup, transcript, f"{label}/range")
    own = _claims(step.index, layer, z, y_value, d_values, rho2, finals, found[0])
    for claim in own:
        step.claim_own(claim.segment, claim.point, claim.value)
    return gamma, x_value


def pad_plan(model, index: int) -> PadPlan:
    """The values a hidden max-pool proof sends, in order, and its products: y and the d values, the
    linear rounds, the product rounds, the final d values and the partial products (each step of the
    product one product of two of them), the range lookup."""
    layer = model.layers[index]
    count = layer.kernel * layer.kernel
    out_vars = Grid(layer.out_shape).num_vars
    randomizer = read_randomizer(model, layer.source, layer.factors[0])
    linear = S.rounds_plan(linear_degrees(Grid(layer.in_shape).num_vars, randomizer))
    partials = max(0, count - 2)
    products, running = [], 0  # finals are values 0 .. count - 1, the partials count .. count + partials - 1
    for i in range(1, count):
        products.append((running, i))
        running = count + i - 1
    finals = PadPlan(count + partials, tuple(products))
    lookup_plan = lookup.hidden_plan([(out_vars + slice_bits(layer), RANGE_BITS, 1)])
    plan = PadPlan(1 + count).then(linear).then(S.rounds_plan([count + 1] * out_vars))
    return plan.then(finals).then(lookup_plan)


def _d_mask_eval(layer, zeta: np.ndarray) -> np.ndarray:
    """MLE of the stacked difference mask: valid positions of the first k^2 slices."""
    bits = slice_bits(layer)
    selector = F.ext_sum(prefix_eq(zeta[:, :bits], layer.kernel * layer.kernel))
    return F.ext_mul(selector, mask_eval(Grid(layer.out_shape), zeta[:, bits:]))


def _linear_claim(y_value, d_values, lam) -> np.ndarray:
    """sum_uv lambda_uv (y~(z) - d_uv~(z))."""
    diffs = F.ext_sub(np.asarray(y_value).reshape(F.EXT_DEGREE, 1), d_values)
    return F.ext_inner(diffs, lam) if lam.shape[1] else F.ext_zeros()


def _claims(
    tensor: int, layer, z, y_value, d_values: list, rho2, product_finals: list, rng: lookup.LookupClaims
) -> list[Claim]:
    """The claims the layer's proof leaves on its own commitment (values arrays, or ``Hidden``)."""
    claims = [Claim(tensor, "y", z, y_value)]
    for i, (at_z, at_rho) in enumerate(zip(d_values, product_finals)):
        claims.append(Claim(tensor, "d", _slice_point(layer, i, z), at_z))
        claims.append(Claim(tensor, "d", _slice_point(layer, i, rho2), at_rho))
    claims += [Claim(tensor, "d", z, v) for z, v in rng.column_openings(0)]
    claims += [Claim(tensor, "m_rng", z, v) for z, v in rng.multiplicity_openings()]
    return claims


RANGE_LOOKUP_BYTES_PER_LEAF = 64
"""The difference range lookup's trees and level tables per stacked leaf (fitted: resnet18's stem pool)."""


def working_bytes(layer) -> int:
    """The differences (base) and their mask (a byte each), plus the largest of the three sequential phases:
    the window sumcheck on the input, the product sumcheck (eq in K, the slices' first folds in compact K)
    and one pass of the range lookup."""
    out = Grid(layer.out_shape)
    stacked = out.size << slice_bits(layer)
    linear = LINEAR_BYTES_PER_INPUT * Grid(layer.in_shape).size
    product = (32 + 8 * layer.kernel * layer.kernel) * out.size
    lookup_pass = RANGE_LOOKUP_BYTES_PER_LEAF * min(stacked, lookup.TILING.pass_leaves)
    return 9 * stacked + max(linear, product, lookup_pass)


def window_max(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Maximum over kernel x kernel windows at the given stride of a float batch x (C, N, H, W) padded with
    -inf (every window holds an input value when padding < kernel)."""
    if padding:
        pads = ((0, 0), (0, 0), (padding, padding), (padding, padding))
        x = np.pad(x, pads, constant_values=-np.inf)
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    out = None
    for u in range(kernel):
        for v in range(kernel):
            rows = slice(u, u + stride * (out_h - 1) + 1, stride)
            cols = slice(v, v + stride * (out_w - 1) + 1, stride)
            window = x[:, :, rows, cols]
            out = window.copy() if out is None else np.maximum(out, window, out=out)
    return out


class MaxPoolKind:
    """Max pooling as a layer kind: it always commits (y, the differences, the range multiplicities)."""

    keeps_range: ClassVar[bool] = True
    source_rule: ClassVar[str] = "one"
    """Its outputs are values of its input: the quantizer gives it its source's range and scale."""

    proof_types: ClassVar[tuple[type, ...]] = (
        MaxPoolProof,
        LinearProof,
        S.SumcheckProof,
        lookup.LookupProof,
        lookup.FractionSumProof,
    )

    def commits(self, layer: Layer) -> bool:
        """Always: the differences and the output are committed."""
        return True

    def layout(self, layer: Layer, table_bits: int) -> Layout:
        """The committed vector (its range table width is fixed)."""
        return layout(layer)

    def check_table_bits(self, layer: Layer, bits: int, static_bits: int) -> None:
        """The range table is exactly RANGE_BITS wide."""
        if bits != RANGE_BITS:
            raise Rejected(f"layer {layer.name}: max-pool range width {bits} is not {RANGE_BITS}")

    def table_bits(self, layer: Layer, q: np.ndarray | None) -> int:
        """RANGE_BITS, whatever the values."""
        return RANGE_BITS

    def static_table_bits(self, layer: Layer, static_bits: int) -> int:
        """RANGE_BITS."""
        return RANGE_BITS

    def witness(
        self, layer: Layer, x: np.ndarray, a: np.ndarray, table_bits: int | None = None
    ) -> tuple[MaxPoolWitness, np.ndarray]:
        """Differences and multiplicities, and the vector to commit (the width is always RANGE_BITS)."""
        w = witness(layer, x, a)
        return w, committed_vector(w, layer)

    def pad_plan(self, model, index: int, table_bits: int) -> PadPlan:
        """See ``pad_plan``."""
        return pad_plan(model, index)

    def prove(self, step: ProverStep, w: MaxPoolWitness) -> tuple[MaxPoolProof, np.ndarray, np.ndarray]:
        """See ``prove``."""
        return prove(step, w)

    def verify(self, step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
        """See ``verify``."""
        return verify(step, proof)

    def working_bytes(self, layer: Layer) -> int:
        """See ``working_bytes``."""
        return working_bytes(layer)

    def inference_bytes(self, layer: Layer) -> int:
        """No transient beyond the tensors the planner already counts."""
        return 0

    def weight_shape(self, layer: Layer) -> None:
        """None: max pooling has no weights."""
        return None

    def out_shape(self, layer: Layer) -> Shape:
        """(C, H', W') with H' = (H + 2 padding - k) // stride + 1."""
        c, h, w = layer.in_shape
        return (
            c,
            conv_out_size(h, layer.kernel, layer.stride, layer.padding),
            conv_out_size(w, layer.kernel, layer.stride, layer.padding),
        )

    def validate(self, layers: list[Layer], index: int) -> None:
        """Refuse a max pool that pads a whole window, rescales, adds a residual or changes its source's
        value range."""
        layer = layers[index]
        where = f"layer {layer.name}"
        if layer.shift != 0 or layer.residual is not None:
            raise ModelError(f"{where}: maxpool takes no shift or residual")
        if layer.padding >= layer.kernel:
            raise ModelError(f"{where}: padding must be smaller than the kernel")
        check_no_groups(layer)
        check_square_window(layer)
        if layer.activation not in ("relu", "clamp"):
            raise ModelError(
                f"{where}: maxpool needs activation relu or clamp (its source's range; relu after a sigmoid)"
            )
        source_range = value_range(layers, layer.source)
        if activation_range(layer) != source_range:
            raise ModelError(
                f"{where}: maxpool range {activation_range(layer)} differs from its source's "
                f"{source_range} (set activation and act_max to the source's)"
            )

    def evaluate(self, layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
        """The window maxima of a batch x (C, N, H, W), in float64."""
        return window_max(x.astype(np.float64, copy=False), layer.kernel, layer.stride, layer.padding)

    def sign_sums(self, layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
        """An output is one of its inputs, so it counts as a single coefficient 1."""
        return window_sign_sums(layer, 1)

    def scale_bits(self, layer: Layer) -> int:
        """0: the maximum keeps its input's scale."""
        return 0

    def channel_split(self, layer: Layer) -> str:
        """ "channels": each channel's windows are its own."""
        return "channels"
