"""BabyBear and its degree-4 extension against a pure-Python big-integer reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeprove import field as F

P = F.P
elements = st.integers(min_value=0, max_value=P - 1)
edge = st.sampled_from([0, 1, P - 1, P - 2, 2, (P - 1) // 2])
any_element = st.one_of(elements, edge)
ext_elements = st.tuples(any_element, any_element, any_element, any_element)


def ref_ext_mul(a, b):
    prod = [0] * 7
    for i in range(4):
        for j in range(4):
            prod[i + j] += a[i] * b[j]
    return tuple((prod[k] + F.NONRESIDUE * (prod[k + 4] if k + 4 < 7 else 0)) % P for k in range(4))


def as_ext(values):
    return np.array(values, dtype=np.uint64).T.reshape(4, -1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(any_element, any_element), min_size=1, max_size=40))
def test_base_ops_match_bigint(pairs):
    a = np.array([x for x, _ in pairs], dtype=np.uint64)
    b = np.array([y for _, y in pairs], dtype=np.uint64)
    assert [int(v) for v in F.add(a, b)] == [(x + y) % P for x, y in pairs]
    assert [int(v) for v in F.sub(a, b)] == [(x - y) % P for x, y in pairs]
    assert [int(v) for v in F.mul(a, b)] == [(x * y) % P for x, y in pairs]
    assert [int(v) for v in F.neg(a)] == [(-x) % P for x, _ in pairs]
    assert [int(v) for v in F.power(a, 12345)] == [pow(x, 12345, P) for x, _ in pairs]
    assert F.inner(a, b) == sum(x * y for x, y in pairs) % P


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ext_elements, ext_elements), min_size=1, max_size=30))
def test_ext_ops_match_bigint(pairs):
    a = as_ext([x for x, _ in pairs])
    b = as_ext([y for _, y in pairs])
    got = F.ext_mul(a, b)
    for k, (x, y) in enumerate(pairs):
        assert tuple(int(v) for v in got[:, k]) == ref_ext_mul(x, y)
    total = [0, 0, 0, 0]
    for x, y in pairs:
        total = [(t + v) % P for t, v in zip(total, ref_ext_mul(x, y))]
    assert F.ext_to_ints(F.ext_inner(a, b)) == tuple(total)
    assert F.ext_eq(F.ext_sub(F.ext_add(a, b), b), a)
    assert F.ext_eq(F.ext_add(F.ext_neg(a), a), F.ext_zeros(a.shape[1]))


@settings(max_examples=40, deadline=None)
@given(st.lists(ext_elements, min_size=1, max_size=20))
def test_ext_inverse(values):
    a = as_ext(values)
    nonzero = np.any(a != 0, axis=0)
    a = a[:, nonzero]
    if a.shape[1] == 0:
        return
    assert F.ext_eq(F.ext_mul(a, F.ext_inv(a)), F.ext_ones(a.shape[1]))


def test_inverse_of_zero_raises():
    with pytest.raises(ZeroDivisionError):
        F.inv(np.array([3, 0], dtype=np.uint64))
    with pytest.raises(ZeroDivisionError):
        F.ext_inv(F.ext_zeros(1))


def test_base_batch_inverse_and_edges():
    a = np.array([1, 2, P - 1, 12345], dtype=np.uint64)
    assert [int(v) for v in F.mul(a, F.batch_inv(a))] == [1, 1, 1, 1]
    assert int(F.inv(np.array([P - 1], dtype=np.uint64))[0]) == P - 1


def _poly_mod(a, m):
    a = list(a)
    while len(a) >= len(m):
        if a[-1] == 0:
            a.pop()
            continue
        c = a[-1] * pow(m[-1], P - 2, P) % P
        shift = len(a) - len(m)
        for i, mi in enumerate(m):
            a[shift + i] = (a[shift + i] - c * mi) % P
        a.pop()
    while a and a[-1] == 0:
        a.pop()
    return a


def _poly_gcd(a, b):
    while b:
        a, b = b, _poly_mod(a, b)
    return a


def test_binomial_is_irreducible():
    """Rabin's test: X^4 - 11 has no factor of degree 1 or 2, i.e. gcd(X^(p^2) - X, f) = 1."""
    assert pow(F.NONRESIDUE, (P - 1) // 2, P) == P - 1  # 11 is a quadratic non-residue
    assert (P - 1) % 4 == 0
    x = F.ext_zeros()
    x[1] = 1
    x_p2 = F.ext_pow(x, P * P)
    coeffs = [int(v) for v in x_p2]
    coeffs[1] = (coeffs[1] - 1) % P  # X^(p^2) - X reduced mod f
    f = [(-F.NONRESIDUE) % P, 0, 0, 0, 1]
    g = _poly_gcd(f, [c for c in coeffs])
    assert len(g) == 1  # a nonzero constant
    assert F.ext_eq(F.ext_pow(x, P**4), x)  # and X^(p^4) = X: every root lies in F_{p^4}


def test_signed_encoding_round_trip_and_range():
    values = np.array([0, 1, -1, 127, -128, F.HALF, -F.HALF], dtype=np.int64)
    enc = F.encode_signed(values)
    assert int(enc[2]) == P - 1
    assert np.array_equal(F.decode_signed(enc), values)
    with pytest.raises(OverflowError):
        F.encode_signed(np.array([F.HALF + 1]))
    with pytest.raises(OverflowError):
        F.encode_signed(np.array([5]), bound=4)


def test_generator_has_full_order():
    for q in (2, 3, 5):
        assert pow(F.GENERATOR, (P - 1) // q, P) != 1


def test_inner_products_over_chunk_boundary():
    rng = np.random.default_rng(3)
    n = (1 << 20) + 5
    a = F.random_base(rng, n)
    b = F.random_ext(rng, n)
    expected = F.ext_sum(F.ext_scale(b, a))
    assert F.ext_eq(F.ext_inner(a, b), expected)


def test_ext_mul_scalar_matches_ext_mul():
    rng = np.random.default_rng(8)
    a = F.random_ext(rng, (3, 5))
    b = F.random_ext(rng)
    assert F.ext_eq(F.ext_mul_scalar(a, b), F.ext_mul(a, b.reshape(4, 1, 1)))
    edge = np.full((4, 2), P - 1, dtype=np.uint64)
    assert F.ext_eq(F.ext_mul_scalar(edge, edge[:, 0]), F.ext_mul(edge, edge))


@pytest.mark.parametrize("shape", [(3,), (2, 8), (5, 300), (1 << 12,)])
def test_ext_products_of_every_size_match_python_ints(shape):
    """Few-element (matrix), small (expressions) and large (in-place limbs) products agree with ext_mul_ints,
    including the largest elements, where the limb sums come closest to 2^64."""
    rng = np.random.default_rng(len(shape) + shape[-1])
    a, b = F.random_ext(rng, shape), F.random_ext(rng, shape)
    a.reshape(4, -1)[:, 0] = F.P - 1
    b.reshape(4, -1)[:, 0] = F.P - 1
    scalar = F.random_ext(rng)
    flat_a, flat_b = a.reshape(4, -1), b.reshape(4, -1)
    product, scaled = F.ext_mul(a, b).reshape(4, -1), F.ext_mul_scalar(a, scalar).reshape(4, -1)
    for i in (0, flat_a.shape[1] // 2, flat_a.shape[1] - 1):
        left, right = [int(v) for v in flat_a[:, i]], [int(v) for v in flat_b[:, i]]
        assert tuple(product[:, i].tolist()) == F.ext_mul_ints(left, right)
        assert tuple(scaled[:, i].tolist()) == F.ext_mul_ints(left, [int(v) for v in scalar])


def test_ext_inner_rows_is_a_row_by_row_ext_inner():
    rng = np.random.default_rng(12)
    rows, vector = F.random_ext(rng, (3, 257)), F.random_ext(rng, 257)
    out = F.ext_inner_rows(rows, vector)
    assert out.shape == (4, 3)
    for r in range(3):
        assert F.ext_eq(out[:, r], F.ext_inner(rows[:, r], vector))


@pytest.mark.parametrize(
    ("n", "k", "m"),
    [(1, 1, 1), (3, 5, 7), (2, 600, 3), (5, 41, 900), (700, 2, 3)],
    ids=["scalar", "small", "inner-over-511", "column-blocks", "row-blocks"],
)
def test_ext_matmul_matches_python_ints(n, k, m):
    """a @ b in K, with the largest elements present, into a new and a compact array: every entry against
    ext_mul term by term, a few against Python ints."""
    rng = np.random.default_rng(n * 1000 + k + m)
    a, b = F.random_ext(rng, (n, k)), F.random_ext(rng, (k, m))
    a[:, 0, :] = P - 1
    b[:, :, 0] = P - 1
    compact = np.zeros((4, n, m), dtype=np.uint32)
    assert F.ext_matmul(a, b, out=compact) is compact
    product = F.ext_matmul(a, b)
    assert product.dtype == np.uint64 and np.array_equal(product, compact)
    by_terms = np.zeros((4, n, m), dtype=np.uint64)
    for v in range(k):
        by_terms = F.add(by_terms, F.ext_mul(a[:, :, v, None], b[:, None, v, :]))
    assert np.array_equal(product, by_terms)
    checked = [(0, 0), (n - 1, m - 1), (n // 2, m // 3)]
    for row, col in checked:
        expected = [0, 0, 0, 0]
        for v in range(k):
            term = ref_ext_mul(tuple(int(x) for x in a[:, row, v]), tuple(int(x) for x in b[:, v, col]))
            expected = [(e + t) % P for e, t in zip(expected, term)]
        assert tuple(product[:, row, col].tolist()) == tuple(expected)
