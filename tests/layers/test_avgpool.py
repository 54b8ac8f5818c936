"""Average pools on random shapes (windows 1 to 7, a power of two divided by the shift, others by a
fixed-point multiply and shift): one layer proves and verifies, after a ReLU layer too, every value of a
pool's sections is checked, the rescale is close to the mean, and a prover whose rounded average is off by
one is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove import lookup, prover, verifier
from edgeprove.layers.avgpool import MAX_RESCALED_WINDOW, MIN_RESCALE_BITS, RESCALE_BITS, window_rescale
from edgeprove.lookup import LogUpError
from edgeprove.model import ops
from edgeprove.model.bounds import MAX_SHIFT
from edgeprove.model.ir import Layer


def avgpool(name, source, in_shape, kernel: int, activation="clamp") -> Layer:
    """A k x k average pool (stride k) whose shift divides by k^2 (with its multiplier when k^2 is not a
    power of two)."""
    c, h, w = in_shape
    shift = 0 if activation == "none" else window_rescale(kernel * kernel)[1]
    return Layer(
        name,
        "avgpool",
        source,
        in_shape,
        (c, h // kernel, w // kernel),
        shift=shift,
        activation=activation,
        kernel=kernel,
        stride=kernel,
    )


def random_pool(seed: int, activation: str = "clamp"):
    rng = np.random.default_rng(seed)
    kernel = int(rng.choice([1, 2, 3, 4, 5, 7]))
    in_shape = (int(rng.integers(1, 4)), int(rng.integers(kernel, 9)), int(rng.integers(kernel, 9)))
    return model_of(in_shape, [avgpool("pool", -1, in_shape, kernel, activation)], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(5))
def test_one_average_pool_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_pool(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_an_average_pool_of_a_committed_relu_pool_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(4)
    layers = [avgpool("pool0", -1, (2, 8, 6), 2, "relu"), avgpool("pool1", 0, (2, 4, 3), 1, "relu")]
    model = model_of((2, 8, 6), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=True)


def test_every_value_of_an_average_pool_is_checked(tmp_path):
    model, rng = random_pool(6)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 10


@pytest.mark.parametrize("positions", [3, 9, 25, 49, 63, 4, 64, 100, 196, 225, 441, 511, 512])
def test_the_rescale_is_within_its_error_bound_of_the_mean(positions):
    multiplier, bits = window_rescale(positions)
    error = abs(multiplier * positions / 2**bits - 1)
    if positions & (positions - 1) == 0:
        assert (multiplier, error) == (1, 0)
        return
    kept = min(RESCALE_BITS, MAX_SHIFT - (positions - 1).bit_length())  # M's bits beyond the window's
    assert kept >= MIN_RESCALE_BITS and multiplier >= 1 << kept and error <= 2.0 ** -(kept + 1)
    assert positions <= MAX_RESCALED_WINDOW == 512 and bits <= MAX_SHIFT


def off_by_one_prover(monkeypatch) -> None:
    """Make the prover round one average up by one: q + 1 with the remainder r - 2^s that keeps
    a + 2^(s-1) = 2^s q + r, and multiplicities that leave the out-of-range remainder uncounted."""
    honest_requantize, honest_multiplicities = ops.requantize, lookup.multiplicities

    def requantize(layer, a):
        q, r, y = honest_requantize(layer, a)
        q, r = q.copy(), r.copy()
        low = 0 if layer.activation == "relu" else -128
        at = np.unravel_index(int(np.argmax((q >= low) & (q < layer.act_max))), q.shape)
        q[at] += 1
        r[at] -= 1 << layer.shift
        return q, r, np.clip(q, low, layer.act_max)

    def multiplicities(witness_cols, mask, table_cols):
        try:
            return honest_multiplicities(witness_cols, mask, table_cols)
        except LogUpError:
            found = np.isin(np.asarray(witness_cols[0]), np.asarray(table_cols[0]))
            return honest_multiplicities(witness_cols, np.asarray(mask) * found, table_cols)

    monkeypatch.setattr(ops, "requantize", requantize)
    monkeypatch.setattr(lookup, "multiplicities", multiplicities)


@pytest.mark.parametrize("kernel", [3, 7])
def test_an_average_rounded_off_by_one_is_rejected(tmp_path, monkeypatch, kernel):
    rng = np.random.default_rng(kernel)
    in_shape = (3, 2 * kernel, kernel)
    model = model_of(in_shape, [avgpool("pool", -1, in_shape, kernel, "relu")], rng)
    x = random_input(model, rng)
    honest = ops.run(model, x)
    off_by_one_prover(monkeypatch)
    result = prover.prove(model, x, tmp_path / "p")
    assert np.sum(result.output != honest) == 1 and np.sum(result.output - honest) == 1
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted
    assert "remainder range lookup" in verdict.reason, verdict.reason
