"""Soundness of the whole proof: every value in every section, altered alone, makes the proof rejected;
and so do wrong statements (output, input, model), truncation and replay against another model."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import small_cnn, small_mlp, widest_tables
from proofedit import altered, leaves, read_sections, replace, rewrite_header, write_sections

from edgeprove import prover, verifier
from edgeprove.commit import ligero
from edgeprove.model.ir import Model
from edgeprove.proof import SECTION_LAYER

MLP = small_mlp(11, (3, 2), "relu")
CNN = small_cnn(3)


@pytest.fixture(scope="module")
def mlp_proof(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mlp") / "proof"
    prover.prove(MLP, np.random.default_rng(1).integers(-128, 128, MLP.input_shape), path)
    assert verifier.verify(path, MLP).accepted
    return path


@pytest.fixture(scope="module")
def cnn_proof(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cnn") / "proof"
    prover.prove(CNN, np.random.default_rng(2).integers(-128, 128, CNN.input_shape), path)
    assert verifier.verify(path, CNN).accepted
    return path


def _all_alterations(path: Path, only_section=None):
    prefix, sections = read_sections(path)
    for index, (kind, obj) in enumerate(sections):
        if only_section is not None and index != only_section:
            continue
        for trail, value in leaves(obj):
            yield index, kind, trail, prefix, sections, value


def _assert_rejected(tmp_path, model, prefix, sections, index, trail, value):
    kind, obj = sections[index]
    edited = list(sections)
    edited[index] = (kind, replace(obj, trail, altered(value)))
    target = tmp_path / "tampered"
    write_sections(target, prefix, edited)
    verdict = verifier.verify(target, model)
    assert not verdict.accepted, f"section {index} {trail} altered but accepted"
    assert verdict.reason


def test_every_value_of_an_mlp_proof_is_checked(tmp_path, mlp_proof):
    checked = 0
    for index, _, trail, prefix, sections, value in _all_alterations(mlp_proof):
        _assert_rejected(tmp_path, MLP, prefix, sections, index, trail, value)
        checked += 1
    assert checked > 50


def test_every_value_of_a_residual_conv_layer_is_checked(tmp_path, cnn_proof):
    prefix, sections = read_sections(cnn_proof)
    layer_sections = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER]
    residual_layer = layer_sections[1]  # conv2 adds conv1's output
    assert sections[residual_layer][1].residual_value is not None
    for index, _, trail, prefix, sections, value in _all_alterations(cnn_proof, residual_layer):
        _assert_rejected(tmp_path, CNN, prefix, sections, index, trail, value)


@pytest.mark.parametrize("layer_position", [0, 2, 4, 5])
def test_sampled_values_of_other_cnn_layers_are_checked(tmp_path, cnn_proof, layer_position):
    prefix, sections = read_sections(cnn_proof)
    layer_sections = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER]
    index = layer_sections[layer_position]
    found = list(leaves(sections[index][1]))
    for trail, value in found[:: max(1, len(found) // 12)]:
        _assert_rejected(tmp_path, CNN, prefix, sections, index, trail, value)


def test_changed_output_is_rejected(tmp_path, cnn_proof):
    prefix, sections = read_sections(cnn_proof)
    index = max(i for i, (kind, _) in enumerate(sections) if kind == 4)  # the output section
    _assert_rejected(tmp_path, CNN, prefix, sections, index, ("values",), sections[index][1].values)


def test_different_input_is_rejected(tmp_path, cnn_proof):
    prefix, sections = read_sections(cnn_proof)
    _assert_rejected(tmp_path, CNN, prefix, sections, 0, ("values",), sections[0][1].values)


def test_model_with_one_weight_changed_is_rejected(cnn_proof):
    weights = [None if w is None else np.array(w) for w in CNN.weights]
    weights[1] = weights[1].copy()
    weights[1][0, 0, 0, 0] ^= 1
    other = Model(CNN.name, CNN.input_shape, CNN.input_frac, CNN.layers, weights, CNN.biases)
    verdict = verifier.verify(cnn_proof, other)
    assert not verdict.accepted and "digest" in verdict.reason


def test_replay_against_another_model_is_rejected(mlp_proof):
    verdict = verifier.verify(mlp_proof, CNN)
    assert not verdict.accepted


def test_digest_cannot_be_swapped_in_the_header(tmp_path, cnn_proof):
    """Claiming another model's digest breaks the transcript (the digest is absorbed first)."""
    other = small_cnn(4)  # same architecture, other weights
    data = cnn_proof.read_bytes()
    swapped = data.replace(CNN.digest.encode(), other.digest.encode())
    head_len = struct.unpack("<I", data[10:14])[0]
    assert swapped != data and len(swapped) == len(data) and head_len
    (tmp_path / "p").write_bytes(swapped)
    assert not verifier.verify(tmp_path / "p", other).accepted


@pytest.mark.parametrize("cut", [0, 5, 13, 40, 200, -9, -1])
def test_truncated_file_is_rejected(tmp_path, cnn_proof, cut):
    data = cnn_proof.read_bytes()
    (tmp_path / "p").write_bytes(data[:cut])
    verdict = verifier.verify(tmp_path / "p", CNN)
    assert not verdict.accepted and verdict.reason


def test_trailing_bytes_are_rejected(tmp_path, cnn_proof):
    (tmp_path / "p").write_bytes(cnn_proof.read_bytes() + b"\x00")
    verdict = verifier.verify(tmp_path / "p", CNN)
    assert not verdict.accepted and "trailing" in verdict.reason


@pytest.mark.parametrize("seed", range(6))
def test_random_byte_corruption_is_rejected_cleanly(tmp_path, cnn_proof, seed):
    data = bytearray(cnn_proof.read_bytes())
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, len(data), size=3):
        data[pos] ^= int(rng.integers(1, 256))
    (tmp_path / "p").write_bytes(bytes(data))
    verdict = verifier.verify(tmp_path / "p", CNN)
    assert not verdict.accepted and verdict.reason


def test_swapped_sections_are_rejected(tmp_path, cnn_proof):
    prefix, sections = read_sections(cnn_proof)
    sections[2], sections[4] = sections[4], sections[2]
    write_sections(tmp_path / "p", prefix, sections)
    assert not verifier.verify(tmp_path / "p", CNN).accepted


def _maxpool_model():
    from conftest import maxpool_cnn

    return maxpool_cnn(9)


def test_every_value_of_a_maxpool_layer_is_checked(tmp_path):
    model = _maxpool_model()
    path = tmp_path / "mp.proof"
    prover.prove(model, np.random.default_rng(4).integers(-128, 128, model.input_shape), path)
    assert verifier.verify(path, model).accepted
    prefix, sections = read_sections(path)
    layer_sections = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER]
    for position in (0, 2):  # mp0 (3x3 window on the input) and mp1 (2x2 after a ReLU conv)
        index = layer_sections[position]
        for trail, value in leaves(sections[index][1]):
            _assert_rejected(tmp_path, model, prefix, sections, index, trail, value)


def test_every_array_of_conv_and_maxpool_proofs_has_one_shape(tmp_path, cnn_proof):
    """Every array of a residual CNN's and a max-pool network's proofs, given a leading axis (the same
    values, another encoding), is refused."""
    model = _maxpool_model()
    maxpool_proof = tmp_path / "mp.proof"
    prover.prove(model, np.random.default_rng(4).integers(-128, 128, model.input_shape), maxpool_proof)
    checked = 0
    for path, which in ((cnn_proof, CNN), (maxpool_proof, model)):
        for index, kind, trail, prefix, sections, value in _all_alterations(path):
            if not isinstance(value, np.ndarray):
                continue
            edited = list(sections)
            edited[index] = (kind, replace(sections[index][1], trail, value[None]))
            write_sections(tmp_path / "reshaped", prefix, edited)
            verdict = verifier.verify(tmp_path / "reshaped", which)
            assert not verdict.accepted, f"section {index} {trail} given a leading axis but accepted"
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("delta", [1, -1])
def test_maxpool_output_off_by_one_is_rejected(tmp_path, monkeypatch, delta):
    """y = max + 1 breaks the product check; y = max - 1 breaks the range check (forced past the prover)."""
    from edgeprove import lookup
    from edgeprove.layers import maxpool
    from edgeprove.model import ops

    model = _maxpool_model()
    x = np.random.default_rng(5).integers(-128, 128, model.input_shape)
    honest_linear, honest_mult = ops.linear, lookup.multiplicities

    def skewed(m, index, inp, skip=None):
        a = honest_linear(m, index, inp, skip)
        return a + delta if m.layers[index].kind == "maxpool" and index == 2 else a

    def lenient(witness_cols, mask, table_cols):  # the max-pool range check counts in-table entries only
        if len(table_cols) != 1 or len(table_cols[0]) != 1 << maxpool.RANGE_BITS:
            return honest_mult(witness_cols, mask, table_cols)
        keep = np.asarray(mask).copy()
        keep[witness_cols[0] >= 1 << maxpool.RANGE_BITS] = 0
        return honest_mult(witness_cols, keep, table_cols)

    monkeypatch.setattr(ops, "linear", skewed)
    monkeypatch.setattr(lookup, "multiplicities", lenient)
    prover.prove(model, x, tmp_path / "p")
    monkeypatch.undo()
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted, "a wrong maximum was accepted"
    assert "mp1" in verdict.reason or "layer2" in verdict.reason, verdict.reason


def test_every_value_of_a_committed_input_is_checked(tmp_path):
    """The input's commitment, its range lookup and its opening: each value altered alone is rejected."""
    from edgeprove.proof import SECTION_COMMIT, SECTION_OPENING

    path = tmp_path / "private.proof"
    prover.prove(MLP, np.random.default_rng(6).integers(-128, 128, MLP.input_shape), path, private_input=True)
    assert verifier.verify(path, MLP).accepted
    prefix, sections = read_sections(path)
    kinds = [kind for kind, _ in sections]
    assert kinds[:2] == [SECTION_COMMIT, SECTION_LAYER]
    input_opening = kinds.index(SECTION_OPENING)  # the input is last read by layer 0: opened first
    for index in (0, 1, input_opening):
        for trail, value in leaves(sections[index][1]):
            _assert_rejected(tmp_path, MLP, prefix, sections, index, trail, value)


def test_committed_input_out_of_int8_is_rejected(tmp_path, monkeypatch):
    """A prover that commits an input value outside int8 (forcing its own checks) is caught."""
    from edgeprove import lookup
    from edgeprove.model import ops

    honest_mult = lookup.multiplicities

    def lenient(witness_cols, mask, table_cols):
        keep = np.asarray(mask).copy()
        table = {int(v) for v in table_cols[0]}
        keep[[int(v) not in table for v in witness_cols[0]]] = 0
        return honest_mult(witness_cols, keep, table_cols)

    x = np.random.default_rng(7).integers(-128, 128, MLP.input_shape)
    x[0, 0, 0] = 300
    monkeypatch.setattr(ops, "check_input", lambda model, inp, batched=False: np.asarray(inp, dtype=np.int64))
    monkeypatch.setattr(lookup, "multiplicities", lenient)
    prover.prove(MLP, x, tmp_path / "p", private_input=True)
    monkeypatch.undo()
    verdict = verifier.verify(tmp_path / "p", MLP)
    assert not verdict.accepted and "input" in verdict.reason, verdict.reason


@pytest.fixture(scope="module")
def private_proof(tmp_path_factory) -> Path:
    """A committed input in a proof that is not zero-knowledge (only the input's commitment hides)."""
    path = tmp_path_factory.mktemp("private") / "proof"
    x = np.random.default_rng(8).integers(-128, 128, MLP.input_shape)
    prover.prove(MLP, x, path, private_input=True, zero_knowledge=False)
    return path


def test_private_input_header_names_the_hiding_commitment(private_proof):
    """The input's commitment is hiding: its parameters are in the header under "ligero_zk", the security
    figure is the least of both schemes', and the header says the proof is not zero-knowledge."""
    from edgeprove.commit.zk_ligero import ZkLigeroParams

    header = verifier.verify(private_proof, MLP).header
    assert header["ligero_zk"] == {"group_vars": 18, "rate_log": 3, "security_bits": 100}
    bits = min(ZkLigeroParams().security_bits(), ligero.LigeroParams().security_bits())
    assert header["security_bits"] == round(bits, 1) >= 100
    assert header["zero_knowledge"] is False


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h["ligero_zk"].update(security_bits=90), "bits"),
        (lambda h: h["ligero_zk"].update(security_bits=110), "bits"),  # the figure is now the plain scheme's
        (lambda h: h["ligero_zk"].update(rate_log=4), "does not match"),  # the transcript binds the header
        (lambda h: h["ligero_zk"].update(rate_log=2), "rate_log"),
        (lambda h: h["ligero_zk"].update(security_bits=10**6), "security target"),
        (lambda h: h["ligero_zk"].update(group_vars=33), "group size"),
        (lambda h: h["ligero_zk"].update(group_vars=-1), "group size"),
        (lambda h: h["ligero_zk"].pop("group_vars"), "hiding commitment parameters"),
        (lambda h: h.pop("ligero_zk"), "header keys"),
        (lambda h: h.update(ligero_zk=[3, 100]), "hiding commitment parameters"),
    ],
    ids=[
        "lower target",
        "other target",
        "other rate",
        "rate out of range",
        "target out of range",
        "group too large",
        "group negative",
        "group missing",
        "missing",
        "malformed",
    ],
)
def test_hiding_commitment_parameters_are_checked(tmp_path, private_proof, edit, reason):
    rewrite_header(private_proof, tmp_path / "p", edit)
    verdict = verifier.verify(tmp_path / "p", MLP)
    assert not verdict.accepted and reason in verdict.reason, verdict.reason


def test_public_proof_names_no_hiding_commitment(tmp_path, mlp_proof):
    rewrite_header(
        mlp_proof,
        tmp_path / "p",
        lambda h: h.update(ligero_zk={"group_vars": 18, "rate_log": 3, "security_bits": 100}),
    )
    verdict = verifier.verify(tmp_path / "p", MLP)
    assert not verdict.accepted and "header keys" in verdict.reason, verdict.reason


def test_two_proofs_of_the_same_private_statement_differ(tmp_path):
    """The hiding commitment draws fresh randomness: the same input proven twice gives two different proofs
    (roots, salts, openings), both accepted; a public-input proof stays byte for byte reproducible."""
    x = np.random.default_rng(9).integers(-128, 128, MLP.input_shape)
    paths = [tmp_path / f"p{i}" for i in range(2)]
    for path in paths:
        prover.prove(MLP, x, path, private_input=True)
        assert verifier.verify(path, MLP).accepted
    assert paths[0].read_bytes() != paths[1].read_bytes()
    (first, *_), (second, *_) = (read_sections(p)[1] for p in paths)
    assert first[1].root != second[1].root
    for path in paths:
        prover.prove(MLP, x, path)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_public_proof_cannot_pass_as_committed(tmp_path, mlp_proof):
    data = mlp_proof.read_bytes()
    forged = data.replace(b'"input_mode": "public"', b'"input_mode": "commit"')
    (tmp_path / "p").write_bytes(forged)
    assert not verifier.verify(tmp_path / "p", MLP).accepted


def test_weak_commitment_parameters_are_rejected(tmp_path, mlp_proof):
    """A header naming fewer column queries (a cheaper, weaker proof) is refused before anything else."""
    rewrite_header(mlp_proof, tmp_path / "p", lambda h: h["ligero"].update(queries=14))
    verdict = verifier.verify(tmp_path / "p", MLP)
    assert not verdict.accepted and "bits" in verdict.reason, verdict.reason


def test_security_floor_is_100_bits_by_default_and_adjustable(tmp_path):
    """A complete proof made with 120 queries (about 81 bits) is refused by default, accepted at 80 bits."""
    path = tmp_path / "weak.proof"
    params = ligero.LigeroParams(rate_log=2, queries=120)
    prover.prove(MLP, np.random.default_rng(4).integers(-128, 128, MLP.input_shape), path, params=params)
    verdict = verifier.verify(path, MLP)
    assert not verdict.accepted and "81.4 bits" in verdict.reason and "below 100" in verdict.reason
    assert verifier.verify(path, MLP, min_security_bits=80).accepted


@pytest.mark.parametrize(
    "ligero_params, reason",
    [
        ({"rate_log": 4, "queries": 100}, "rate_log 4"),
        ({"rate_log": 1, "queries": 513}, "513 column queries"),
        ({"rate_log": 2}, "integers"),
        ({"rate_log": 2, "queries": 148, "expected_points": 8}, "integers"),
        ({"rate_log": 2, "queries": True}, "integers"),
    ],
)
def test_commitment_parameters_outside_the_allowed_range_are_rejected(
    tmp_path, mlp_proof, ligero_params, reason
):
    """The verifier's work grows with the query count and the code length: a proof may only pick them
    within a fixed range, and names nothing else."""
    rewrite_header(mlp_proof, tmp_path / "p", lambda h: h.update(ligero=ligero_params))
    verdict = verifier.verify(tmp_path / "p", MLP)
    assert not verdict.accepted and reason in verdict.reason, verdict.reason


def test_activation_table_width_is_bounded_by_the_model(tmp_path, mlp_proof, monkeypatch):
    """Tables as wide as the static bound verify; one bit wider (or zero) is refused before any table is
    evaluated, so the verifier's table work is set by the model, not by the proof."""
    from edgeprove.proof import SECTION_COMMIT

    widest = widest_tables(monkeypatch, MLP)
    path = tmp_path / "wide.proof"
    prover.prove(MLP, np.random.default_rng(1).integers(-128, 128, MLP.input_shape), path)
    monkeypatch.undo()
    assert verifier.verify(path, MLP).accepted
    prefix, sections = read_sections(mlp_proof)
    index = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_COMMIT)
    for bits in (0, widest[0] + 1, 31):
        edited = list(sections)
        edited[index] = (SECTION_COMMIT, replace(sections[index][1], ("act_bits",), bits))
        write_sections(tmp_path / "p", prefix, edited)
        verdict = verifier.verify(tmp_path / "p", MLP)
        assert not verdict.accepted and "table width" in verdict.reason, verdict.reason


def _hidden_only_fields(obj, trail=()):
    """Every field of a decoded proof in the clear that only a zero-knowledge proof fills: the empty arrays
    (running sums, partial products) and the residual sumchecks left None."""
    import dataclasses

    if isinstance(obj, np.ndarray) and obj.size == 0:
        yield trail, np.zeros((obj.shape[0], 1, *obj.shape[2:]), dtype=np.uint64)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _hidden_only_fields(item, (*trail, i))
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name == "residual" and value is None and hasattr(obj, "linear"):
                linear = obj.linear if not hasattr(obj.linear, "parts") else obj.linear.parts[0]
                yield (*trail, f.name), linear
            else:
                yield from _hidden_only_fields(value, (*trail, f.name))


def test_a_proof_in_the_clear_that_fills_a_hidden_proofs_field_is_rejected(tmp_path, cnn_proof):
    """Running sums, partial products and residual sumchecks belong to zero-knowledge proofs: a proof in
    the clear that carries one (one element, or a sumcheck) is refused."""
    model = _maxpool_model()
    maxpool_proof = tmp_path / "mp.proof"
    prover.prove(model, np.random.default_rng(4).integers(-128, 128, model.input_shape), maxpool_proof)
    found = set()
    for path, which in ((cnn_proof, CNN), (maxpool_proof, model)):
        prefix, sections = read_sections(path)
        for index, (kind, obj) in enumerate(sections):
            for trail, filled in _hidden_only_fields(obj):
                edited = list(sections)
                edited[index] = (kind, replace(obj, trail, filled))
                write_sections(tmp_path / "filled", prefix, edited)
                verdict = verifier.verify(tmp_path / "filled", which)
                assert not verdict.accepted, f"section {index} {trail} filled but accepted"
                found.add(trail[-1] if isinstance(trail[-1], str) else trail[-2])
    assert {"sums", "partials", "residual"} <= found
