"""The integer sigmoid: y = min(act_max, round(2^f * sigma(q / 2^g))), computed from integers alone.

q is the requantized accumulator at scale 2^-g (``Layer.q_frac``), y the output at scale 2^-f
(``Layer.out_frac``, 0 <= f <= 7) with act_max = min(2^f, 127), and round is half up.  Since sigma is
increasing, y(q) is the number of thresholds Q_k <= q, where Q_k is the smallest integer q with
round(2^f sigma(q / 2^g)) >= k + 1:

    Q_k = ceil(2^g * t_k),   t_k = ln((2k + 1) / (2^(f+1) - 2k - 1)),   k = 0 .. act_max - 1

(2^f sigma(x) >= k + 1/2  <=>  sigma(x) >= (2k+1) / 2^(f+1)  <=>  x >= t_k).  Each t_k is computed in Python
integers to 2^-PRECISION_BITS with a proven error bound, so every platform builds the same thresholds; t_k is
irrational unless it is 0 (e^x is irrational for rational x != 0), so 2^g t_k is never an integer and its
ceiling is unambiguous once the error bound clears the nearest integer, which ``thresholds`` checks (and
tests/test_model_sigmoid.py runs over every (f, g) a model may name).  Below Q_0 y is 0 and from
Q_(act_max-1) on it is act_max: saturation is exact, whatever range q has.
"""

from __future__ import annotations

import functools

import numpy as np

MAX_OUT_FRAC = 7
"""Largest out_frac of a sigmoid layer: y in [0, 2^7] clamped to int8's 127."""
Q_FRAC_RANGE = (0, 16)
"""The q_frac a sigmoid layer may name: q / 2^g with q of at most 16 bits (the activation table's limit)."""
PRECISION_BITS = 192
"""Fixed-point bits of every t_k: its error (below 2^-180) is far below any gap the ceiling must resolve."""


def act_max_for(out_frac: int) -> int:
    """The largest output of a sigmoid at scale 2^-out_frac: 2^out_frac (sigma -> 1), capped at 127."""
    return min(1 << out_frac, 127)


def _atanh_fixed(num: int, den: int, scale: int) -> tuple[int, int]:
    """atanh(num / den) * 2^scale rounded down term by term, for 0 <= num / den <= 1/3, and an error bound in
    units of 2^-scale (each of the K floored terms loses < 1; the tail after them is < 2 units)."""
    total, power_num, power_den, k = 0, num, den, 0
    while True:
        term = (power_num << scale) // (power_den * (2 * k + 1))
        if term == 0:
            return total, k + 2
        total += term
        power_num *= num * num
        power_den *= den * den
        k += 1


@functools.lru_cache(maxsize=1)
def _ln2_fixed() -> tuple[int, int]:
    """ln 2 = 2 atanh(1/3), times 2^PRECISION_BITS, and its error bound in units."""
    value, error = _atanh_fixed(1, 3, PRECISION_BITS)
    return 2 * value, 2 * error


def _ln_ratio_fixed(num: int, den: int) -> tuple[int, int]:
    """ln(num / den) * 2^PRECISION_BITS (num, den >= 1) and its error bound in units: num / den = 2^e * u with
    u in [2/3, 4/3), ln u = 2 atanh((u - 1)/(u + 1)) with |(u - 1)/(u + 1)| <= 1/5."""
    e = num.bit_length() - den.bit_length()
    while True:
        u_num, u_den = (num, den << e) if e >= 0 else (num << -e, den)
        if 3 * u_num >= 4 * u_den:
            e += 1
        elif 3 * u_num < 2 * u_den:
            e -= 1
        else:
            break
    sign = 1 if u_num >= u_den else -1
    atanh, atanh_error = _atanh_fixed(abs(u_num - u_den), u_num + u_den, PRECISION_BITS)
    ln2, ln2_error = _ln2_fixed()
    return e * ln2 + sign * 2 * atanh, abs(e) * ln2_error + 2 * atanh_error


@functools.lru_cache(maxsize=64)
def thresholds(out_frac: int, q_frac: int) -> np.ndarray:
    """Q_0 < ... (int64, act_max_for(out_frac) entries, non-decreasing): y(q) = #{k : Q_k <= q}.

    ArithmeticError if a ceiling were within the error bound of an integer (never for the (f, g) a model may
    name: tests/test_model_sigmoid.py tries them all)."""
    if not 0 <= out_frac <= MAX_OUT_FRAC or not Q_FRAC_RANGE[0] <= q_frac <= Q_FRAC_RANGE[1]:
        raise ValueError(f"sigmoid needs out_frac in [0, {MAX_OUT_FRAC}] and q_frac in {list(Q_FRAC_RANGE)}")
    levels = 1 << (out_frac + 1)
    out = []
    for k in range(act_max_for(out_frac)):
        num, den = 2 * k + 1, levels - 2 * k - 1
        if num == den:  # t_k = 0 exactly (out_frac 0): sigma(0) = 1/2 rounds up to 1 at q = 0
            out.append(0)
            continue
        value, error = _ln_ratio_fixed(num, den)
        scaled, margin = value << q_frac, (error + 1) << q_frac
        ceiling = -((-scaled) >> PRECISION_BITS)
        below = (ceiling - 1) << PRECISION_BITS
        if scaled - margin <= below or scaled + margin >= ceiling << PRECISION_BITS:
            raise ArithmeticError(f"sigmoid threshold {k} at (f={out_frac}, g={q_frac}) is not resolved")
        out.append(ceiling)
    return np.array(out, dtype=np.int64)


def sigmoid(q: np.ndarray, out_frac: int, q_frac: int) -> np.ndarray:
    """y = min(act_max, round(2^out_frac * sigma(q / 2^q_frac))) for integer q (int64, q's shape)."""
    steps = thresholds(out_frac, q_frac)
    return np.searchsorted(steps, np.asarray(q, dtype=np.int64), side="right").astype(np.int64)
