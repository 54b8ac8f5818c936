"""Probe-grid convolutions: non-square kernels, a stride per axis and the three border rules (zeros, wrap,
open-iris's clip) against direct loops; one layer proves and verifies on random shapes under every rule,
every value of its sections is checked, and malformed layers are refused."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, g_from_factors, model_of, prove_and_verify, random_input
from proofedit import read_sections

from edgeprove import field as F
from edgeprove import poly, verifier
from edgeprove.layers import conv2d, probe_conv2d
from edgeprove.layers.affine import SourcesProof
from edgeprove.layers.common import Grid
from edgeprove.layers.probe_conv2d import probe_count, probe_sources, probe_sum
from edgeprove.model.ir import Layer, Model, ModelError
from edgeprove.proof import SECTION_LAYER

BORDERS = ("zeros", "wrap", "clip")
BORDER_PAIRS = list(itertools.product(BORDERS, BORDERS))


def probe(name, source, in_shape, out, kh, kw, sh=1, sw=1, border_h="zeros", border_w="zeros", **fields):
    """A probe_conv2d layer with the output shape its probe grid implies."""
    c, h, w = in_shape
    activation = fields.pop("activation", "relu")
    return Layer(
        name,
        "probe_conv2d",
        source,
        in_shape,
        (out, probe_count(h, sh), probe_count(w, sw)),
        shift=0 if activation == "none" else 6,
        activation=activation,
        kernel=kh,
        stride=sh,
        kernel_w=kw,
        stride_w=sw,
        border_h=border_h,
        border_w=border_w,
        **fields,
    )


def open_iris_rows(size: int, kernel: int, stride: int) -> list[list[tuple[int, int]]]:
    """(image row, kernel row) pairs of each probe row, written as open-iris's conv_filter_bank.py loop does
    (rtop, rbot, ktop), with the newer rbot bound min(r + p + 1, rows)."""
    half = kernel // 2
    pairs = []
    for r in range(0, size, stride):
        rtop, rbot = max(0, r - half), min(r + half + 1, size)
        ktop = half - (rbot - rtop) // 2
        pairs.append([(rtop + k, ktop + k) for k in range(rbot - rtop)])
    return pairs


@pytest.mark.parametrize("size,kernel,stride", [(128, 21, 8), (9, 5, 1), (7, 7, 2), (5, 3, 3), (1, 3, 1)])
def test_clip_follows_open_iris_window_rule(size, kernel, stride):
    sources = probe_sources(size, kernel, stride, "clip")
    for i, pairs in enumerate(open_iris_rows(size, kernel, stride)):
        got = [(int(sources[i, u]), u) for u in range(kernel) if sources[i, u] >= 0]
        assert got == pairs


def test_the_iris_probe_rows_clip_at_both_edges():
    sources = probe_sources(128, 21, 8, "clip")
    assert [int((row >= 0).sum()) for row in sources[:3]] == [11, 19, 21]
    assert int((sources[-1] >= 0).sum()) == 18  # rows 110..127 meet kernel rows 1..18
    assert sources[0, 5] == 0 and sources[-1, 1] == 110


def direct_probe_sum(weight, x, kh, kw, sh, sw, border_h, border_w):
    """The probe sums by explicit loops over probes and kernel offsets (x is (C, H, W))."""
    out_c, _, _, _ = weight.shape
    _, h, w = x.shape
    rows, cols = probe_sources(h, kh, sh, border_h), probe_sources(w, kw, sw, border_w)
    out = np.zeros((out_c, rows.shape[0], cols.shape[0]))
    for i, j, u, v in itertools.product(range(rows.shape[0]), range(cols.shape[0]), range(kh), range(kw)):
        if rows[i, u] >= 0 and cols[j, v] >= 0:
            out[:, i, j] += weight[:, :, u, v] @ x[:, rows[i, u], cols[j, v]]
    return out


def test_wrap_reads_the_other_edge():
    sources = probe_sources(8, 5, 2, "wrap")
    assert sources[0].tolist() == [6, 7, 0, 1, 2]
    assert sources[3].tolist() == [4, 5, 6, 7, 0]


@pytest.mark.parametrize("border_h,border_w", BORDER_PAIRS)
def test_probe_sums_match_direct_loops(border_h, border_w):
    rng = np.random.default_rng(len(border_h) * 7 + len(border_w))
    weight = rng.integers(-128, 128, (3, 2, 5, 3))
    x = rng.integers(-128, 128, (2, 9, 7))
    got = probe_sum(
        weight,
        x[:, None].astype(float),
        *(probe_sources(9, 5, 2, border_h), probe_sources(7, 3, 3, border_w)),
    )[:, 0]
    assert np.array_equal(got, direct_probe_sum(weight, x, 5, 3, 2, 3, border_h, border_w))


def test_zero_borders_are_a_strided_convolution_with_centred_padding():
    rng = np.random.default_rng(1)
    weight = rng.integers(-128, 128, (2, 3, 3, 3))
    x = rng.integers(-128, 128, (3, 1, 8, 6)).astype(float)
    sources = probe_sources(8, 3, 2, "zeros"), probe_sources(6, 3, 2, "zeros")
    assert np.array_equal(probe_sum(weight, x, *sources), conv2d.conv2d_sum(weight, x, 2, 1))


def random_probe(seed: int, border_h: str, border_w: str, activation: str = "relu"):
    rng = np.random.default_rng(seed)
    kh, kw = int(rng.choice([1, 3, 5])), int(rng.choice([1, 3, 5, 7]))
    in_shape = (int(rng.integers(1, 3)), int(rng.integers(kh, 9)), int(rng.integers(kw, 10)))
    layer = probe(
        "probe",
        -1,
        in_shape,
        int(rng.integers(1, 5)),
        kh,
        kw,
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
        border_h,
        border_w,
        activation=activation,
    )
    return model_of(in_shape, [layer], rng), rng


@pytest.mark.parametrize("border_h,border_w", BORDER_PAIRS)
def test_one_probe_layer_proves_and_verifies(tmp_path, border_h, border_w):
    model, rng = random_probe(len(border_h) * 3 + len(border_w), border_h, border_w)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


@pytest.mark.parametrize("activation", ["clamp", "none"])
def test_a_probe_layer_on_a_private_input_proves_and_verifies(tmp_path, activation):
    model, rng = random_probe(5, "clip", "wrap", activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=True)


def test_a_probe_layer_after_a_convolution_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(8)
    first = Layer("c", "conv2d", -1, (1, 6, 8), (2, 6, 8), 6, "relu", kernel=3, padding=1)
    layers = [first, probe("p", 0, (2, 6, 8), 3, 3, 5, 2, 2, "clip", "wrap")]
    model = model_of((1, 6, 8), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_a_probe_layer_over_two_sources_proves_and_every_value_is_checked(tmp_path):
    """The input and a 1x1 convolution's output concatenated (the iris code's layout): one sumcheck per
    source, on a private input, and every value of the layer's section checked."""
    rng = np.random.default_rng(12)
    first = Layer("c", "conv2d", -1, (2, 6, 8), (2, 6, 8), 6, "relu", kernel=1)
    layers = [first, probe("p", -1, (4, 6, 8), 3, 3, 5, 2, 2, "clip", "wrap", extra_sources=(0,))]
    model = model_of((2, 6, 8), layers, rng)
    x = random_input(model, rng)
    proof = prove_and_verify(tmp_path / "p", model, x, private_input=True)
    _, sections = read_sections(proof)
    linear = [obj.linear for kind, obj in sections if kind == SECTION_LAYER and hasattr(obj, "linear")]
    assert isinstance(linear[-1], SourcesProof) and len(linear[-1].sums) == 2
    assert assert_every_value_checked(tmp_path, model, proof, 1) > 20


def test_every_value_of_a_probe_layer_is_checked(tmp_path):
    model, rng = random_probe(11, "clip", "wrap")
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 20


def test_a_dishonest_prover_with_the_wrong_border_is_rejected(tmp_path):
    """A proof made for zero borders does not verify against the same weights with wrapped columns."""
    model, rng = random_probe(4, "zeros", "zeros")
    x = random_input(model, rng)
    prove_and_verify(tmp_path / "p", model, x)
    layer = dataclasses.replace(model.layers[0], border_w="wrap")
    wrapped = Model(model.name, model.input_shape, 0, [layer], model.weights, model.biases)
    assert not verifier.verify(tmp_path / "p", wrapped).accepted


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"kernel": 4}, "both sides are odd"),
        ({"kernel_w": 2}, "both sides are odd"),
        ({"kernel_w": 0}, "kernel_w and stride_w of at least 1"),
        ({"stride_w": 0}, "kernel_w and stride_w of at least 1"),
        ({"padding": 1}, "takes no padding"),
        ({"border_h": "mirror"}, "border_h must be one of"),
        ({"border_w": "wrap", "kernel_w": 11}, "at least as long as the kernel"),
    ],
)
def test_malformed_probe_layers_are_refused(fields, message):
    layer = dataclasses.replace(probe("p", -1, (1, 8, 9), 2, 3, 5, 2, 2), **fields)
    with pytest.raises(ModelError, match=message):
        Model("m", (1, 8, 9), 0, [layer], [np.zeros(layer.weight_shape, np.int8)], [np.zeros(2, np.int64)])


@pytest.mark.parametrize(
    "fields", [{"kernel_w": 3}, {"stride_w": 2}, {"border_h": "clip"}, {"border_w": "wrap"}]
)
def test_other_kinds_refuse_the_probe_fields(fields):
    layer = dataclasses.replace(
        Layer("c", "conv2d", -1, (1, 5, 5), (1, 5, 5), 0, "relu", kernel=3, padding=1), **fields
    )
    with pytest.raises(ModelError, match="conv2d takes no"):
        Model("m", (1, 5, 5), 0, [layer], [np.zeros((1, 1, 3, 3), np.int8)], [np.zeros(1, np.int64)])


def test_probe_fields_round_trip_and_are_bounded():
    layer = probe("p", -1, (1, 8, 9), 2, 3, 5, 2, 2, "clip", "wrap")
    assert Layer.from_dict(layer.to_dict()) == layer
    plain = Layer("c", "conv2d", -1, (1, 5, 5), (1, 5, 5), 0, "relu", kernel=3, padding=1)
    assert "kernel_w" not in plain.to_dict() and "border_h" not in plain.to_dict()
    with pytest.raises(ModelError, match="bad value for border_w"):
        Layer.from_dict({**layer.to_dict(), "border_w": 3})
    wide = dataclasses.replace(layer, kernel_w=65)
    with pytest.raises(ModelError, match="kernel_w 65 is above the ceiling"):
        Model("m", (1, 8, 9), 0, [wide], [np.zeros(wide.weight_shape, np.int8)], [np.zeros(2, np.int64)])


@pytest.mark.parametrize("border_h,border_w", BORDER_PAIRS)
def test_the_provers_g_factors_agree_with_the_verifiers_g(border_h, border_w):
    model, rng = random_probe(len(border_h) * 5 + len(border_w), border_h, border_w)
    layer = model.layers[0]
    rho = F.random_ext(rng, Grid(layer.out_shape).num_vars)
    weight = model.weight(0)
    grid = Grid(layer.in_shape)
    gamma = F.random_ext(rng, grid.num_vars)
    g = g_from_factors(grid, *probe_conv2d.g_factors(layer, weight, rho))
    assert F.ext_eq(poly.evaluate(g, gamma), probe_conv2d.g_eval(layer, weight, rho, gamma))
