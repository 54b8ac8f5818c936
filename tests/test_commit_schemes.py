"""The commitment seam: every scheme commits, opens and verifies through ``CommitmentScheme``, and a whole
proof runs over the trivial send-the-vector scheme exactly as over Ligero."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import maxpool_cnn, small_cnn, small_mlp
from proofedit import altered, leaves, read_sections, replace, write_sections

from edgeprove import field as F
from edgeprove import poly, prover, verifier
from edgeprove.commit import DEFAULT_SCHEME, HIDING_SCHEME, SCHEMES
from edgeprove.commit.ligero import LIGERO
from edgeprove.commit.plain import PLAIN, PlainOpening
from edgeprove.commit.scheme import CommitmentError
from edgeprove.commit.zk_ligero import ZK_LIGERO
from edgeprove.proof import SECTION_OPENING
from edgeprove.transcript import Transcript


def test_registry_names_every_scheme_by_its_header_key():
    assert SCHEMES == {"ligero": LIGERO, "ligero_zk": ZK_LIGERO, "plain": PLAIN}
    assert DEFAULT_SCHEME is LIGERO and HIDING_SCHEME is ZK_LIGERO


@pytest.mark.parametrize("scheme", SCHEMES.values(), ids=SCHEMES.keys())
def test_header_entry_round_trips(scheme):
    params = scheme.default_params()
    read = scheme.params_from_header(scheme.params_header(params))
    assert scheme.params_header(read) == scheme.params_header(params)
    assert scheme.security_bits(read) == scheme.security_bits(params) >= 100
    with pytest.raises(ValueError):
        scheme.params_from_header({"unexpected": 1})


@pytest.mark.parametrize("scheme", SCHEMES.values(), ids=SCHEMES.keys())
@pytest.mark.parametrize("num_vars", [0, 3, 9])
def test_open_and_verify_at_many_points(scheme, num_vars):
    rng = np.random.default_rng(num_vars)
    params = scheme.default_params()
    vector = F.random_base(rng, (1 << num_vars) - 1 if num_vars else 1)  # padded by commit
    commitment, state = scheme.commit(vector, params)
    points = [F.random_ext(rng, num_vars) for _ in range(3)]
    values, proof = scheme.open(state, points, Transcript(), "t")
    padded = np.zeros(1 << num_vars, dtype=np.uint64)
    padded[: vector.size] = vector
    assert all(F.ext_eq(v, poly.evaluate(padded, z)) for v, z in zip(values, points))

    public = scheme.commitment(commitment.root, vector.size, params)
    assert isinstance(proof, scheme.opening_type)
    scheme.verify(public, points, values, proof, Transcript(), "t", params)
    wrong = [F.ext_add(values[0], F.ext_ones()), *values[1:]]
    with pytest.raises(CommitmentError):
        scheme.verify(public, points, wrong, proof, Transcript(), "t", params)


def _prove_and_verify(model, x, path, **kwargs):
    result = prover.prove(model, x, path, scheme=PLAIN, **kwargs)
    verdict = verifier.verify(path, model, scheme=PLAIN)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(verdict.output, result.output)
    return verdict


@pytest.mark.parametrize(
    "make, private",
    [(lambda: small_cnn(3), False), (lambda: maxpool_cnn(5, "relu"), False), (lambda: small_mlp(2), True)],
    ids=["residual-cnn", "maxpool", "private-mlp"],
)
def test_a_model_proves_and_verifies_over_the_plain_scheme(tmp_path, make, private):
    model = make()
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    verdict = _prove_and_verify(model, x, tmp_path / "p", private_input=private, zero_knowledge=False)
    assert "plain" in verdict.header and "ligero" not in verdict.header


def test_a_plain_proof_is_not_a_ligero_proof(tmp_path):
    model = small_mlp(2)
    _prove_and_verify(model, np.zeros(model.input_shape, dtype=np.int64), tmp_path / "p")
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted and "header keys differ" in verdict.reason


def test_every_value_of_a_plain_opening_is_checked(tmp_path):
    model = small_mlp(2)
    _prove_and_verify(model, np.random.default_rng(2).integers(-128, 128, model.input_shape), tmp_path / "p")
    prefix, sections = read_sections(tmp_path / "p")
    openings = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_OPENING]
    assert openings and all(isinstance(sections[i][1], PlainOpening) for i in openings)
    for index in openings:
        for trail, value in leaves(sections[index][1]):
            edited = list(sections)
            edited[index] = (SECTION_OPENING, replace(sections[index][1], trail, altered(value)))
            write_sections(tmp_path / "t", prefix, edited)
            verdict = verifier.verify(tmp_path / "t", model, scheme=PLAIN)
            assert not verdict.accepted and "opening rejected" in verdict.reason, verdict.reason
