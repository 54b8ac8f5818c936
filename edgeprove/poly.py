"""Multilinear extensions (MLEs) over BabyBear and its extension K.

Convention used everywhere: a table t of length 2^n is indexed by x = (x_1, ..., x_n) with x_1 the
most significant bit, and a point z = (z_1, ..., z_n) is a K array of shape (4, n) in the same order.
    t~(z) = sum_x t[x] * eq(z, x),   eq(z, x) = prod_k (z_k x_k + (1 - z_k)(1 - x_k)).
A C-ordered tensor (C, H, W) with power-of-two axes therefore has the point (z_c, z_h, z_w)
concatenated.  Binding the first variable (``fold``) combines the two contiguous halves of the table.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F


def num_vars(length: int) -> int:
    """n with 2^n == length (raises if length is not a power of two)."""
    if length <= 0 or length & (length - 1):
        raise ValueError(f"table length {length} is not a power of two")
    return length.bit_length() - 1


def next_pow2(n: int) -> int:
    """Smallest power of two >= max(n, 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


def point(coords: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Stack K scalars into a point of shape (4, n)."""
    if isinstance(coords, np.ndarray):
        return coords.reshape(F.EXT_DEGREE, -1)
    if not coords:
        return F.ext_zeros(0)
    return np.stack([np.asarray(c).reshape(F.EXT_DEGREE) for c in coords], axis=1)


def concat_points(*points: np.ndarray) -> np.ndarray:
    """Concatenate points (variable blocks) in order."""
    return np.concatenate([p.reshape(F.EXT_DEGREE, -1) for p in points], axis=1)


def eq_table(z: np.ndarray) -> np.ndarray:
    """eq(z, x) for all x in {0,1}^n, as a K array of shape (4, 2^n); O(2^n) work.  Built in place in its
    output, the last coordinate first (the first is the index's top bit): the table of coordinates k+1.. is
    split into its (1 - z_k) and z_k halves a slice at a time, so nothing but the output is table-sized."""
    z = z.reshape(F.EXT_DEGREE, -1)
    out = np.empty((F.EXT_DEGREE, 1 << z.shape[1]), dtype=np.uint64)
    out[:, :1] = F.ext_ones(1)
    size = 1
    for k in range(z.shape[1] - 1, -1, -1):
        for start in range(0, size, FOLD_SLICE):
            stop = min(size, start + FOLD_SLICE)
            low = out[:, start:stop]
            high = F.ext_mul_scalar(low, z[:, k])
            out[:, size + start : size + stop] = high
            out[:, start:stop] = F.ext_sub(low, high)
        size *= 2
    return out


def eq_prefix_sum(z: np.ndarray, length: int) -> np.ndarray:
    """sum_{i < length} eq(z, i) for a point of n coordinates (length <= 2^n), in O(n) Python-int K products:
    for every set bit k of length (most significant first), the i that agree with length above k and have
    bit k clear contribute eq of the agreeing prefix times (1 - z_k); free lower bits sum to 1."""
    limbs = np.asarray(z, dtype=np.uint64).reshape(F.EXT_DEGREE, -1).T.tolist()
    n = len(limbs)
    if not 0 <= length <= 1 << n:
        raise ValueError(f"a prefix of {length} does not fit {n} variables")
    if length == 1 << n:
        return F.ext_ones()
    total, prefix = [0, 0, 0, 0], [1, 0, 0, 0]
    for k, coord in enumerate(limbs):
        one_minus = [(1 - coord[0]) % F.P, *((F.P - c) % F.P for c in coord[1:])]
        if length >> (n - 1 - k) & 1:
            term = F.ext_mul_ints(prefix, one_minus)
            total = [(t + u) % F.P for t, u in zip(total, term)]
            prefix = F.ext_mul_ints(prefix, coord)
        else:
            prefix = F.ext_mul_ints(prefix, one_minus)
    return np.array(total, dtype=np.uint64)


def eq_tables(points: np.ndarray) -> np.ndarray:
    """eq(z_j, x) for several points at once: (4, k, n) -> (4, k, 2^n), one pass per coordinate."""
    table = F.ext_ones((points.shape[1], 1))
    for i in range(points.shape[2]):
        hi = F.ext_mul(table, points[:, :, i : i + 1])
        out = np.empty((F.EXT_DEGREE, points.shape[1], 2 * table.shape[2]), dtype=np.uint64)
        out[..., 0::2] = F.ext_sub(table, hi)
        out[..., 1::2] = hi
        table = out
    return table


def eq_eval(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """eq(a, b) = prod_k (a_k b_k + (1 - a_k)(1 - b_k)) for two points of equal length, as a K scalar."""
    a = a.reshape(F.EXT_DEGREE, -1)
    b = b.reshape(F.EXT_DEGREE, -1)
    if a.shape != b.shape:
        raise ValueError("eq of points of different lengths")
    ab = F.ext_mul(a, b)
    one = F.ext_ones(a.shape[1])
    terms = F.ext_add(ab, F.ext_sub(F.ext_sub(one, a), F.ext_sub(b, ab)))  # ab + (1-a)(1-b)
    out = F.ext_ones()
    for k in range(terms.shape[1]):
        out = F.ext_mul(out, terms[:, k])
    return out


FOLD_SLICE = 1 << 16
"""Entries a fold computes at once, so its temporaries stay a few MiB whatever the table's size."""
EVALUATE_BLOCK_VALUES = 1 << 20
"""Entries of a base table ``evaluate`` splits into float64 limbs at once (16 MiB): a layer's q or r of
2^23 values would otherwise take 24 bytes an entry beside the table."""


def fold(table: np.ndarray, r: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Bind the first (most significant) variable of a base or K table to r in K: lo + r (hi - lo), written
    a slice at a time into the (4, half) result.  ``in_place`` writes a K table's result over its own lower
    half (a view is returned: no new allocation) and gives a base table's result compact uint32 storage.
    Tables may be stored as uint32 (canonical elements); the arithmetic is on uint64 slices."""
    half = table.shape[-1] // 2
    if in_place and table.ndim == 2:
        out = table[:, :half]
    else:
        out = np.empty((F.EXT_DEGREE, half), dtype=np.uint32 if in_place else np.uint64)
    for start in range(0, half, FOLD_SLICE):
        stop = min(half, start + FOLD_SLICE)
        lo, hi = as_u64(table[..., start:stop]), as_u64(table[..., half + start : half + stop])
        if table.ndim == 1:
            out[:, start:stop] = F.ext_add(F.ext_from_base(lo), F.ext_scale(r.reshape(4, 1), F.sub(hi, lo)))
        else:
            out[:, start:stop] = F.ext_add(lo, F.ext_mul_scalar(F.ext_sub(hi, lo), r))
    return out


def as_u64(table: np.ndarray) -> np.ndarray:
    """A table (or slice) for arithmetic: uint64, converted from compact uint32 storage when needed."""
    return table if table.dtype == np.uint64 else table.astype(np.uint64)


def evaluate(table: np.ndarray, z: np.ndarray) -> np.ndarray:
    """t~(z) for a base or K table of length 2^n and a point z of n coordinates."""
    z = z.reshape(F.EXT_DEGREE, -1)
    length = table.shape[-1]
    if num_vars(length) != z.shape[1]:
        raise ValueError(f"point has {z.shape[1]} coordinates, table needs {num_vars(length)}")
    if table.ndim == 1 and z.shape[1] >= 2:  # eq(z) = eq(z_hi) x eq(z_lo): two small tables, not one big
        split = z.shape[1] // 2
        rows = table.reshape(1 << split, -1)
        low = eq_table(z[:, split:])
        step = max(1, EVALUATE_BLOCK_VALUES // rows.shape[1])  # the limbs of a block of rows at a time
        blocks = [_rows_dot_ext(rows[start : start + step], low) for start in range(0, rows.shape[0], step)]
        partial = np.concatenate(blocks, axis=1)  # (4, 2^split): each row against eq(z_lo)
        return F.ext_inner(partial, eq_table(z[:, :split]))
    return F.ext_inner(table, eq_table(z))


def _rows_dot_ext(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """rows @ vector for base rows (m, n) and a K vector (4, n) -> K (4, m), exactly via limb BLAS."""
    from edgeprove.field import _limb_dot

    return (_limb_dot(rows, vector) % F.P).astype(np.uint64).T.copy()


def evaluate_padded(values: np.ndarray, shape: tuple[int, ...], z: np.ndarray) -> np.ndarray:
    """MLE at z of a tensor whose every axis is zero-padded to a power of two (values given unpadded).

    Folds axis by axis with separable eq tables, so a (C, H, W) tensor costs O(C H W) without building
    the padded copy: sum_{c,h,w} v[c,h,w] eq_c[c] eq_h[h] eq_w[w].
    """
    values = np.asarray(values)
    padded = [next_pow2(s) for s in shape]
    bits = [num_vars(p) for p in padded]
    z = z.reshape(F.EXT_DEGREE, -1)
    if sum(bits) != z.shape[1]:
        raise ValueError("point length does not match the padded tensor")
    tables = []
    offset = 0
    for s, b in zip(shape, bits):
        tables.append(eq_table(z[:, offset : offset + b])[:, :s])
        offset += b
    return contract_separable(values.reshape(shape), tables)


def contract_separable(values: np.ndarray, tables: list[np.ndarray]) -> np.ndarray:
    """sum over all indices of values[i1..ik] * prod_j tables[j][i_j], for base values and K tables.

    The last axis is contracted first with exact limb BLAS, the rest by K arithmetic on a shrinking
    array; used for MLEs of tensors with separate variables per axis.
    """
    vals = F.asbase(values) if values.dtype != np.uint64 else values
    if not tables:
        return F.ext_from_base(vals.reshape(()))
    lead = vals.shape[:-1]
    flat = vals.reshape(-1, vals.shape[-1])
    last = tables[-1]
    partial = np.stack([_rows_dot(flat, last[i]) for i in range(F.EXT_DEGREE)])  # (4, rows)
    partial = partial.reshape((F.EXT_DEGREE, *lead))
    for axis_table in reversed(tables[:-1]):
        # contract the (now) last element axis of partial with axis_table
        weighted = F.ext_mul(partial, axis_table.reshape(F.EXT_DEGREE, *([1] * (partial.ndim - 2)), -1))
        partial = F.ext_sum(weighted, axis=-1)
    return partial.reshape(F.EXT_DEGREE)


def _rows_dot(rows: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """rows @ vec mod p for base rows (m, n) and a base vector (n,), exactly via 16-bit limb BLAS."""
    from edgeprove.field import _limb_dot

    if rows.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    gram = _limb_dot(rows, vec[None, :]) % F.P
    return gram[:, 0].astype(np.uint64)
