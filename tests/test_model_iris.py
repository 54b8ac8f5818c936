"""The iris code: open-iris's Gabor kernels, its probe loop (written here as open-iris writes it) against the
vectorised float reference, the integer model's exact sign bits, and a private-input proof of the zoo's
iriscode that verifies and whose altered output is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from proofedit import read_sections, write_sections

from edgeprove import prover, verifier
from edgeprove.layers.probe_conv2d import probe_sources, probe_sum
from edgeprove.model import iris, ops
from edgeprove.model.bounds import check_model
from edgeprove.proof import SECTION_OUTPUT


def test_gabor_kernels_have_open_iris_shapes_and_fix_point_values():
    first, second = (iris.gabor(params) for params in iris.FILTERS)
    assert first.shape == (21, 41) and second.shape == (21, 17)
    assert (np.abs(first.real).max(), np.abs(first.imag).max()) == (3496, 2935)
    assert (np.abs(second.real).max(), np.abs(second.imag).max()) == (6930, 5009)
    for kernel in (first, second):
        assert np.all(kernel.real == np.round(kernel.real)) and np.all(kernel.imag == np.round(kernel.imag))
        for part in (kernel.real, kernel.imag):
            assert np.linalg.norm(part) == pytest.approx(2**15, rel=1e-3)
        assert np.abs(kernel.real.sum(axis=1)).max() <= 10  # DC-corrected rows, up to rounding
        assert np.array_equal(kernel.imag, -kernel.imag[:, ::-1])  # odd along the angle


def polar_img_padding(img: np.ndarray, p_rows: int, p_cols: int) -> np.ndarray:
    """open-iris's conv_filter_bank.polar_img_padding."""
    i_rows, i_cols = img.shape
    padded = np.zeros((i_rows + 2 * p_rows, i_cols + 2 * p_cols))
    padded[p_rows : i_rows + p_rows, p_cols : i_cols + p_cols] = img
    padded[p_rows : i_rows + p_rows, 0:p_cols] = img[:, -p_cols:]
    padded[p_rows : i_rows + p_rows, -p_cols:] = img[:, 0:p_cols]
    return padded


def open_iris_response(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """open-iris's ConvFilterBank loop for one filter on the 16 x 256 regular probe schema (the newer rbot
    bound), before its normalisation by the kernel norm."""
    i_rows, i_cols = image.shape
    k_rows, k_cols = kernel.shape
    p_rows, p_cols = k_rows // 2, k_cols // 2
    padded = polar_img_padding(image, 0, p_cols)
    rhos = np.linspace(0, 1 - 0.0625, 16, endpoint=True)
    phis = np.linspace(0, 1, 256, endpoint=False)
    response = np.zeros((16, 256), dtype=complex)
    for i in range(16):
        for j in range(256):
            r_probe = min(round(rhos[i] * i_rows), i_rows - 1)
            c_probe = min(round(phis[j] * i_cols), i_cols - 1)
            rtop, rbot = max(0, r_probe - p_rows), min(r_probe + p_rows + 1, i_rows)
            patch = padded[rtop:rbot, c_probe : c_probe + k_cols]
            ktop = p_rows - patch.shape[0] // 2
            filter_patch = kernel[ktop : ktop + patch.shape[0], :]
            response[i, j] = (patch * filter_patch).sum() / patch.shape[0] / k_cols
    return response


def test_the_float_reference_is_open_iris_loop():
    image = iris.textures(1, 3)[0]
    responses = iris.float_responses(image[None])[0]
    for index, params in enumerate(iris.FILTERS):
        loop = open_iris_response(image.astype(np.float64), iris.gabor(params))
        sizes = np.array([11, 19] + [21] * 13 + [18])[:, None] * params.kernel_size[0]
        np.testing.assert_allclose(responses[2 * index] / sizes, loop.real, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(responses[2 * index + 1] / sizes, loop.imag, rtol=1e-12, atol=1e-9)


def test_int8_kernels_keep_the_shape_and_rows_sum_to_zero():
    weights = iris.int8_kernels().astype(np.int64)
    parts = iris.kernel_parts()
    assert weights.shape == (4, 1, 21, 41)
    assert np.all(weights.sum(axis=3) == 0)
    assert [int(np.abs(w).max()) for w in weights] == [127] * 4
    for w, part in zip(weights[:, 0], parts, strict=True):
        assert np.corrcoef(w.ravel(), part.ravel())[0, 1] > 0.999
        assert np.all(w[part == 0] == 0)  # the 17-column filter stays inside its columns


def test_the_model_outputs_exact_signs_of_its_integer_sums():
    model = iris.integer_model()
    (bounds,) = check_model(model)
    assert model.layers[0].shift > 0 and bounds.q_bits <= 16
    images = np.concatenate([iris.textures(1, 4), iris.uniform_images(1, 5)])
    rows = probe_sources(128, 21, 8, "clip")
    cols = probe_sources(512, 41, 2, "wrap")
    sums = probe_sum(iris.int8_kernels(), images[None].astype(np.float64), rows, cols)  # of the pixels
    bits = ops.run_batch(model, np.stack([iris.model_input(image) for image in images]))
    assert np.array_equal(bits, (np.moveaxis(sums, 1, 0) > 0).astype(np.int64))


def test_the_code_bits_mostly_agree_with_open_iris_float_code():
    code = iris.agreement(iris.integer_model(), iris.textures(2, 6))
    assert code.bits == 2 * 16_384 and code.fraction < 0.005


def test_model_input_refuses_what_is_not_a_normalized_image():
    with pytest.raises(ValueError, match="normalized iris image"):
        iris.model_input(np.zeros((128, 511)))
    with pytest.raises(ValueError, match="normalized iris image"):
        iris.model_input(np.full((128, 512), 256))


def test_textures_are_seeded_and_periodic_images():
    first, again = iris.textures(2, 9), iris.textures(2, 9)
    assert first.dtype == np.uint8 and first.shape == (2, 128, 512) and np.array_equal(first, again)
    assert 40 < first.mean() < 200 and first.std() > 10


def test_iriscode_proves_on_a_private_image_and_an_altered_bit_is_rejected(tmp_path):
    model = iris.integer_model()
    image = iris.textures(1, 7)[0]
    x = iris.model_input(image)
    result = prover.prove(model, x, tmp_path / "p", private_input=True)
    assert np.array_equal(result.output, ops.run(model, x))
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert np.mean(result.output.astype(bool) != iris.float_code(image[None])[0]) < 0.005
    prefix, sections = read_sections(tmp_path / "p")
    position = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_OUTPUT)
    kind, section = sections[position]
    flipped = section.values.copy()
    flipped[100] = 1 - flipped[100]
    sections[position] = (kind, type(section)(section.shape, flipped))
    write_sections(tmp_path / "q", prefix, sections)
    assert not verifier.verify(tmp_path / "q", model).accepted
