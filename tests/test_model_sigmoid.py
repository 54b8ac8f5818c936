"""The integer sigmoid: every threshold a model may name is resolved, the table equals float sigmoid's
rounding, saturates exactly, and is pinned so that every platform builds the same one."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from edgeprove.model import sigmoid

SCALES = [(f, g) for f in range(sigmoid.MAX_OUT_FRAC + 1) for g in range(16 + 1)]


def float_rounded(q: np.ndarray, out_frac: int, q_frac: int) -> tuple[np.ndarray, np.ndarray]:
    """min(act_max, floor(2^f sigma(q / 2^g) + 1/2)) in float64, and the distance of 2^f sigma from the
    nearest half-integer (where float64 could round either way)."""
    x = q.astype(np.float64) / 2.0**q_frac
    scaled = 2.0**out_frac / (1.0 + np.exp(np.minimum(-x, 700.0)))
    rounded = np.minimum(np.floor(scaled + 0.5), sigmoid.act_max_for(out_frac))
    return rounded.astype(np.int64), np.abs(scaled - np.floor(scaled) - 0.5)


def test_every_scale_a_model_may_name_has_resolved_thresholds():
    """``thresholds`` raises ArithmeticError where a ceiling is within its error bound of an integer; no
    (out_frac, q_frac) in range comes near, so the table is the exact mathematical one for all of them."""
    assert sigmoid.Q_FRAC_RANGE == (0, 16)
    for out_frac, q_frac in SCALES:
        steps = sigmoid.thresholds(out_frac, q_frac)
        assert len(steps) == sigmoid.act_max_for(out_frac)
        assert np.all(np.diff(steps) >= 0)


@pytest.mark.parametrize("out_frac, q_frac", SCALES[::5] + [(7, 6), (7, 0), (0, 0), (7, 16)])
def test_the_table_is_float_sigmoid_rounded_half_up(out_frac, q_frac):
    q = np.arange(-(1 << 15), 1 << 15, dtype=np.int64)
    y = sigmoid.sigmoid(q, out_frac, q_frac)
    expected, distance = float_rounded(q, out_frac, q_frac)
    assert np.array_equal(y, expected)
    # float64's rounding is unambiguous here: no 2^f sigma comes within 10^-9 of a half-integer, but for the
    # true tie sigma(0) = 1/2 at out_frac 0, which both round half up to 1
    tie = (q == 0) & (out_frac == 0)
    assert distance[~tie].min() > 1e-9
    if out_frac == 0:
        assert sigmoid.sigmoid(np.array([-1, 0]), 0, q_frac).tolist() == [0, 1]


def test_error_against_float_sigmoid_is_half_a_step_and_the_clamp_at_127():
    q = np.arange(-2000, 2000, dtype=np.int64)
    exact = 128.0 / (1.0 + np.exp(-q / 64.0))
    y = sigmoid.sigmoid(q, 7, 6)
    below = exact < 127.5
    assert np.max(np.abs(y[below] - exact[below])) <= 0.5
    assert np.max(np.abs(y - exact)) <= 1.0  # 128 sigma > 127.5 is clamped to 127


def test_saturation_is_exact_beyond_the_outer_thresholds():
    for out_frac, q_frac in [(7, 6), (7, 0), (3, 10), (0, 4)]:
        steps = sigmoid.thresholds(out_frac, q_frac)
        top = sigmoid.act_max_for(out_frac)
        low = np.arange(steps[0] - 5000, steps[0], dtype=np.int64)
        high = np.arange(steps[-1], steps[-1] + 5000, dtype=np.int64)
        assert not sigmoid.sigmoid(low, out_frac, q_frac).any()
        assert np.all(sigmoid.sigmoid(high, out_frac, q_frac) == top)
        huge = np.array([-(1 << 40), 1 << 40])
        assert sigmoid.sigmoid(huge, out_frac, q_frac).tolist() == [0, top]
    # at out_frac 7, q_frac 6: y = 0 below x = -ln 255 and 127 from x = ln(253 / 3)
    steps = sigmoid.thresholds(7, 6)
    assert steps[0] == math.ceil(64 * math.log(1 / 255)) and steps[-1] == math.ceil(64 * math.log(253 / 3))


def test_the_thresholds_are_pinned():
    """Integer arithmetic only: this digest is the same on every platform (a change here changes proofs)."""
    hasher = hashlib.sha256()
    for out_frac, q_frac in SCALES:
        hasher.update(sigmoid.thresholds(out_frac, q_frac).astype("<i8").tobytes())
    assert hasher.hexdigest()[:16] == PINNED


def test_scales_outside_the_range_are_refused():
    with pytest.raises(ValueError, match="out_frac in"):
        sigmoid.thresholds(8, 6)
    with pytest.raises(ValueError, match="q_frac in"):
        sigmoid.thresholds(7, 17)


def test_logarithms_in_integers_match_math_log():
    for num, den in [(1, 255), (255, 1), (3, 5), (127, 129), (1, 1)]:
        value, error = sigmoid._ln_ratio_fixed(num, den)
        assert abs(value / 2.0**sigmoid.PRECISION_BITS - math.log(num / den)) < 1e-15
        assert error < 1 << 12


PINNED = "74e0d96981651f77"
