"""Shared pieces of every layer proof: padded tensor geometry, valid-position masks, exact weight folds,
and the phase-1 sumcheck sum_x x(x) * G(x) that every linear map (dense, conv, pools) reduces to.

A tensor of shape (C, H, W) lives on the padded grid (C', H', W') (each axis the next power of two);
its MLE has n_c + n_h + n_w variables in that order.  Entries at padded positions are never read by a
consumer (every linear map has zero coefficients there), so only valid positions carry meaning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove import sumcheck as S
from edgeprove.model.ir import Layer, Shape
from edgeprove.transcript import Transcript
from edgeprove.zk import Checker, Hidden, PadSource, send

FOLD_CHUNK_VALUES = 1 << 19
"""Weights folded per chunk (4 MiB as float64): the float copy of a weight chunk stays small."""


@dataclass(frozen=True)
class Grid:
    """A (C, H, W) tensor shape and its power-of-two padding."""

    shape: tuple[int, int, int]

    @property
    def padded(self) -> tuple[int, int, int]:
        """Each axis rounded up to a power of two."""
        return tuple(poly.next_pow2(s) for s in self.shape)  # type: ignore[return-value]

    @property
    def bits(self) -> tuple[int, int, int]:
        """Variables per axis of the MLE."""
        return tuple(poly.num_vars(s) for s in self.padded)  # type: ignore[return-value]

    @property
    def num_vars(self) -> int:
        """Variables of the whole tensor's MLE."""
        return sum(self.bits)

    @property
    def size(self) -> int:
        """Entries of the padded tensor."""
        return int(np.prod(self.padded))

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A point on this grid split into its (c, h, w) variable blocks."""
        bc, bh, _ = self.bits
        return z[:, :bc], z[:, bc : bc + bh], z[:, bc + bh :]

    def pad(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Signed integer tensor -> flat base-field table on the padded grid (zeros at padding), written into
        ``out`` (a zeroed flat segment of that length, e.g. of a committed vector) when given."""
        c, h, w = self.shape
        table = np.zeros(self.padded, dtype=np.uint64) if out is None else out.reshape(self.padded)
        table[:c, :h, :w] = F.asbase(np.asarray(values).reshape(self.shape))  # only the values are converted
        return table.ravel()

    def flat_index(self) -> np.ndarray:
        """Padded flat index of every unpadded position, in unpadded C order."""
        c, h, w = self.shape
        _, hp, wp = self.padded
        cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
        return (cc * hp * wp + hh * wp + ww).ravel()

    def mask(self) -> np.ndarray:
        """0/1 table (uint8: a byte per entry) of the valid positions on the padded grid."""
        c, h, w = self.shape
        out = np.zeros(self.padded, dtype=np.uint8)
        out[:c, :h, :w] = 1
        return out.ravel()


def source_point(view: Shape, factor: int, gamma: np.ndarray) -> np.ndarray:
    """The point on a source's own grid where its MLE equals its upsampled view's MLE at gamma (a point on
    the view's grid).  On power-of-two padded grids x_up[c, 2i+a, 2j+b] = x[c, i, j] everywhere, padding
    included (next_pow2(2n) = 2 next_pow2(n), and both pad with zeros), so summing eq over a and b leaves
    x~ at gamma with each spatial axis's least significant variable dropped."""
    if factor == 1:
        return gamma
    g_c, g_h, g_w = Grid(view).split(gamma)
    return np.concatenate([g_c, g_h[:, :-1], g_w[:, :-1]], axis=1)


def channel_part(layer: Layer, lo: int, hi: int) -> Layer:
    """The layer restricted to input channels [lo, hi) of its concatenated input (one source's share of a
    map over several sources): same output and window, one source, no residual."""
    _, h, w = layer.in_shape
    return dataclasses.replace(
        layer, in_shape=(hi - lo, h, w), extra_sources=(), upsample=(), residual=None, residual_shift=0
    )


def prefix_eq(z: np.ndarray, length: int) -> np.ndarray:
    """eq(z, i) for i < length (the valid prefix of one axis), shape (4, length)."""
    return poly.eq_table(z)[:, :length]


def mask_eval(grid: Grid, z: np.ndarray) -> np.ndarray:
    """V(z): MLE of the valid-position mask, separable per axis, O(C + H + W)."""
    out = F.ext_ones()
    for block, size in zip(grid.split(z), grid.shape):
        out = F.ext_mul(out, poly.eq_prefix_sum(block, size))
    return out


def fold_rows(eq: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """eq^T W mod p for a K vector eq (4, R) and small signed integer weights W (R, N) -> (4, N).

    Exact float64 BLAS: eq's limbs are split into 16-bit halves, so each product is below 2^16 * 2^7 and
    a chunk of at most 2^19 rows sums far below 2^53.  Weights are read in row chunks (memory-mapped files
    stay on disk until touched), and never copied whole.
    """
    rows, n = weights.shape
    if eq.shape[1] != rows:
        raise ValueError("eq length does not match the weight rows")
    lo_acc = np.zeros((F.EXT_DEGREE, n), dtype=np.int64)
    hi_acc = np.zeros((F.EXT_DEGREE, n), dtype=np.int64)
    step = max(1, FOLD_CHUNK_VALUES // max(n, 1))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        chunk = np.asarray(weights[start:stop], dtype=np.float64)
        e = eq[:, start:stop]
        lo = (e & np.uint64(0xFFFF)).astype(np.float64)
        hi = (e >> np.uint64(16)).astype(np.float64)
        lo_acc += (lo @ chunk).astype(np.int64)
        hi_acc += (hi @ chunk).astype(np.int64)
        lo_acc %= F.P
        hi_acc %= F.P
        del chunk  # one float chunk at a time: the next is not built beside it
    return ((lo_acc + (hi_acc << 16)) % F.P).astype(np.uint64)


@dataclass
class LinearProof:
    """Phase-1 sumcheck of sum_x x(x) G(x) and the claimed input value x~(gamma)."""

    sumcheck: S.SumcheckProof
    input_value: np.ndarray


LINEAR_BYTES_PER_INPUT = 36
"""The linear sumcheck's tables per padded input entry: G (K as uint32, 16 B), the padded input (8 B) and
its first fold (K as uint32, half: 8 B), and a round's slices (``sumcheck.SLICE``); K tables fold in place.
Fitted to mobilenetv2's depthwise layers (VmHWM)."""


def prove_linear(
    tables: list[np.ndarray],
    claim: np.ndarray,
    transcript: Transcript,
    label: str,
    pads: PadSource | None = None,
    randomizer: Randomizer | None = None,
) -> tuple[LinearProof, np.ndarray, np.ndarray]:
    """Prove sum_x x(x) G(x) = claim for ``tables`` [x, G], which it takes (the list is emptied, so the
    input's two largest tables are freed as they fold); returns (proof, gamma, the input value sent).
    With ``pads`` every round is hidden; with a ``randomizer`` the sum is over x^ (``Randomizer``) and the
    value sent is x^(gamma)."""
    terms = [(1, (0, 1))]
    given, tables = tables, list(tables)
    given.clear()
    num_vars = poly.num_vars(tables[0].shape[-1])
    head = num_vars if randomizer is None else randomizer.start
    rounds, points, _, current = S.prove_rounds(
        tables, terms, 2, head, transcript, label, claim=claim, consume=True, pads=pads
    )
    degree = 2
    if randomizer is not None:
        tables, terms = _with_randomizer(tables, randomizer, head, num_vars)
        degree += max(randomizer.powers)
    rest, point, finals, _ = S.prove(
        tables, terms, degree, transcript, label, claim=current, consume=True, pads=pads
    )
    gamma = poly.concat_points(poly.point(points), point) if points else point
    x_value = finals[0] if randomizer is None else randomizer.value(finals[0], gamma)
    transcript.absorb_ext(f"{label}/x", x_value)
    return LinearProof(S.SumcheckProof(rounds + rest.rounds), x_value), gamma, x_value


def separable_linear_bytes(grid: Grid, kernel_w: int) -> int:
    """Bytes of ``prove_linear_separable``'s tables: A and B over (C, K_w, H), then x and G folded at the
    channel challenges over (H, W), all in compact storage, with a round's slices."""
    cp, hp, wp = grid.padded
    entries = max(cp * poly.next_pow2(kernel_w) * hp, hp * wp)
    slices = _SLICE_TEMPORARIES * K_BYTES * min(entries // 2, S.SLICE)
    return 2 * COMPACT_K_BYTES * entries + max(slices, F.EXT_MATMUL_SCRATCH)


K_BYTES = 32
"""Bytes of one extension element in uint64 limbs."""
COMPACT_K_BYTES = 16
"""Bytes of one extension element in compact uint32 storage."""
_SLICE_TEMPORARIES = 6
"""K slices a sumcheck round holds at once (each table's low and high halves and their difference)."""


@dataclass(frozen=True)
class Randomizer:
    """A source read through its randomized evaluation (design.md section 10.1): on the reader's view the
    source is x^ = x~ + sum_i c_i x_{p_i}^{e_i} (1 - x_{p_i}), equal to x on the cube, so a sumcheck over
    it proves the same sum and ends at a value x^(gamma) that is uniform.  ``positions`` are the view's
    variables p_i (the source's last variables, the very last again with higher ``powers`` e_i when the
    source has fewer variables than reads), ``coefficients`` the c_i (4, m): the prover's only."""

    positions: tuple[int, ...]
    powers: tuple[int, ...] = ()
    coefficients: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.powers:
            object.__setattr__(self, "powers", (1,) * len(self.positions))

    @property
    def start(self) -> int:
        """The first round whose polynomial the randomizer changes (earlier ones sum it to zero)."""
        return min(self.positions)

    def degrees(self, num_vars: int, degree: int = 2) -> list[int]:
        """Every round's degree: from ``start`` on, raised by the highest power (x^e (1 - x) has degree
        e + 1 in x)."""
        return [degree if i < self.start else degree + max(self.powers) for i in range(num_vars)]

    def weights(self, gamma: np.ndarray) -> list[np.ndarray]:
        """gamma_p^e (1 - gamma_p) for every term: x^(gamma) = x~(gamma) + sum_i c_i weights_i."""
        return [
            F.ext_mul(F.ext_pow(gamma[:, p], e), F.ext_sub(F.ext_ones(), gamma[:, p]))
            for p, e in zip(self.positions, self.powers)
        ]

    def value(self, x_value: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """x^(gamma) from x~(gamma) (the prover's)."""
        out = x_value
        for i, weight in enumerate(self.weights(gamma)):
            out = F.ext_add(out, F.ext_mul(self.coefficients[:, i], weight))
        return out


def linear_degrees(num_vars: int, randomizer: Randomizer | None) -> list[int]:
    """The rounds' degrees of a linear sumcheck: 2, raised from a randomizer's first variable on."""
    return [2] * num_vars if randomizer is None else randomizer.degrees(num_vars)


def prove_linear_separable(
    x: np.ndarray,
    in_grid: Grid,
    a: np.ndarray,
    ew: np.ndarray,
    claim: np.ndarray | None,
    transcript: Transcript,
    label: str,
    pads: PadSource | None = None,
    randomizer: Randomizer | None = None,
) -> tuple[LinearProof, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``prove_linear`` for a G that factors as G[c,h,w] = sum_v A[c,v,h] Ew[v,w], without building G;
    returns (proof, gamma, the input value sent, the sum, the sum as sent).  Without a ``claim`` the sum
    is computed and bound first (``{label}/sum``): one source's share of a map over several.

    The channel variables are bound first.  For every assignment of them, and so for their multilinear
    extension, sum_{h,w} x G = sum_{v,h} A B with B[c,v,h] = sum_w x[c,h,w] Ew[v,w]; the channel rounds run
    on A and B (C K_w H entries instead of C H W), then x and G folded at the channel challenges (H W
    entries each) carry the spatial rounds.  The messages are those of ``prove_linear`` on (x, G), so the
    proof and the verifier are the same.  ``x`` is the unpadded input (C, H, W) of small signed integers,
    ``a`` (4, C, K_w, H_p) and ``ew`` (4, K_w, W_p).

    With ``pads`` every value is sent hidden; with a ``randomizer`` the sum is over x^ (``Randomizer``):
    from its first variable on (the channel rounds stop there if it is a channel variable) the rounds run
    on x, G and each position's bit tables x_p and 1 - x_p, the randomizer's terms c_i x_p (1 - x_p) G
    added, and the value sent is x^(gamma)."""
    c, h, w = in_grid.shape
    cp, hp, wp = in_grid.padded
    kw = ew.shape[1]
    vp = poly.next_pow2(kw)
    values = np.asarray(x).reshape(c, h, w)
    b = np.zeros((F.EXT_DEGREE, cp, vp, hp), dtype=np.uint32)  # compact storage (``sumcheck.prove``)
    b[:, :c, :kw, :h] = (
        _contract_columns(values.reshape(c * h, w), ew[:, :, :w])
        .reshape(F.EXT_DEGREE, c, h, kw)
        .transpose(0, 1, 3, 2)
    )
    a_table = np.zeros((F.EXT_DEGREE, cp, vp, hp), dtype=np.uint32)
    a_table[:, : a.shape[1], :kw] = a
    terms = [(1, (0, 1))]
    num_vars = in_grid.num_vars
    tail = num_vars if randomizer is None else randomizer.start
    channel_bits = min(poly.num_vars(cp), tail)
    left = poly.num_vars(cp) - channel_bits  # channel variables left to the tail
    folded = [b.reshape(F.EXT_DEGREE, -1), a_table.reshape(F.EXT_DEGREE, -1)]
    del b, a_table
    sent_sum = None
    if claim is None:
        claim = F.ext_inner(poly.as_u64(folded[0]), poly.as_u64(folded[1]))
        sent_sum = send(claim, pads, transcript, f"{label}/sum")
    rounds, challenges, _, current = S.prove_rounds(
        folded, terms, 2, channel_bits, transcript, label, claim=claim, consume=True, pads=pads
    )
    a_folded = poly.as_u64(folded[1].reshape(F.EXT_DEGREE, 1 << left, vp, hp)[:, :, :kw])
    del folded
    x_table = _channel_folded_input(values, in_grid, challenges, left)
    g_table = np.empty((F.EXT_DEGREE, 1 << left, hp, wp), dtype=np.uint32)
    for j in range(1 << left):  # G[j, h, :] = A(r_c, j, :, h)^T Ew
        F.ext_matmul(a_folded[:, j].transpose(0, 2, 1), ew, out=g_table[:, j])
    tables = [
        x_table if x_table.ndim == 1 else x_table.reshape(F.EXT_DEGREE, -1),
        g_table.reshape(F.EXT_DEGREE, -1),
    ]
    del x_table, g_table, a_folded
    head = tail - channel_bits  # spatial rounds before the randomizer's first variable
    more, points, _, current = S.prove_rounds(
        tables, terms, 2, head, transcript, label, claim=current, consume=True, pads=pads
    )
    rounds += more
    challenges += points
    if randomizer is not None:
        tables, tail_terms = _with_randomizer(tables, randomizer, tail, num_vars)
        degree = 2 + max(randomizer.powers)
        spatial, point, finals, _ = S.prove(
            tables, tail_terms, degree, transcript, label, claim=current, consume=True, pads=pads
        )
    else:
        spatial, point, finals, _ = S.prove(
            tables, terms, 2, transcript, label, claim=current, consume=True, pads=pads
        )
    gamma = poly.concat_points(poly.point(challenges), point) if challenges else point
    x_value = finals[0] if randomizer is None else randomizer.value(finals[0], gamma)
    transcript.absorb_ext(f"{label}/x", x_value)
    proof = LinearProof(S.SumcheckProof(rounds + spatial.rounds), x_value)
    return proof, gamma, x_value, claim, claim if sent_sum is None else sent_sum


def _channel_folded_input(values: np.ndarray, in_grid: Grid, challenges: list, left: int) -> np.ndarray:
    """x with its first channel variables bound to the challenges and the ``left`` others kept: a base
    table of the padded input when nothing is bound, else K (4, 2^left, H_p, W_p) in compact storage."""
    c, h, w = values.shape
    cp, hp, wp = in_grid.padded
    if not challenges:
        return in_grid.pad(values) if left else Grid((1, h, w)).pad(values)
    eq = poly.eq_table(poly.point(challenges))
    if not left:  # every channel bound: nothing is padded on the channel axis
        return _fold_channels(eq[:, :c], values, hp, wp)[:, None]
    padded = np.zeros((cp, h, w), dtype=values.dtype)
    padded[:c] = values
    step = 1 << left  # channel = (bound bits, kept bits j): the kept j are every step-th channel
    return np.stack([_fold_channels(eq, padded[j::step], hp, wp) for j in range(step)], axis=1)


class TailBits:
    """The bit tables x_p and 1 - x_p of the variables from ``tail`` on, appended to a sumcheck's tables
    once each, and randomizers' terms as monomials over them (a tail sumcheck's extra factors)."""

    def __init__(self, tables: list[np.ndarray], tail: int, num_vars: int) -> None:
        self.tables, self.tail, self.num_vars = tables, tail, num_vars
        self._bits: dict[int, tuple[int, int]] = {}

    def terms(self, randomizer: Randomizer) -> list[tuple[np.ndarray, tuple[int, ...]]]:
        """(c_i, the table indices of x_p^e_i (1 - x_p)) for every term of the randomizer."""
        return [
            (randomizer.coefficients[:, i], self._monomial(p, e))
            for i, (p, e) in enumerate(zip(randomizer.positions, randomizer.powers))
        ]

    def _monomial(self, position: int, power: int) -> tuple[int, ...]:
        if position not in self._bits:
            length = 1 << (self.num_vars - self.tail)
            index = np.arange(length, dtype=np.uint64)
            bit = (index >> np.uint64(self.num_vars - 1 - position)) & np.uint64(1)
            self.tables.extend([bit, F.sub(np.ones(length, dtype=np.uint64), bit)])
            self._bits[position] = (len(self.tables) - 2, len(self.tables) - 1)
        one, zero = self._bits[position]
        return (one,) * power + (zero,)


def _with_randomizer(
    tables: list[np.ndarray], randomizer: Randomizer, tail: int, num_vars: int
) -> tuple[list[np.ndarray], list]:
    """The tail's tables [x, G, then x_p and 1 - x_p for every position] and terms x G + sum_i c_i x_p^e_i
    (1 - x_p) G, over the variables from ``tail`` on."""
    out = list(tables)
    tables.clear()
    terms = TailBits(out, tail, num_vars).terms(randomizer)
    return out, [(1, (0, 1))] + [(c, (*m, 1)) for c, m in terms]


def _fold_channels(eq_c: np.ndarray, values: np.ndarray, hp: int, wp: int) -> np.ndarray:
    """x~(r_c, h, w) = sum_c eq(r_c, c) x[c, h, w] on the padded (H, W) grid in compact storage, folded a
    band of rows at a time so that ``fold_rows``' scratch stays small."""
    c, h, w = values.shape
    out = np.zeros((F.EXT_DEGREE, hp, wp), dtype=np.uint32)
    step = max(1, _FOLD_BLOCK_ENTRIES // max(w, 1))
    for row in range(0, h, step):
        rows = slice(row, min(h, row + step))
        out[:, rows, :w] = fold_rows(eq_c, values[:, rows].reshape(c, -1)).reshape(F.EXT_DEGREE, -1, w)
    return out


def _contract_columns(values: np.ndarray, e: np.ndarray) -> np.ndarray:
    """sum_w values[r, w] E[v, w] mod p as (4, R, K_w) for small signed integer values (R, W) and a K table E
    (4, K_w, W): exact float64 GEMMs on E's 16-bit limbs, a block of rows at a time."""
    rows, width = values.shape
    if width > _CONTRACT_MAX_WIDTH or (values.size and int(np.abs(values).max()) >= _CONTRACT_MAX_VALUE):
        raise ValueError("values too wide or too large for an exact float64 contraction")
    kw = e.shape[1]
    limbs = np.concatenate([(e & np.uint64(0xFFFF)), (e >> np.uint64(16))]).astype(np.float64)
    limbs = limbs.reshape(2 * F.EXT_DEGREE * kw, width).T  # (W, 2 * 4 * K_w)
    out = np.empty((F.EXT_DEGREE, rows, kw), dtype=np.uint64)
    step = max(1, FOLD_CHUNK_VALUES // max(width, 1))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        prod = (np.asarray(values[start:stop], dtype=np.float64) @ limbs).astype(np.int64) % F.P
        prod = prod.reshape(stop - start, 2, F.EXT_DEGREE, kw)
        combined = (prod[:, 0] + prod[:, 1] * (1 << 16)) % F.P  # (rows, 4, K_w)
        out[:, start:stop] = combined.transpose(1, 0, 2).astype(np.uint64)
    return out


_FOLD_BLOCK_ENTRIES = 1 << 10
"""Entries of x folded at the channel challenges per ``fold_rows`` call in ``_fold_channels``."""
_CONTRACT_MAX_WIDTH = 1 << 16
_CONTRACT_MAX_VALUE = 1 << 20
"""Bounds of ``_contract_columns``: each product is below 2^16 * 2^20 and a row sums at most 2^16 of them,
so every float64 partial sum is an exact integer below 2^52."""


def verify_linear(
    proof: LinearProof,
    claim: Hidden,
    num_vars: int,
    transcript: Transcript,
    label: str,
    checker: Checker,
    randomizer: Randomizer | None = None,
) -> tuple[np.ndarray, np.ndarray, Hidden]:
    """Run the sumcheck checks; returns (gamma, the input value sent, the value G~(gamma) must make true).

    The caller finishes with ``final == x~(gamma) * G~(gamma)`` once it has computed G~(gamma); with a
    ``randomizer`` the value is x^(gamma) and the rounds from its first variable on have degree 3."""
    degrees = linear_degrees(num_vars, randomizer)
    gamma, final = S.verify_hidden(claim, num_vars, degrees, proof.sumcheck, transcript, label, checker)
    value = proof.input_value
    if not isinstance(value, np.ndarray) or value.shape != (F.EXT_DEGREE,):  # one encoding per value
        raise S.SumcheckError(f"{label}: the claimed input value is not one extension element")
    transcript.absorb_ext(f"{label}/x", value)
    return gamma, value, final


@dataclass(frozen=True)
class Layout:
    """Sub-vectors of one committed vector, each in an aligned power-of-two segment.

    Segments are placed largest first, so every offset is a multiple of the segment's size and opening
    segment ``name`` at z is opening the whole vector at (selector bits of its offset, z).  ``tail``
    segments come after them, each at the next offset aligned to its size (a hidden proof's pads, in the
    room the kind's segments leave when there is some, without moving them).
    """

    segments: tuple[tuple[str, int], ...]  # (name, num_vars), in placement order
    tail: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(sizes: dict[str, int]) -> Layout:
        """Place segments of the given num_vars, largest first (ties by name, deterministic)."""
        return Layout(tuple(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))))

    def with_tail(self, name: str, num_vars: int) -> Layout:
        """This layout with one more segment after all others."""
        return Layout(self.segments, (*self.tail, (name, num_vars)))

    def offsets(self) -> dict[str, int]:
        """Start index of every segment in the committed vector."""
        out, pos = {}, 0
        for name, nv in self.segments:
            out[name] = pos
            pos += 1 << nv
        for name, nv in self.tail:
            pos = -(-pos >> nv) << nv  # up to a multiple of the segment's size
            out[name] = pos
            pos += 1 << nv
        return out

    def _sizes(self) -> dict[str, int]:
        return dict((*self.segments, *self.tail))

    @property
    def num_vars(self) -> int:
        """Variables of the committed vector (its length padded to a power of two)."""
        sizes = self._sizes()
        end = max((offset + (1 << sizes[name]) for name, offset in self.offsets().items()), default=1)
        return poly.num_vars(poly.next_pow2(end))

    def assemble(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """The committed base vector with each part (already padded to its segment) in place, as uint32 (the
        elements are below p < 2^31; half the bytes, and what the commitment keeps)."""
        out = self.zeros()
        segments = self.views(out)
        for name, part in parts.items():
            if part.shape != segments[name].shape:
                raise ValueError(f"segment {name} has the wrong length")
            segments[name][:] = part
        return out

    def zeros(self) -> np.ndarray:
        """An all-zero committed vector (uint32), to be filled segment by segment through ``views``."""
        return np.zeros(1 << self.num_vars, dtype=np.uint32)

    def views(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """Every segment of a committed vector as a view into it: a witness written there is not copied."""
        sizes = self._sizes()
        return {name: vector[offset : offset + (1 << sizes[name])] for name, offset in self.offsets().items()}

    def point(self, name: str, z: np.ndarray) -> np.ndarray:
        """The point on the whole vector whose value is segment ``name``'s MLE at z."""
        nv = self._sizes()[name]
        z = z.reshape(F.EXT_DEGREE, -1)
        if z.shape[1] != nv:
            raise ValueError(f"segment {name} needs a point of {nv} coordinates, got {z.shape[1]}")
        selector_bits = self.num_vars - nv
        index = self.offsets()[name] >> nv
        bits = [(index >> (selector_bits - 1 - k)) & 1 for k in range(selector_bits)]
        return poly.concat_points(F.ext_from_base(np.array(bits, dtype=np.uint64)), z)
