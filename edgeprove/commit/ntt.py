"""Radix-2 number-theoretic transforms over BabyBear and Reed-Solomon encoding of many rows at once.

p - 1 = 15 * 2^27, so F_p has 2^k-th roots of unity for k <= 27, all powers of GENERATOR^(15 * 2^(27-k)).
Transforms act along the last axis of a (rows, n) array; each butterfly stage is a handful of whole-array
numpy ops over every row.  The forward transform is decimation in frequency (natural order in, bit-reversed
order out) followed by one gather back to natural order, so ``ntt(x)[k] = sum_i x[i] * w^(i k)`` with
``w = root_of_unity(log2 n)``.  Reed-Solomon encoding treats a row as polynomial coefficients and evaluates
it on the 2^rate_log * C roots of unity; the stages whose upper halves are known to be zero padding cost
only a twiddle multiply.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgeprove import field as F
from edgeprove import threads as TH

_P = np.uint64(F.P)
MAX_LOG_SIZE = F.TWO_ADICITY
"""Largest transform size is 2^27: the two-adicity of p - 1."""
_BLOCK_ELEMENTS = 1 << 17
"""Rows are transformed in blocks of about this many codeword elements, so scratch stays cache-sized."""
_MIN_BLOCKS = 16
"""Small matrices still use at least this many blocks, keeping scratch well below the uint32 output."""
_EVAL_BLOCK_ELEMENTS = 1 << 16
"""Coefficients (or Vandermonde entries) per limb GEMM in ``rs_encode_at``: about 2.5 MiB of scratch (2^18
took 7 MiB to evaluate a hiding tableau's eight blinding rows at its queries, the peak of a small model's
proof)."""


def root_of_unity(log_n: int) -> int:
    """A primitive 2^log_n-th root of unity in F_p (log_n <= 27)."""
    if not 0 <= log_n <= MAX_LOG_SIZE:
        raise ValueError(f"no 2^{log_n}-th roots of unity in BabyBear (two-adicity is {MAX_LOG_SIZE})")
    return pow(F.GENERATOR, (F.P - 1) >> log_n, F.P)


@lru_cache(maxsize=64)
def _powers(log_n: int) -> np.ndarray:
    """w^i for i in [0, n/2) with w the primitive n-th root of unity, built by doubling (read-only)."""
    half = max(1, (1 << log_n) >> 1)
    w = root_of_unity(log_n)
    powers = np.ones(half, dtype=np.uint64)
    filled = 1
    while filled < half:
        step = np.uint64(pow(w, filled, F.P))
        powers[filled : 2 * filled] = (powers[:filled] * step) % _P
        filled *= 2
    powers.flags.writeable = False
    return powers


@lru_cache(maxsize=256)
def _stage_twiddles(log_n: int, half_span: int) -> np.ndarray:
    """Twiddles w_{2h}^i, i in [0, h), of the DIF stage with half-span h of a size-2^log_n transform."""
    stride = (1 << log_n) // (2 * half_span)
    tw = np.ascontiguousarray(_powers(log_n)[::stride][:half_span])
    tw.flags.writeable = False
    return tw


@lru_cache(maxsize=64)
def _bit_reversal(log_n: int) -> np.ndarray:
    """The bit-reversal permutation of [0, 2^log_n) as an index array (read-only)."""
    idx = np.arange(1 << log_n, dtype=np.int64)
    rev = np.zeros_like(idx)
    for bit in range(log_n):
        rev |= ((idx >> bit) & 1) << (log_n - 1 - bit)
    rev.flags.writeable = False
    return rev


def _dif_in_place(buf: np.ndarray, nonzero_prefix: int) -> None:
    """Forward DIF butterflies on every row of ``buf`` (rows, n), leaving each row in bit-reversed order.

    Only the first ``nonzero_prefix`` entries of each row may be non-zero (the rest must be zero): while a
    stage's half-span is at least that prefix its upper halves are zero, so the butterfly reduces to
    ``hi = lo * twiddle`` on the prefix.
    """
    rows, n = buf.shape
    log_n = n.bit_length() - 1
    scratch_a = np.empty(rows * n // 2, dtype=np.uint64)
    scratch_b = np.empty(rows * n // 2, dtype=np.uint64)
    half = n // 2
    while half >= 1:
        view = buf.reshape(rows, n // (2 * half), 2, half)
        lo, hi = view[:, :, 0, :], view[:, :, 1, :]
        tw = _stage_twiddles(log_n, half)
        if half >= nonzero_prefix:
            width = nonzero_prefix
            prod = scratch_a[: rows * (n // (2 * half)) * width].reshape(rows, -1, width)
            np.multiply(lo[:, :, :width], tw[:width], out=prod)
            quot = scratch_b[: prod.size].reshape(prod.shape)
            np.floor_divide(prod, _P, out=quot)
            np.multiply(quot, _P, out=quot)
            np.subtract(prod, quot, out=hi[:, :, :width])
        else:
            total = scratch_a.reshape(lo.shape)
            diff = scratch_b.reshape(lo.shape)
            np.add(lo, hi, out=total)  # < 2p
            np.subtract(lo, hi, out=diff)
            np.add(diff, _P, out=diff)  # lo - hi + p in (0, 2p), exact through uint64 wrap-around
            np.subtract(total, _P, out=lo)  # wraps to a huge value when total < p ...
            np.minimum(total, lo, out=lo)  # ... so the minimum is total mod p
            np.multiply(diff, tw, out=diff)  # < 2p * p < 2^63
            np.floor_divide(diff, _P, out=total)
            np.multiply(total, _P, out=total)
            np.subtract(diff, total, out=hi)
        half //= 2


def _check_rows(values: np.ndarray, what: str) -> np.ndarray:
    """Validate a field array whose last axis is a power of two <= 2^27; return it as 2-D uint64 rows."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array with a last axis, got a scalar")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what}: expected integer field elements, got dtype {arr.dtype}")
    n = arr.shape[-1]
    if n == 0 or n & (n - 1):
        raise ValueError(f"{what}: length {n} is not a power of two")
    if n.bit_length() - 1 > MAX_LOG_SIZE:
        raise ValueError(f"{what}: length {n} exceeds 2^{MAX_LOG_SIZE}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= F.P):
        raise ValueError(f"{what}: entries must lie in [0, p)")
    return arr.reshape(-1, n).astype(np.uint64, copy=False)


def ntt(values: np.ndarray) -> np.ndarray:
    """Forward NTT along the last axis: out[..., k] = sum_i values[..., i] * w^(i k), w of order n."""
    rows = _check_rows(values, "ntt")
    n = rows.shape[1]
    buf = rows.copy()
    _dif_in_place(buf, n)
    return buf[:, _bit_reversal(n.bit_length() - 1)].reshape(np.shape(values))


def intt(values: np.ndarray) -> np.ndarray:
    """Inverse NTT along the last axis: recovers x from ntt(x) (forward transform at -k, times 1/n)."""
    rows = _check_rows(values, "intt")
    n = rows.shape[1]
    log_n = n.bit_length() - 1
    buf = rows.copy()
    _dif_in_place(buf, n)
    negated = (-np.arange(n, dtype=np.int64)) % n
    out = buf[:, _bit_reversal(log_n)[negated]]
    out = (out * np.uint64(pow(n, F.P - 2, F.P))) % _P
    return out.reshape(np.shape(values))


def _encode_block(coeffs: np.ndarray, rate_log: int) -> np.ndarray:
    """RS codewords (bit-reversed order) of a block of coefficient rows; internal, no validation."""
    rows, width = coeffs.shape
    length = width << rate_log
    buf = np.zeros((rows, length), dtype=np.uint64)
    buf[:, :width] = coeffs
    _dif_in_place(buf, width)
    return buf


def rs_encode(rows: np.ndarray, rate_log: int) -> np.ndarray:
    """Reed-Solomon encode each row: coefficients (C,) -> evaluations at all 2^rate_log * C roots of unity.

    Output entry k of a row is f(w^k) with f(X) = sum_i row[i] X^i and w of order 2^rate_log * C.
    """
    arr = _check_rows(rows, "rs_encode")
    _check_rate(rate_log, arr.shape[1])
    length = arr.shape[1] << rate_log
    out = _encode_block(arr, rate_log)[:, _bit_reversal(length.bit_length() - 1)]
    return out.reshape(*np.shape(rows)[:-1], length)


def encode_rows_into(rows: np.ndarray, rate_log: int, out: np.ndarray) -> None:
    """Write the RS codewords of ``rows`` (R, C), transposed, into ``out`` (L, R): out[c, r] is row r's
    codeword entry c.

    ``rows`` must hold canonical elements (uint32 or uint64, not checked: internal to the commitment).  Rows
    are encoded in cache-sized blocks, on the prover's threads (``threads``) when there are enough of them;
    scratch is a block per thread whatever R is.
    """
    num_rows, width = rows.shape
    length = width << rate_log
    bitrev = _bit_reversal(length.bit_length() - 1)
    block_rows, threads = _encode_blocks(num_rows, length, TH.count())

    def encode_block(start: int) -> None:
        stop = min(num_rows, start + block_rows)
        out[:, start:stop] = _encode_block(rows[start:stop], rate_log).T[bitrev]

    starts = range(0, num_rows, block_rows)
    if threads == 1:
        for start in starts:
            encode_block(start)
    else:
        TH.map_ordered(encode_block, starts)


def _encode_blocks(num_rows: int, length: int, workers: int) -> tuple[int, int]:
    """Rows per cache-sized block, and threads, of ``encode_rows_into`` on R rows of codeword length L."""
    block_elements = min(_BLOCK_ELEMENTS, max(length, num_rows * length // _MIN_BLOCKS))
    threads = 1 if workers <= 1 or num_rows * length < 4 * _BLOCK_ELEMENTS else workers
    return max(1, block_elements // length), threads


def encode_scratch_elements(num_rows: int, length: int, workers: int) -> int:
    """Codeword entries ``encode_rows_into`` transforms at once (a block on each thread), for the planner."""
    block_rows, threads = _encode_blocks(num_rows, length, workers)
    return threads * min(block_rows, num_rows) * length


def rs_encode_at(
    rows: np.ndarray, rate_log: int, positions: np.ndarray, length: int | None = None
) -> np.ndarray:
    """Only the codeword entries at natural ``positions`` of every row's RS encoding, transposed:
    out[j, r] = f_r(w^positions[j]) as uint64 (len(positions), R); w has order ``length`` when given (rows
    holding fewer coefficients than a power of two), else C * 2^rate_log.

    Direct evaluation, sum_i rows[r, i] w^(i k), as exact limb GEMMs against the needed Vandermonde columns a
    block of coefficients at a time: for a few hundred positions about half the work of encoding whole rows,
    with scratch of a few MiB.  ``rows`` must hold canonical elements (uint32 or uint64, not checked).
    """
    num_rows, width = rows.shape
    length = length or width << rate_log
    half = _powers(length.bit_length() - 1)  # w^e for e < L/2; w^(e + L/2) = -w^e
    powers = np.concatenate([half, (_P - half) % _P])[:length]
    ks = np.asarray(positions, dtype=np.int64)
    out = np.zeros((ks.size, num_rows), dtype=np.uint64)
    if num_rows == 0 or ks.size == 0:
        return out
    step = max(1, _EVAL_BLOCK_ELEMENTS // max(num_rows, ks.size))
    for start in range(0, width, step):
        stop = min(width, start + step)
        exponents = np.multiply.outer(ks, np.arange(start, stop, dtype=np.int64))  # < 2^52
        exponents &= length - 1
        out += F._limb_dot(powers[exponents], rows[:, start:stop])
        out %= _P
    return out


def _check_rate(rate_log: int, width: int) -> None:
    """Refuse a rate or message width whose codeword would exceed the largest transform size."""
    if rate_log < 0:
        raise ValueError(f"rate_log must be >= 0, got {rate_log}")
    if (width << rate_log).bit_length() - 1 > MAX_LOG_SIZE:
        raise ValueError(f"codeword length {width << rate_log} exceeds 2^{MAX_LOG_SIZE}")
