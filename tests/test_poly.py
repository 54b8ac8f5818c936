"""Multilinear extensions: eq tables, evaluation, folding and separable tensor MLEs."""

import itertools

import numpy as np
import pytest

from edgeprove import field as F
from edgeprove import poly


def brute_eval(table, z):
    n = z.shape[1]
    total = F.ext_zeros()
    for idx, bits in enumerate(itertools.product([0, 1], repeat=n)):  # MSB first
        w = F.ext_ones()
        for k, b in enumerate(bits):
            zk = z[:, k]
            w = F.ext_mul(w, zk if b else F.ext_sub(F.ext_ones(), zk))
        value = F.ext_from_base(table[idx]) if table.ndim == 1 else table[:, idx]
        total = F.ext_add(total, F.ext_mul(w, value))
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_evaluate_matches_definition(n):
    rng = np.random.default_rng(n)
    z = F.random_ext(rng, n)
    base = F.random_base(rng, 1 << n)
    ext = F.random_ext(rng, 1 << n)
    assert F.ext_eq(poly.evaluate(base, z), brute_eval(base, z))
    assert F.ext_eq(poly.evaluate(ext, z), brute_eval(ext, z))


def test_eq_table_and_eq_eval_agree_on_boolean_points():
    rng = np.random.default_rng(1)
    z = F.random_ext(rng, 4)
    table = poly.eq_table(z)
    for x in range(16):
        bits = np.array([(x >> (3 - k)) & 1 for k in range(4)], dtype=np.uint64)
        assert F.ext_eq(table[:, x], poly.eq_eval(z, F.ext_from_base(bits)))
    assert F.ext_eq(F.ext_sum(table), F.ext_ones())


def test_fold_binds_most_significant_variable():
    rng = np.random.default_rng(2)
    t = F.random_base(rng, 16)
    z = F.random_ext(rng, 4)
    folded = poly.fold(t, z[:, 0])
    assert F.ext_eq(poly.evaluate(folded, z[:, 1:]), poly.evaluate(t, z))
    folded2 = poly.fold(folded, z[:, 1])
    assert F.ext_eq(poly.evaluate(folded2, z[:, 2:]), poly.evaluate(t, z))


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 7, 5), (2, 4, 4), (5, 1, 3)])
def test_padded_tensor_mle(shape):
    rng = np.random.default_rng(sum(shape))
    values = rng.integers(-128, 128, size=shape)
    padded_shape = [poly.next_pow2(s) for s in shape]
    padded = np.zeros(padded_shape, dtype=np.int64)
    padded[: shape[0], : shape[1], : shape[2]] = values
    n = sum(poly.num_vars(s) for s in padded_shape)
    z = F.random_ext(rng, n)
    expected = poly.evaluate(F.asbase(padded.ravel()), z)
    assert F.ext_eq(poly.evaluate_padded(values, shape, z), expected)


def test_bad_lengths_raise():
    with pytest.raises(ValueError):
        poly.num_vars(6)
    with pytest.raises(ValueError):
        poly.evaluate(np.zeros(4, dtype=np.uint64), F.ext_zeros(3))
    assert poly.next_pow2(1) == 1 and poly.next_pow2(5) == 8 and poly.next_pow2(0) == 1


@pytest.mark.parametrize("num_vars", [0, 1, 3, 6])
def test_eq_prefix_sum_is_the_sum_of_the_eq_table_prefix(num_vars):
    z = F.random_ext(np.random.default_rng(num_vars), num_vars)
    table = poly.eq_table(z)
    for length in range((1 << num_vars) + 1):
        assert F.ext_eq(
            poly.eq_prefix_sum(z, length), F.ext_sum(table[:, :length]) if length else F.ext_zeros()
        )
    with pytest.raises(ValueError, match="does not fit"):
        poly.eq_prefix_sum(z, (1 << num_vars) + 1)


def test_eq_tables_are_the_points_eq_tables():
    points = F.random_ext(np.random.default_rng(8), (3, 5))
    tables = poly.eq_tables(points)
    assert tables.shape == (4, 3, 32)
    for j in range(3):
        assert F.ext_eq(tables[:, j], poly.eq_table(points[:, j]))
    assert poly.eq_tables(F.ext_zeros((2, 0))).shape == (4, 2, 1)


def test_a_base_table_is_evaluated_a_block_of_rows_at_a_time_exactly(monkeypatch):
    rng = np.random.default_rng(5)
    table = F.random_base(rng, 1 << 9)
    z = F.random_ext(rng, 9)
    whole = poly.evaluate(table, z)
    monkeypatch.setattr(poly, "EVALUATE_BLOCK_VALUES", 32)  # rows of 2^5 entries: one row a block
    assert F.ext_eq(poly.evaluate(table, z), whole)
    assert F.ext_eq(whole, F.ext_inner(table, poly.eq_table(z)))
