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

    def pad(self, values: np.ndarray) -> np.ndarray:
        """Signed integer tensor -> flat base-field table on the padded grid (zeros at padding)."""
        c, h, w = self.shape
        out = np.zeros(self.padded, dtype=np.uint64)
        out[:c, :h, :w] = F.asbase(np.asarray(values).reshape(self.shape))  # only the values are converted
        return out.ravel()

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
    tables: list[np.ndarray], claim: np.ndarray, transcript: Transcript, label: str
) -> tuple[LinearProof, np.ndarray, np.ndarray]:
    """Prove sum_x x(x) G(x) = claim for ``tables`` [x, G], which it takes (the list is emptied, so the
    input's two largest tables are freed as they fold); returns (proof, gamma, x~(gamma))."""
    terms = [(1, (0, 1))]
    proof, gamma, finals, _ = S.prove(tables, terms, 2, transcript, label, claim=claim, consume=True)
    transcript.absorb_ext(f"{label}/x", finals[0])
    return LinearProof(proof, finals[0]), gamma, finals[0]


def verify_linear(
    proof: LinearProof, claim: np.ndarray, num_vars: int, transcript: Transcript, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the sumcheck checks; returns (gamma, claimed x~(gamma), the value G~(gamma) must make true).

    The caller finishes with ``final == x~(gamma) * G~(gamma)`` once it has computed G~(gamma).
    """
    gamma, final = S.verify(claim, num_vars, 2, proof.sumcheck, transcript, label)
    value = np.asarray(proof.input_value, dtype=np.uint64).reshape(F.EXT_DEGREE)
    transcript.absorb_ext(f"{label}/x", value)
    return gamma, value, final


@dataclass(frozen=True)
class Layout:
    """Sub-vectors of one committed vector, each in an aligned power-of-two segment.

    Segments are placed largest first, so every offset is a multiple of the segment's size and opening
    segment ``name`` at z is opening the whole vector at (selector bits of its offset, z).
    """

    segments: tuple[tuple[str, int], ...]  # (name, num_vars), in placement order

    @staticmethod
    def of(sizes: dict[str, int]) -> Layout:
        """Place segments of the given num_vars, largest first (ties by name, deterministic)."""
        return Layout(tuple(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))))

    def offsets(self) -> dict[str, int]:
        """Start index of every segment in the committed vector."""
        out, pos = {}, 0
        for name, nv in self.segments:
            out[name] = pos
            pos += 1 << nv
        return out

    @property
    def num_vars(self) -> int:
        """Variables of the committed vector (its length padded to a power of two)."""
        total = sum(1 << nv for _, nv in self.segments)
        return poly.num_vars(poly.next_pow2(total))

    def assemble(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """The committed base vector with each part (already padded to its segment) in place, as uint32 (the
        elements are below p < 2^31; half the bytes, and what the commitment keeps)."""
        out = np.zeros(1 << self.num_vars, dtype=np.uint32)
        for name, offset in self.offsets().items():
            part = parts[name]
            if part.shape[0] != 1 << dict(self.segments)[name]:
                raise ValueError(f"segment {name} has the wrong length")
            out[offset : offset + part.shape[0]] = part
        return out

    def point(self, name: str, z: np.ndarray) -> np.ndarray:
        """The point on the whole vector whose value is segment ``name``'s MLE at z."""
        nv = dict(self.segments)[name]
        z = z.reshape(F.EXT_DEGREE, -1)
        if z.shape[1] != nv:
            raise ValueError(f"segment {name} needs a point of {nv} coordinates, got {z.shape[1]}")
        selector_bits = self.num_vars - nv
        index = self.offsets()[name] >> nv
        bits = [(index >> (selector_bits - 1 - k)) & 1 for k in range(selector_bits)]
        return poly.concat_points(F.ext_from_base(np.array(bits, dtype=np.uint64)), z)
