"""The iris code: open-iris's Gabor kernels, its probe loop (written here as open-iris writes it) against the
vectorised float reference for responses and mask shares, the integer model's exact sign bits and mask
shares, its code and mask bits against open-iris's float ones, and a private-input proof of the zoo's
iriscode that verifies and whose altered code or mask bit is rejected."""

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


def open_iris_response(
    image: np.ndarray, mask: np.ndarray, kernel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """open-iris's ConvFilterBank loop for one filter on the 16 x 256 regular probe schema (the newer rbot
    bound), before its normalisation by the kernel norm: the iris and the mask response."""
    i_rows, i_cols = image.shape
    k_rows, k_cols = kernel.shape
    p_rows, p_cols = k_rows // 2, k_cols // 2
    padded = polar_img_padding(image, 0, p_cols)
    padded_mask = polar_img_padding(mask, 0, p_cols)
    rhos = np.linspace(0, 1 - 0.0625, 16, endpoint=True)
    phis = np.linspace(0, 1, 256, endpoint=False)
    response = np.zeros((16, 256), dtype=complex)
    mask_response = np.zeros((16, 256))
    for i in range(16):
        for j in range(256):
            r_probe = min(round(rhos[i] * i_rows), i_rows - 1)
            c_probe = min(round(phis[j] * i_cols), i_cols - 1)
            rtop, rbot = max(0, r_probe - p_rows), min(r_probe + p_rows + 1, i_rows)
            patch = padded[rtop:rbot, c_probe : c_probe + k_cols]
            mask_patch = padded_mask[rtop:rbot, c_probe : c_probe + k_cols]
            ktop = p_rows - patch.shape[0] // 2
            filter_patch = kernel[ktop : ktop + patch.shape[0], :]
            response[i, j] = (patch * filter_patch).sum() / patch.shape[0] / k_cols
            mask_response[i, j] = 0 if response[i, j] == 0 else mask_patch.sum() / patch.shape[0] / k_cols
    return response, mask_response


def test_the_float_reference_is_open_iris_loop():
    image, mask = iris.textures(1, 3)[0], iris.occlusion_masks(1, 3)[0]
    responses = iris.float_responses(image[None])[0]
    shares = iris.window_shares(mask[None])[0]
    for index, params in enumerate(iris.FILTERS):
        loop, mask_loop = open_iris_response(
            image.astype(np.float64), mask.astype(np.float64), iris.gabor(params)
        )
        sizes = np.array([11, 19] + [21] * 13 + [18])[:, None] * params.kernel_size[0]
        np.testing.assert_allclose(responses[2 * index] / sizes, loop.real, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(responses[2 * index + 1] / sizes, loop.imag, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(shares[index], mask_loop, rtol=1e-12)
    assert 0 < (shares < iris.MASK_THRESHOLD).mean() < 0.5  # the occlusions reach some windows


def test_int8_kernels_keep_the_shape_and_rows_sum_to_zero():
    weights = iris.int8_kernels().astype(np.int64)
    parts = iris.kernel_parts()
    assert weights.shape == (4, 1, 21, 41)
    assert np.all(weights.sum(axis=3) == 0)
    assert [int(np.abs(w).max()) for w in weights] == [127] * 4
    for w, part in zip(weights[:, 0], parts, strict=True):
        assert np.corrcoef(w.ravel(), part.ravel())[0, 1] > 0.999
        assert np.all(w[part == 0] == 0)  # the 17-column filter stays inside its columns


def layer_outputs(model, images, masks) -> list[np.ndarray]:
    """Every layer's output for a batch, (N, C, H, W) each."""
    inputs = np.stack([iris.model_input(image, mask) for image, mask in zip(images, masks, strict=True)])
    return [np.moveaxis(y, 1, 0) for *_, y in ops.forward_batch(model, np.moveaxis(inputs, 0, 1))]


def test_the_model_outputs_exact_signs_of_its_integer_sums():
    model = iris.integer_model()
    bounds = check_model(model)
    assert all(layer.shift > 0 for layer in model.layers[1:3]) and max(b.q_bits for b in bounds) <= 16
    images = np.concatenate([iris.textures(1, 4), iris.uniform_images(1, 5)])
    rows = probe_sources(128, 21, 8, "clip")
    cols = probe_sources(512, 41, 2, "wrap")
    sums = probe_sum(iris.int8_kernels(), images[None].astype(np.float64), rows, cols)  # of the pixels
    bits = ops.run_batch(model, np.stack([iris.model_input(image) for image in images]))
    assert bits.shape == (2, 8, 16, 256)
    assert np.array_equal(bits[:, :4], (np.moveaxis(sums, 1, 0) > 0).astype(np.int64))


def test_the_mask_share_test_is_exact():
    """The probe layer's share bit is valid / window >= 0.93 exactly, for masks with occlusions and for
    masks of random bits (shares everywhere near the threshold's either side)."""
    model = iris.integer_model()
    rng = np.random.default_rng(6)
    masks = np.concatenate([iris.occlusion_masks(2, 7), (rng.random((2, 128, 512)) < 0.93).astype(np.uint8)])
    images = iris.textures(4, 8)
    probes = layer_outputs(model, images, masks)[1]
    shares = iris.window_shares(masks) >= iris.MASK_THRESHOLD
    for index in range(len(iris.FILTERS)):
        assert np.array_equal(probes[:, index * iris.PROBE_BLOCK + iris.SHARE_CHANNEL], shares[:, index])
    assert 0.2 < shares[2:].mean() < 0.8


def test_a_mask_that_is_not_binary_counts_as_clamped():
    """The mask layer clamps the mask channel to 0/1: a 5 counts as a valid pixel, a -3 as an invalid one."""
    model = iris.integer_model()
    image, mask = iris.textures(1, 9)[0], iris.occlusion_masks(1, 9)[0]
    x = iris.model_input(image, mask)
    odd = x.copy()
    odd[1] = np.where(mask == 1, 5, -3)
    assert np.array_equal(ops.run(model, odd), ops.run(model, x))


def test_code_and_mask_bits_mostly_agree_with_open_iris_float_ones():
    code, mask = iris.agreement(iris.integer_model(), iris.textures(2, 6), iris.occlusion_masks(2, 6))
    assert code.bits == mask.bits == 2 * 16_384
    assert code.fraction < 0.005 and mask.fraction < 0.01


def test_the_mask_bits_follow_each_of_open_iris_tests():
    """An all-valid mask: mask bits are the fragile-bit refinement's within the polygon's and the int8
    kernels' margins; a fully occluded mask: no bit is valid; a constant image (every response 0): no bit
    is valid, as open-iris's zero response gives a zero mask response."""
    model = iris.integer_model()
    images = iris.textures(2, 10)
    valid = np.ones((2, 128, 512), dtype=np.uint8)
    ours = ops.run_batch(model, np.stack([iris.model_input(image) for image in images]))[:, 4:].astype(bool)
    keep = iris.fragile_keep(images)
    assert 0.3 < keep.mean() < 0.9 and np.mean(ours != keep) < 0.01
    hidden = ops.run_batch(model, np.stack([iris.model_input(image, 0 * valid[0]) for image in images]))
    assert not hidden[:, 4:].any()
    flat = ops.run(model, iris.model_input(np.full((128, 512), 77)))
    assert not flat.any()


def test_model_input_refuses_what_is_not_a_normalized_image_or_mask():
    with pytest.raises(ValueError, match="normalized iris image"):
        iris.model_input(np.zeros((128, 511)))
    with pytest.raises(ValueError, match="normalized iris image"):
        iris.model_input(np.full((128, 512), 256))
    with pytest.raises(ValueError, match="normalized iris mask"):
        iris.model_input(np.zeros((128, 512)), np.full((128, 512), 2))
    with pytest.raises(ValueError, match="normalized iris mask"):
        iris.model_input(np.zeros((128, 512)), np.ones((128, 500)))
    x = iris.model_input(np.zeros((128, 512)), np.zeros((128, 512), dtype=bool))
    assert x.shape == (2, 128, 512) and not x[1].any() and (x[0] == -128).all()


def test_occlusion_masks_are_seeded_and_cover_part_of_the_image():
    first, again = iris.occlusion_masks(3, 4), iris.occlusion_masks(3, 4)
    assert first.dtype == np.uint8 and np.array_equal(first, again)
    assert set(np.unique(first)) == {0, 1} and 0.5 < first.mean() < 0.99


def test_textures_are_seeded_and_periodic_images():
    first, again = iris.textures(2, 9), iris.textures(2, 9)
    assert first.dtype == np.uint8 and first.shape == (2, 128, 512) and np.array_equal(first, again)
    assert 40 < first.mean() < 200 and first.std() > 10


@pytest.mark.parametrize("channel", [0, 5])
def test_iriscode_proves_on_a_private_image_and_an_altered_bit_is_rejected(tmp_path, channel):
    """A code bit (channel 0) or a mask bit (channel 5) flipped in the proof's output is rejected."""
    model = iris.integer_model()
    image, mask = iris.textures(1, 7)[0], iris.occlusion_masks(1, 7)[0]
    x = iris.model_input(image, mask)
    result = prover.prove(model, x, tmp_path / "p", private_input=True)
    assert np.array_equal(result.output, ops.run(model, x))
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert np.mean(result.output[:4].astype(bool) != iris.float_code(image[None])[0]) < 0.005
    assert np.mean(result.output[4:].astype(bool) != iris.float_mask(image[None], mask[None])[0]) < 0.01
    prefix, sections = read_sections(tmp_path / "p")
    position = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_OUTPUT)
    kind, section = sections[position]
    flipped = section.values.copy().reshape(8, -1)
    flipped[channel, 100] = 1 - flipped[channel, 100]
    sections[position] = (kind, type(section)(section.shape, flipped.reshape(section.values.shape)))
    write_sections(tmp_path / "q", prefix, sections)
    assert not verifier.verify(tmp_path / "q", model).accepted
