"""NTT and Reed-Solomon encoding against a naive O(n^2) DFT, round trips, and input validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeprove import field as F
from edgeprove import threads
from edgeprove.commit import ntt


def naive_dft(rows: np.ndarray) -> np.ndarray:
    """out[k] = sum_i x[i] w^(ik) with Python ints, row by row."""
    n = rows.shape[-1]
    w = ntt.root_of_unity(n.bit_length() - 1)
    powers = [[pow(w, i * k, F.P) for i in range(n)] for k in range(n)]
    flat = rows.reshape(-1, n)
    out = [[sum(int(x) * c for x, c in zip(row, powers[k])) % F.P for k in range(n)] for row in flat]
    return np.array(out, dtype=np.uint64).reshape(rows.shape)


@pytest.mark.parametrize("log_n", [0, 1, 5, 13, 27])
def test_root_of_unity_has_exact_order(log_n):
    w = ntt.root_of_unity(log_n)
    assert pow(w, 1 << log_n, F.P) == 1
    if log_n:
        assert pow(w, 1 << (log_n - 1), F.P) == F.P - 1


def test_no_root_beyond_two_adicity():
    with pytest.raises(ValueError, match="two-adicity"):
        ntt.root_of_unity(28)


@pytest.mark.parametrize("log_n", range(0, 7))
def test_ntt_matches_naive_dft(log_n):
    rng = np.random.default_rng(log_n)
    x = F.random_base(rng, (3, 1 << log_n))
    assert np.array_equal(ntt.ntt(x), naive_dft(x))


def test_ntt_keeps_shape_of_1d_and_3d_input():
    rng = np.random.default_rng(7)
    x1 = F.random_base(rng, 16)
    x3 = F.random_base(rng, (2, 3, 8))
    assert np.array_equal(ntt.ntt(x1), naive_dft(x1))
    assert ntt.ntt(x3).shape == x3.shape
    assert np.array_equal(ntt.ntt(x3), naive_dft(x3))


@settings(max_examples=20, deadline=None)
@given(log_n=st.integers(0, 12), rows=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_inverse_undoes_forward(log_n, rows, seed):
    x = F.random_base(np.random.default_rng(seed), (rows, 1 << log_n))
    assert np.array_equal(ntt.intt(ntt.ntt(x)), x)
    assert np.array_equal(ntt.ntt(ntt.intt(x)), x)


@pytest.mark.parametrize("log_c", [0, 1, 3, 5])
@pytest.mark.parametrize("rate_log", [0, 1, 2, 3])
def test_rs_encode_evaluates_rows_on_roots_of_unity(log_c, rate_log):
    rng = np.random.default_rng(10 * log_c + rate_log)
    coeffs = F.random_base(rng, (2, 1 << log_c))
    padded = np.zeros((2, (1 << log_c) << rate_log), dtype=np.uint64)
    padded[:, : 1 << log_c] = coeffs
    encoded = ntt.rs_encode(coeffs, rate_log)
    assert np.array_equal(encoded, naive_dft(padded))
    # the message is recoverable: the inverse transform gives back the zero-padded coefficients
    assert np.array_equal(ntt.intt(encoded), padded)


@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (300, 64), (3, 4096)])
@pytest.mark.parametrize("workers", [1, 2])
def test_encode_rows_into_writes_the_transposed_encoding(shape, workers):
    rng = np.random.default_rng(shape[0] * shape[1])
    matrix = F.random_base(rng, shape)
    columns = np.empty((shape[1] * 4, shape[0]), dtype=np.uint32)
    with threads.using(workers):
        ntt.encode_rows_into(matrix, 2, columns)
    assert np.array_equal(columns.T.astype(np.uint64), ntt.rs_encode(matrix, 2))


@pytest.mark.parametrize("shape", [(1, 1), (7, 8), (40, 256), (0, 16)])
@pytest.mark.parametrize("rate_log", [1, 2, 3])
def test_rs_encode_at_gives_the_codeword_entries_at_those_positions(shape, rate_log):
    rng = np.random.default_rng(shape[0] + 31 * shape[1] + rate_log)
    rows = F.random_base(rng, shape)
    length = shape[1] << rate_log
    positions = np.unique(rng.integers(0, length, 9))
    expected = ntt.rs_encode(rows, rate_log)[:, positions].T if shape[0] else np.zeros((positions.size, 0))
    for data in (rows, rows.astype(np.uint32)):  # the commitment keeps its rows as uint32
        got = ntt.rs_encode_at(data, rate_log, positions)
        assert got.dtype == np.uint64 and got.shape == (positions.size, shape[0])
        assert np.array_equal(got, expected)


def test_rs_encode_at_takes_many_coefficient_blocks(monkeypatch):
    """Blocks of the coefficients smaller than a row: the partial sums over blocks add up exactly."""
    monkeypatch.setattr(ntt, "_EVAL_BLOCK_ELEMENTS", 8)
    rng = np.random.default_rng(4)
    rows = F.random_base(rng, (3, 64))
    positions = np.array([0, 1, 2, 100, 255])
    assert np.array_equal(ntt.rs_encode_at(rows, 2, positions), ntt.rs_encode(rows, 2)[:, positions].T)


@pytest.mark.parametrize("rows", [1, 3, 64])
def test_encode_rows_into_fills_a_column_block_from_uint32_rows(rows):
    rng = np.random.default_rng(rows)
    matrix = F.random_base(rng, (rows, 1 << 12))
    out = np.empty(((1 << 12) << 2, rows), dtype=np.uint32)
    ntt.encode_rows_into(matrix.astype(np.uint32), 2, out)
    assert np.array_equal(out.T.astype(np.uint64), ntt.rs_encode(matrix, 2))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 3), dtype=np.uint64), "not a power of two"),
        (np.zeros((2, 0), dtype=np.uint64), "not a power of two"),
        (np.full(4, F.P, dtype=np.uint64), r"\[0, p\)"),
        (np.array([-1, 0], dtype=np.int64), r"\[0, p\)"),
        (np.zeros(4, dtype=np.float64), "integer"),
        (np.uint64(3), "scalar"),
    ],
)
def test_bad_input_is_a_clear_error(bad, message):
    for fn in (ntt.ntt, ntt.intt, lambda x: ntt.rs_encode(x, 1)):
        with pytest.raises(ValueError, match=message):
            fn(bad)


def test_codeword_longer_than_two_adicity_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        ntt.rs_encode(np.zeros((1, 1 << 20), dtype=np.uint64), 8)
    with pytest.raises(ValueError, match="rate_log"):
        ntt.rs_encode(np.zeros((1, 4), dtype=np.uint64), -1)
