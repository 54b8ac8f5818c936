"""BabyBear field F_p (p = 2^31 - 2^27 + 1) and its degree-4 extension K = F_p[X]/(X^4 - 11).

Base elements are numpy ``uint64`` arrays with values in [0, p): a product of two fits in 64 bits, so
every operation is a few whole-array numpy ops.  Extension elements are stored structure-of-arrays:
an array of shape ``(4, *shape)`` whose leading axis holds the coefficients of 1, X, X^2, X^3.  An
extension scalar has shape ``(4,)``; it broadcasts against any extension array because limbs are taken
with ``a[i]``.  Inner products go through float64 BLAS on 16-bit limbs, which is exact (see ``_limb_dot``).
"""

from __future__ import annotations

import math

import numpy as np

P = 2013265921
"""The BabyBear prime 2^31 - 2^27 + 1 = 15 * 2^27 + 1."""
EXT_DEGREE = 4
NONRESIDUE = 11
"""K = F_p[X]/(X^4 - NONRESIDUE); 11 is a quadratic non-residue mod p, so the binomial is irreducible."""
HALF = (P - 1) // 2
"""Largest magnitude a signed integer may have to map injectively into F_p."""
TWO_ADICITY = 27
GENERATOR = 31
"""A generator of the multiplicative group F_p^* (used to derive roots of unity)."""

_U64 = np.uint64
_P64 = np.uint64(P)
_FEW = 1 << 8
"""Below this many elements a K product is one broadcast product and a small matrix product."""
_SMALL = 1 << 10
"""Below this many elements a K product is computed expression-wise (numpy call overhead dominates)."""
_LARGE = 1 << 12
"""From this many elements a reduction mod p is a floor division by p (numpy divides by a scalar with a
multiply-and-shift, several times faster than its remainder), a product and a subtraction."""
_LIMB_SAFE_ROWS = 1 << 20
"""Rows per float64 GEMM chunk in ``_limb_dot``: 2^20 * (2^16)^2 * 4 terms < 2^53, so sums are exact."""


# ----------------------------------------------------------------------------------------- base field
def asbase(values) -> np.ndarray:
    """Reduce arbitrary (possibly negative) integers into canonical uint64 base elements."""
    arr = np.asarray(values)
    if arr.dtype == np.uint64:
        return arr % _P64
    if arr.dtype.kind in "iu":
        return np.mod(arr.astype(np.int64), P).astype(np.uint64)
    if arr.dtype == object:
        return np.array([int(v) % P for v in arr.ravel()], dtype=np.uint64).reshape(arr.shape)
    raise TypeError(f"cannot convert dtype {arr.dtype} to field elements")


def reduce_in_place(x: np.ndarray) -> np.ndarray:
    """x mod p, written over the uint64 array x (any values) and returned."""
    if x.size < _LARGE:
        return np.remainder(x, _P64, out=x)
    quotient = x // _P64
    quotient *= _P64
    x -= quotient
    return x


def _reduced(x):
    """x mod p for a fresh result x: in place when it is a large uint64 array."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint64 and x.size >= _LARGE:
        return reduce_in_place(x)
    return x % _P64


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b in F_p."""
    return _reduced(a + b)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b in F_p."""
    return _reduced(a + (_P64 - b))


def neg(a: np.ndarray) -> np.ndarray:
    """-a in F_p."""
    return (_P64 - a) % _P64


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b in F_p."""
    return (a * b) % _P64


def power(a: np.ndarray, exponent: int) -> np.ndarray:
    """a ** exponent in F_p, element-wise, by square and multiply."""
    a = np.asarray(a, dtype=np.uint64)
    result = np.ones_like(a)
    base = a.copy()
    e = int(exponent) % (P - 1) if exponent >= 0 else (P - 1 - (-int(exponent)) % (P - 1))
    while e:
        if e & 1:
            result = (result * base) % _P64
        base = (base * base) % _P64
        e >>= 1
    return result


def inv(a: np.ndarray) -> np.ndarray:
    """Element-wise inverse in F_p (Fermat).  Zero entries raise ``ZeroDivisionError``."""
    a = np.asarray(a, dtype=np.uint64)
    if np.any(a == 0):
        raise ZeroDivisionError("inverse of zero in F_p")
    return power(a, P - 2)


def batch_inv(a: np.ndarray) -> np.ndarray:
    """Inverse of every entry of a 1-D array: one vectorised exponentiation over the whole array."""
    a = np.asarray(a, dtype=np.uint64)
    if a.size == 0:
        return a.copy()
    return inv(a)


def inner(a: np.ndarray, b: np.ndarray) -> int:
    """Sum_i a[i] * b[i] in F_p for 1-D base arrays."""
    gram = _limb_dot(a[None, :], b[None, :])
    return int(gram[0, 0] % P)


def encode_signed(values, bound: int = HALF) -> np.ndarray:
    """Map signed integers v with |v| <= bound into F_p as v mod p; refuse anything larger."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"signed encoding needs integers, got {arr.dtype}")
    if bound > HALF:
        raise ValueError(f"bound {bound} exceeds (p-1)/2; encoding would not be injective")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -bound or hi > bound:
            raise OverflowError(f"value {lo if lo < -bound else hi} outside [-{bound}, {bound}]")
    return np.mod(arr.astype(np.int64), P).astype(np.uint64)


def decode_signed(a: np.ndarray) -> np.ndarray:
    """Inverse of ``encode_signed``: field elements back to int64 in [-(p-1)/2, (p-1)/2]."""
    a = np.asarray(a, dtype=np.uint64).astype(np.int64)
    return np.where(a > HALF, a - P, a)


def random_base(rng: np.random.Generator, shape) -> np.ndarray:
    """Uniform base elements (for tests and benchmarks)."""
    return rng.integers(0, P, size=shape, dtype=np.uint64)


# ------------------------------------------------------------------------------------ extension field
def ext_zeros(shape=()) -> np.ndarray:
    """The zero of K, broadcast to ``shape``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return np.zeros((EXT_DEGREE, *shape), dtype=np.uint64)


def ext_ones(shape=()) -> np.ndarray:
    """The one of K, broadcast to ``shape``."""
    out = ext_zeros(shape)
    out[0] = 1
    return out


def ext_from_base(a) -> np.ndarray:
    """Embed base elements into K."""
    a = np.asarray(a, dtype=np.uint64)
    out = np.zeros((EXT_DEGREE, *a.shape), dtype=np.uint64)
    out[0] = a
    return out


def ext_const(c: int) -> np.ndarray:
    """The K scalar equal to the integer c (mod p)."""
    out = ext_zeros()
    out[0] = int(c) % P
    return out


# Addition, subtraction and negation in K act limb by limb, so the base-field functions serve K arrays as-is.
ext_add = add
ext_sub = sub
ext_neg = neg


def ext_scale(e: np.ndarray, s) -> np.ndarray:
    """e * s for e in K and s a base element (or base array broadcasting against e's trailing shape)."""
    s = np.asarray(s, dtype=np.uint64)
    return (e * s[None, ...]) % _P64 if s.ndim else (e * s) % _P64


def ext_mul_ints(a, b) -> tuple[int, int, int, int]:
    """a * b in K for two scalars given as sequences of 4 Python ints (no numpy overhead)."""
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    nr = NONRESIDUE
    return (
        (a0 * b0 + nr * (a1 * b3 + a2 * b2 + a3 * b1)) % P,
        (a0 * b1 + a1 * b0 + nr * (a2 * b3 + a3 * b2)) % P,
        (a0 * b2 + a1 * b1 + a2 * b0 + nr * a3 * b3) % P,
        (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) % P,
    )


def ext_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b in K.  Four products < p^2 < 2^62 sum without overflowing uint64, so only 7 reductions."""
    if a.shape == (EXT_DEGREE,) and b.shape == (EXT_DEGREE,):
        return np.array(ext_mul_ints(a.tolist(), b.tolist()), dtype=np.uint64)
    shape = np.broadcast_shapes(a.shape[1:], b.shape[1:])
    if math.prod(shape) < _FEW:
        return _few_product(a, b, shape)
    return _limb_product((a[0], a[1], a[2], a[3]), (b[0], b[1], b[2], b[3]), shape)


def ext_mul_scalar(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b for an extension array a (4, ...) and one K scalar b: a 4x4 matrix of the scalar's limbs
    (``scalar_matrix``) times a's limbs, one contraction whose four-term sums stay below 2^64, for small
    arrays; the scalar's limbs stay scalars in the limb products for large ones (eq tables, folds)."""
    b = np.asarray(b, dtype=np.uint64).reshape(EXT_DEGREE)
    if math.prod(a.shape[1:]) < _LARGE:
        return reduce_in_place(np.einsum("kj,j...->k...", scalar_matrix(b), a))
    return _limb_product((a[0], a[1], a[2], a[3]), (b[0], b[1], b[2], b[3]), a.shape[1:])


def scalar_matrix(b: np.ndarray) -> np.ndarray:
    """The 4x4 matrix M of a K scalar b with limbs(a * b) = M @ limbs(a): X^4 = NONRESIDUE folded in, every
    entry below p, so each output limb is a sum of four products below p^2 < 2^62."""
    b0, b1, b2, b3 = (int(v) for v in b)
    w1, w2, w3 = (NONRESIDUE * v % P for v in (b1, b2, b3))
    return np.array([[b0, w3, w2, w1], [b1, b0, w3, w2], [b2, b1, b0, w3], [b3, b2, b1, b0]], dtype=np.uint64)


def _few_product(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """a * b for K arrays of few elements in four numpy calls: all sixteen limb products reduced at once,
    then mapped to the product's limbs by one small integer matrix (entries 0, 1, NONRESIDUE)."""
    products = (a[:, None] * b[None, :]) % _P64  # (4, 4, ...): a_i b_j
    limbs = _PRODUCT_LIMBS.T @ products.reshape(EXT_DEGREE * EXT_DEGREE, -1)
    return (limbs % _P64).reshape(EXT_DEGREE, *shape)


def _limb_product(a: tuple, b: tuple, shape: tuple[int, ...]) -> np.ndarray:
    """The K product of limbs a_i, b_j (arrays or scalars broadcasting to ``shape``) as (4, *shape).  Large
    products accumulate each limb in place (one temporary for all sixteen products); small ones are a few
    expressions, since there numpy's per-call overhead dominates."""
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    nr = _U64(NONRESIDUE)
    out = np.empty((EXT_DEGREE, *shape), dtype=np.uint64)
    if out[0].size < _SMALL:
        out[3] = (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) % _P64
        out[2] = (a0 * b2 + a1 * b1 + a2 * b0 + nr * ((a3 * b3) % _P64)) % _P64
        out[1] = (a0 * b1 + a1 * b0 + nr * ((a2 * b3 + a3 * b2) % _P64)) % _P64
        out[0] = (a0 * b0 + nr * ((a1 * b3 + a2 * b2 + a3 * b1) % _P64)) % _P64
        return out
    tmp = np.empty(shape, dtype=np.uint64)

    def accumulate(target: np.ndarray, pairs, fresh: bool) -> None:
        for x, y in pairs:
            if fresh:
                np.multiply(x, y, out=target)
                fresh = False
            else:
                np.multiply(x, y, out=tmp)
                target += tmp
        reduce_in_place(target)

    c0, c1, c2, c3 = out[0], out[1], out[2], out[3]
    for target, wrapped in (
        (c0, ((a1, b3), (a2, b2), (a3, b1))),
        (c1, ((a2, b3), (a3, b2))),
        (c2, ((a3, b3),)),
    ):
        accumulate(target, wrapped, True)  # the part past X^3, times NONRESIDUE
        target *= nr
    accumulate(c0, ((a0, b0),), False)
    accumulate(c1, ((a0, b1), (a1, b0)), False)
    accumulate(c2, ((a0, b2), (a1, b1), (a2, b0)), False)
    accumulate(c3, ((a0, b3), (a1, b2), (a2, b1), (a3, b0)), True)
    return out


def ext_pow(a: np.ndarray, exponent: int) -> np.ndarray:
    """a ** exponent in K (exponent >= 0), element-wise."""
    result = ext_ones(a.shape[1:])
    base = a.copy()
    e = int(exponent)
    if e < 0:
        raise ValueError("negative exponent; use ext_inv")
    while e:
        if e & 1:
            result = ext_mul(result, base)
        base = ext_mul(base, base)
        e >>= 1
    return result


def ext_inv(a: np.ndarray) -> np.ndarray:
    """Element-wise inverse in K via the tower K = F_p2[X]/(X^2 - u), u = X^2, u^2 = 11.

    Writing a = A + X*B with A, B in F_p2, (A + XB)(A - XB) = A^2 - u*B^2 lies in F_p2, whose inverse
    needs one base inversion of its own norm c0^2 - 11*c1^2.
    """
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    nr = _U64(NONRESIDUE)

    def p2_mul(x0, x1, y0, y1):
        return (x0 * y0 + nr * ((x1 * y1) % _P64)) % _P64, (x0 * y1 + x1 * y0) % _P64

    sq_a = p2_mul(a0, a2, a0, a2)  # A^2
    sq_b = p2_mul(a1, a3, a1, a3)  # B^2
    ub0, ub1 = (nr * sq_b[1]) % _P64, sq_b[0]  # u * B^2 = 11*b1 + b0*u
    n0, n1 = (sq_a[0] + _P64 - ub0) % _P64, (sq_a[1] + _P64 - ub1) % _P64  # N = A^2 - u B^2
    norm = (n0 * n0 + _P64 * _P64 - nr * ((n1 * n1) % _P64)) % _P64
    if np.any(norm == 0):
        raise ZeroDivisionError("inverse of zero in K")
    inv_norm = power(norm, P - 2)
    m0, m1 = (n0 * inv_norm) % _P64, ((_P64 - n1) * inv_norm) % _P64  # N^{-1}
    c0, c2 = p2_mul(a0, a2, m0, m1)  # A * N^{-1}
    c1, c3 = p2_mul(a1, a3, m0, m1)  # B * N^{-1}, negated below
    return np.stack([c0, (_P64 - c1) % _P64, c2, (_P64 - c3) % _P64])


def ext_sum(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum of an extension array along one of its element axes (default: the last)."""
    ax = axis if axis < 0 else axis + 1
    return _sum_mod(a, ax)


def ext_inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum_i a[i] * b[i] in K for 1-D arrays where each side is base (shape (n,)) or extension (4, n)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[None, :] if b.ndim == 1 else b
    gram = _limb_dot(a2, b2)  # gram[i, j] = sum_x a_i(x) * b_j(x) mod p
    out = [0, 0, 0, 0]
    for i in range(a2.shape[0]):
        for j in range(b2.shape[0]):
            k = i + j
            term = int(gram[i, j])
            if k >= EXT_DEGREE:
                k -= EXT_DEGREE
                term *= NONRESIDUE
            out[k] += term
    return np.array([v % P for v in out], dtype=np.uint64)


def ext_inner_rows(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Sum_x rows[:, r, x] * vector[:, x] in K for every r: K rows (4, R, n) against one K vector (4, n),
    as one limb GEMM (``_limb_dot``); returns (4, R)."""
    count, length = rows.shape[1], rows.shape[2]
    gram = _limb_dot(rows.reshape(EXT_DEGREE * count, length), vector)  # [(i, r), j] = sum a_i b_j
    by_row = gram.reshape(EXT_DEGREE, count, EXT_DEGREE).transpose(1, 0, 2).reshape(count, -1)
    return ((by_row @ _PRODUCT_LIMBS) % _P64).T.copy()


def ext_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The matrix product in K of a (4, n, k) and b (4, k, m), written into ``out`` (4, n, m) of any
    unsigned dtype wide enough (a new uint64 array if None), which it returns.

    Multiplication by each entry of b is a 4x4 matrix over F_p, so one column block of b becomes a float64
    matrix (4k, 4m_b) that turns a's rows, split into three 11-bit limbs, into the four limbs of each product
    by one GEMM: every output is a sum of at most 4 * 511 terms below 2^11 * 2^31, exact in float64, and
    only twelve sums per entry are reduced mod p.  Scratch stays under ``EXT_MATMUL_SCRATCH`` bytes."""
    n, k = a.shape[1], a.shape[2]
    m = b.shape[2]
    if out is None:
        out = np.empty((EXT_DEGREE, n, m), dtype=np.uint64)
    col_step = max(1, _MATMUL_BLOCK_BYTES // (128 * min(k, _MATMUL_MAX_INNER)))
    for col in range(0, m, col_step):
        cols = slice(col, min(m, col + col_step))
        width = cols.stop - col
        row_step = max(1, _MATMUL_BLOCK_BYTES // (256 * width))
        for inner in range(0, k, _MATMUL_MAX_INNER):
            part = slice(inner, min(k, inner + _MATMUL_MAX_INNER))
            right = _multiplication_matrices(b[:, part, cols])  # (4 k_b, 4 m_b)
            for row in range(0, n, row_step):
                rows = slice(row, min(n, row + row_step))
                left = _limbs11(a[:, rows, part])
                sums = (left.reshape(-1, left.shape[2]) @ right).astype(np.int64) % np.int64(P)
                sums = sums.reshape(3, rows.stop - row, width, EXT_DEGREE)
                product = (sums[0] + (sums[1] << 11) + (sums[2] << 22)) % np.int64(P)
                if inner:
                    product = (product + out[:, rows, cols].transpose(1, 2, 0)) % np.int64(P)
                out[:, rows, cols] = product.transpose(2, 0, 1)
    return out


_MATMUL_MAX_INNER = 511
"""Inner length of one ``ext_matmul`` GEMM: 4 * 511 * 2^42 < 2^53 keeps every float64 sum exact."""
_MATMUL_BLOCK_BYTES = 1 << 20
"""Bytes of ``ext_matmul``'s multiplication matrices, and of its per-row-block sums, at a time (larger
blocks gain under 10% at this size)."""
EXT_MATMUL_SCRATCH = 3 * _MATMUL_BLOCK_BYTES
"""Bound on ``ext_matmul``'s scratch: the matrices, the float and integer sums and one product block
(2.5 MiB at most measured by tracemalloc on convolution shapes)."""


def _limbs11(a: np.ndarray) -> np.ndarray:
    """Canonical K entries a (4, n, k) as float64 11-bit limbs (3, n, 4k): [l, r, 4v + i] is limb l of
    a_i[r, v]."""
    by_entry = np.ascontiguousarray(np.asarray(a, dtype=np.uint64).transpose(1, 2, 0)).reshape(a.shape[1], -1)
    out = np.empty((3, *by_entry.shape), dtype=np.float64)
    for limb in range(3):
        out[limb] = (by_entry >> np.uint64(11 * limb)) & np.uint64(0x7FF)
    return out


def _multiplication_matrices(b: np.ndarray) -> np.ndarray:
    """For K entries b (4, k, m): float64 (4k, 4m) whose block (v, j) maps a's limbs to those of a * b[v, j]:
    row 4v + i, column 4j + o holds b_(o-i) if o >= i, else NONRESIDUE * b_(o-i+4), mod p."""
    k, m = b.shape[1], b.shape[2]
    values = np.asarray(b, dtype=np.uint64)
    wrapped = values * np.uint64(NONRESIDUE) % _P64
    out = np.empty((k, EXT_DEGREE, m, EXT_DEGREE), dtype=np.float64)
    for i in range(EXT_DEGREE):
        for o in range(EXT_DEGREE):
            out[:, i, :, o] = values[o - i] if o >= i else wrapped[o - i + EXT_DEGREE]
    return out.reshape(EXT_DEGREE * k, EXT_DEGREE * m)


def _product_limbs() -> np.ndarray:
    """(16, 4) map from limb products a_i b_j (row 4i + j) to the limbs of a * b: X^4 = NONRESIDUE."""
    out = np.zeros((EXT_DEGREE * EXT_DEGREE, EXT_DEGREE), dtype=np.uint64)
    for i in range(EXT_DEGREE):
        for j in range(EXT_DEGREE):
            out[EXT_DEGREE * i + j, (i + j) % EXT_DEGREE] = 1 if i + j < EXT_DEGREE else NONRESIDUE
    return out


_PRODUCT_LIMBS = _product_limbs()


def random_ext(rng: np.random.Generator, shape=()) -> np.ndarray:
    """Uniform extension elements (for tests and benchmarks)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return rng.integers(0, P, size=(EXT_DEGREE, *shape), dtype=np.uint64)


def ext_to_ints(a: np.ndarray) -> tuple[int, int, int, int]:
    """A K scalar as a tuple of Python ints (for hashing, printing, comparisons)."""
    return tuple(int(v) for v in np.asarray(a).reshape(EXT_DEGREE))


def ext_eq(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two extension arrays are equal element-wise everywhere."""
    return bool(np.array_equal(np.asarray(a) % _P64, np.asarray(b) % _P64))


# ------------------------------------------------------------------------------------------- helpers
def _sum_mod(a: np.ndarray, axis: int) -> np.ndarray:
    """Sum of canonical elements along ``axis``, reduced mod p, in chunks small enough not to overflow."""
    n = a.shape[axis]
    chunk = 1 << 32  # 2^32 values < 2^31 sum below 2^63
    if n <= chunk:
        return np.sum(a, axis=axis, dtype=np.uint64) % _P64
    parts = [
        np.sum(np.take(a, range(s, min(n, s + chunk)), axis=axis), axis=axis) % _P64
        for s in range(0, n, chunk)
    ]
    return np.sum(parts, axis=0) % _P64


def _split16(a: np.ndarray) -> np.ndarray:
    """Rows of canonical elements (any integer dtype) -> float64 rows of 16-bit limbs [lo rows, hi rows]."""
    rows = a.shape[0]
    out = np.empty((2 * rows, a.shape[1]), dtype=np.float64)
    x = out[:rows]
    np.copyto(x, a.view(np.int64) if a.dtype == np.uint64 else a, casting="unsafe")
    hi = out[rows:]
    np.multiply(x, 1.0 / 65536.0, out=hi)
    np.floor(hi, out=hi)
    x -= hi * 65536.0
    return out


def _limb_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gram matrix sum_x a_i(x) b_j(x) mod p (uint64) for canonical rows, via float64 GEMM on 16-bit limbs.

    Each limb product is < 2^32 and a chunk sums at most 2^20 of them per limb pair, so every float64
    partial sum stays below 2^53 and converts to int64 exactly; the limb pairs are recombined mod p.  Rows
    need only entries below 2^32 (both limbs below 2^16), so sums of two canonical elements may come as
    they are.
    """
    ra, rb = a.shape[0], b.shape[0]
    n = a.shape[1]
    total = np.zeros((ra, rb), dtype=np.uint64)
    p = np.int64(P)
    for start in range(0, n, _LIMB_SAFE_ROWS):
        stop = min(n, start + _LIMB_SAFE_ROWS)
        la = _split16(a[:, start:stop])
        lb = _split16(b[:, start:stop])
        g = (la @ lb.T).astype(np.int64) % p
        lolo, lohi = g[:ra, :rb], g[:ra, rb:]
        hilo, hihi = g[ra:, :rb], g[ra:, rb:]
        mid = (lohi + hilo) % p * np.int64(1 << 16) % p
        high = hihi * np.int64(1 << 16) % p * np.int64(1 << 16) % p
        total = (total + ((lolo + mid + high) % p).astype(np.uint64)) % _P64
    return total
