"""open-iris's iris-code encoder as an integer model: its two complex Gabor filters applied to the normalized
iris image at its 16 x 256 probe grid, and the signs of the four responses (16,384 code bits).

Followed from the public open-iris package (https://github.com/worldcoin/open-iris, default pipeline
``src/iris/pipelines/confs/pipeline.yaml``, v1.11):

- ``nodes/iris_response/image_filters/gabor_filters.py``: each kernel is computed analytically (``gabor``
  below, line for line: the rotated mesh, Gaussian envelope times complex carrier, the per-row DC correction
  by a multiple of the envelope, real and imaginary parts each normalised to unit Frobenius norm, then
  ``round(v * 2^15)`` fix-point values).  The array is (radial 21 rows, angular 41 or 17 columns).
- ``nodes/iris_response/probe_schemas/regular_probe_schema.py``: 16 x 256 probes, rho = linspace(0, 15/16, 16)
  and phi = linspace(0, 1, 256, endpoint=False), which on the 128 x 512 normalized image are rows 8 i and
  columns 2 j exactly.
- ``nodes/iris_response/conv_filter_bank.py``: the angular axis is padded periodically by K // 2; along the
  radius the window is clipped to the image and the kernel cropped around its centre row (the ``clip``
  border of ``layers/probe_conv2d.py``); the response is sum(patch * kernel) divided by positive
  constants (window size, kernel norm), so its sign is the sign of the sum.
- ``nodes/encoder/iris_encoder.py``: code bits ``response.real > 0`` and ``response.imag > 0``.

The integer model ``iriscode`` is one ``probe_conv2d`` layer: input (1, 128, 512) = pixel - 128 (int8),
output (4, 16, 256) = the bits of filter 1 real, filter 1 imaginary, filter 2 real, filter 2 imaginary, so
open-iris's ``iris_codes[f][i, j, part]`` is ``y[2 f + part, i, j]``.  Each of the four kernels is scaled to
int8 (largest |value| 127) and rounded, in exact integer arithmetic, with every kernel row summing to
exactly zero, as the DC correction makes each real row zero-mean and each imaginary row is odd; so the map
of pixel - 128 equals the map of the pixel itself, windows being whole kernel rows.  The sign is the
requantization's activation lookup: with bias 2^(s-1) - 1, q = ceil(a / 2^s) and y = clamp(q, 0, 1) =
[a > 0] exactly.

Not in the model: open-iris's mask bits (from the segmentation mask, and the fragile-bit refinement that
thresholds |response| and its phase).  See README "The iris code".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprove.layers.probe_conv2d import probe_count, probe_sources, probe_sum
from edgeprove.model import ops
from edgeprove.model.bounds import MAX_SHIFT, check_model
from edgeprove.model.ir import Layer, Model, ModelOverflowError

IMAGE_SHAPE = (128, 512)
"""The normalized iris image: 128 radial rows (pupil to limbus) by 512 angular columns, uint8."""
PROBE_STRIDES = (8, 2)
"""Probe rows 8 i (i < 16) and columns 2 j (j < 256): the 16 x 256 regular probe schema on 128 x 512."""
KERNEL_ROWS, KERNEL_COLS = 21, 41
"""Both filters have 21 radial rows; the 17-column filter is centred in 41 columns of zeros."""
FIX_POINT_BITS = 15
"""open-iris's ``to_fixpoints``: kernel values are round(v * 2^15)."""


@dataclass(frozen=True)
class GaborFilter:
    """One of open-iris's GaborFilter parameter sets (kernel_size is (angular, radial), as open-iris)."""

    kernel_size: tuple[int, int]
    sigma_phi: float
    sigma_rho: float
    theta_degrees: float
    lambda_phi: float


FILTERS = (
    GaborFilter((41, 21), 7.0, 6.13, 90.0, 28.0),
    GaborFilter((17, 21), 2.0, 5.86, 90.0, 8.0),
)
"""The default pipeline's filter bank (dc_correction and to_fixpoints on)."""


def gabor(params: GaborFilter) -> np.ndarray:
    """The complex fix-point kernel, (radial rows, angular columns), as open-iris computes it."""
    half_phi, half_rho = params.kernel_size[0] // 2, params.kernel_size[1] // 2
    y, x = np.meshgrid(
        np.arange(-half_phi, half_phi + 1), np.arange(-half_rho, half_rho + 1), indexing="xy", sparse=True
    )
    cos_theta = np.cos(params.theta_degrees * np.pi / 180)
    sin_theta = np.sin(params.theta_degrees * np.pi / 180)
    rotx = x * cos_theta + y * sin_theta
    roty = -x * sin_theta + y * cos_theta
    carrier = 1j * 2 * np.pi / params.lambda_phi * rotx
    envelope = -(rotx**2 / params.sigma_phi**2 + roty**2 / params.sigma_rho**2) / 2
    kernel = np.exp(envelope + carrier)
    kernel /= 2 * np.pi * params.sigma_phi * params.sigma_rho
    g_mean = np.mean(np.real(kernel), axis=-1)
    correction_term_mean = np.mean(envelope, axis=-1)
    kernel = kernel - (g_mean / correction_term_mean)[:, np.newaxis] * envelope
    real, imag = np.real(kernel).copy(), np.imag(kernel).copy()
    for part in (real, imag):
        norm = np.linalg.norm(part, ord="fro")
        if norm > 0:
            part /= norm
    scale = 2**FIX_POINT_BITS
    return np.round(real * scale) + 1j * np.round(imag * scale)


def _centred(kernel: np.ndarray) -> np.ndarray:
    """A kernel centred in KERNEL_ROWS x KERNEL_COLS zeros."""
    out = np.zeros((KERNEL_ROWS, KERNEL_COLS), dtype=kernel.dtype)
    rows, cols = kernel.shape
    top, left = (KERNEL_ROWS - rows) // 2, (KERNEL_COLS - cols) // 2
    out[top : top + rows, left : left + cols] = kernel
    return out


def kernel_parts() -> np.ndarray:
    """The four real kernels (filter 1 real, imaginary, filter 2 real, imaginary), each centred in
    KERNEL_ROWS x KERNEL_COLS: float64 (4, 21, 41) of fix-point values."""
    kernels = [gabor(params) for params in FILTERS]
    return np.stack([_centred(part) for kernel in kernels for part in (kernel.real, kernel.imag)])


def zero_sum_rows(numerators: np.ndarray, denominator: int) -> np.ndarray:
    """Round each row of the exact rationals numerators / denominator (each row summing to 0) to integers
    summing to exactly 0, in integer arithmetic (so every platform rounds alike): round half up, then move
    the entries nearest their other rounding by one until the row sums to 0."""
    out = (2 * numerators + denominator) // (2 * denominator)
    for row in range(out.shape[0]):
        excess = int(out[row].sum())
        if excess:
            error = out[row] * denominator - numerators[row]  # > 0: rounded up
            order = np.argsort(-error if excess > 0 else error, kind="stable")
            out[row, order[: abs(excess)]] -= np.sign(excess)
    return out


def int8_kernels() -> np.ndarray:
    """The four kernels as int8 (4, 1, 21, 41): each fix-point part scaled so its largest |value| is 127,
    its rows made zero-sum (the fix-point rows sum to a few units, not 0) and rounded keeping that sum."""
    weights = np.zeros((4, 1, KERNEL_ROWS, KERNEL_COLS), dtype=np.int8)
    kernels = [gabor(params) for params in FILTERS]
    for index, part in enumerate(part for kernel in kernels for part in (kernel.real, kernel.imag)):
        values = part.astype(np.int64)  # fix-point integers
        cols = values.shape[1]
        largest = int(np.abs(values).max())
        # 127 (v - row mean) / largest = 127 (cols v - row sum) / (largest cols), exactly
        numerators = 127 * (cols * values - values.sum(axis=1, keepdims=True))
        rounded = zero_sum_rows(numerators, largest * cols)
        if np.abs(rounded).max() > 127:
            raise AssertionError("an iris kernel left the int8 range")
        weights[index, 0] = _centred(rounded)
    return weights


def layer(shift: int = 0) -> Layer:
    """The probe layer: (1, 128, 512) -> (4, 16, 256), clipped rows, wrapped columns, bits out."""
    height, width = IMAGE_SHAPE
    out = (4, probe_count(height, PROBE_STRIDES[0]), probe_count(width, PROBE_STRIDES[1]))
    return Layer(
        "gabor",
        "probe_conv2d",
        -1,
        (1, height, width),
        out,
        shift,
        "relu",
        kernel=KERNEL_ROWS,
        stride=PROBE_STRIDES[0],
        act_max=1,
        kernel_w=KERNEL_COLS,
        stride_w=PROBE_STRIDES[1],
        border_h="clip",
        border_w="wrap",
    )


def sign_bias(shift: int) -> np.ndarray:
    """2^(s-1) - 1 per channel: with the requantization's own 2^(s-1), q = ceil(a / 2^s), so q >= 1 iff
    a > 0."""
    return np.full(4, (1 << (shift - 1)) - 1 if shift else 0, dtype=np.int64)


def integer_model(name: str = "iriscode") -> Model:
    """The iris-code model at the shift s whose lookup tables are smallest: the activation table's static
    2^q_bits rows plus the remainder table's 2^s (the sign is exact at any s)."""
    weights = int8_kernels()
    best = None
    for shift in range(MAX_SHIFT + 1):
        model = Model(name, (1, *IMAGE_SHAPE), 0, [layer(shift)], [weights], [sign_bias(shift)])
        try:
            (bounds,) = check_model(model)
        except ModelOverflowError:
            continue
        rows = (1 << bounds.q_bits) + (1 << shift)
        if best is None or rows < best[0]:
            best = (rows, model)
    return best[1]


def model_input(image: np.ndarray) -> np.ndarray:
    """A normalized image (128, 512) of values 0..255 as the model's int8 input (1, 128, 512): pixel - 128."""
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE or image.min() < 0 or image.max() > 255:
        raise ValueError(f"a normalized iris image is {IMAGE_SHAPE} with values 0..255")
    return (image.astype(np.int64) - 128).reshape(1, *IMAGE_SHAPE)


def float_responses(images: np.ndarray) -> np.ndarray:
    """open-iris's filter sums for a batch of images (N, 128, 512) of 0..255, in float64 with the fix-point
    kernels: (N, 4, 16, 256), before open-iris's positive normalisations (which leave every sign as it is)."""
    rows = probe_sources(IMAGE_SHAPE[0], KERNEL_ROWS, PROBE_STRIDES[0], "clip")
    cols = probe_sources(IMAGE_SHAPE[1], KERNEL_COLS, PROBE_STRIDES[1], "wrap")
    kernels = kernel_parts()[:, None]
    batch = np.asarray(images, dtype=np.float64)[None]
    return np.moveaxis(probe_sum(kernels, batch, rows, cols), 1, 0)


FRAGILE_THRESHOLDS = (0.0001, 0.275, 0.08726646259971647)
"""open-iris's FragileBitRefinement (polar): |z| in [t0, t1] and the phase at least t2 (5 degrees) from the
axis of the other part (``nodes/iris_response_refinement/fragile_bits_refinement.py``)."""


def normalized_responses(images: np.ndarray) -> np.ndarray:
    """open-iris's complex responses z (N, 2 filters, 16, 256): the filter sums divided by the clipped
    window's size (rows times the filter's own columns) and by the fix-point kernel's norm, per part."""
    sums = float_responses(images)
    rows = probe_sources(IMAGE_SHAPE[0], KERNEL_ROWS, PROBE_STRIDES[0], "clip")
    window_rows = (rows >= 0).sum(axis=1)[:, None]
    out = np.empty((sums.shape[0], len(FILTERS), *sums.shape[2:]), dtype=complex)
    for index, params in enumerate(FILTERS):
        kernel = gabor(params)
        size = window_rows * params.kernel_size[0]
        real = sums[:, 2 * index] / size / np.linalg.norm(kernel.real)
        imag = sums[:, 2 * index + 1] / size / np.linalg.norm(kernel.imag)
        out[:, index] = real + 1j * imag
    return out


def fragile_keep(images: np.ndarray) -> np.ndarray:
    """Which code bits open-iris's fragile-bit refinement keeps, for a fully valid segmentation mask (every
    mask weight 1): bool (N, 4, 16, 256) in the model's channel order.  A float reference, not proven."""
    z = normalized_responses(images)
    low, high, angle = FRAGILE_THRESHOLDS
    radius, phase = np.abs(z), np.angle(z)
    in_band = (radius >= low) & (radius <= high)
    keep_real = in_band & (np.abs(np.sin(phase)) <= np.abs(np.cos(angle)))
    keep_imag = in_band & (np.abs(np.cos(phase)) <= np.abs(np.cos(angle)))
    return np.stack([keep_real[:, 0], keep_imag[:, 0], keep_real[:, 1], keep_imag[:, 1]], axis=1)


def float_code(images: np.ndarray) -> np.ndarray:
    """open-iris's code bits (response > 0) for a batch of images: bool (N, 4, 16, 256)."""
    return float_responses(images) > 0


def textures(count: int, seed: int) -> np.ndarray:
    """Synthetic iris-like normalized images (count, 128, 512) uint8, periodic in the angle: a radial
    brightness ramp, fibres (noise smooth along the radius and fine along the angle), crypts (dark blobs),
    each seeded."""
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SHAPE
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    out = np.empty((count, height, width), dtype=np.uint8)
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    for n in range(count):
        spectrum = rng.standard_normal((height, width)) + 1j * rng.standard_normal((height, width))
        shape = np.exp(-((fy / 0.04) ** 2)) / (1 + (fx / rng.uniform(0.02, 0.08)) ** 2)
        fibres = np.real(np.fft.ifft2(spectrum * shape))
        fibres /= fibres.std()
        image = 110 + 40 * rows / height + rng.uniform(15, 35) * fibres
        for _ in range(int(rng.integers(3, 9))):
            r0, c0 = rng.uniform(0, height), rng.uniform(0, width)
            dc = (cols - c0 + width / 2) % width - width / 2  # periodic distance in the angle
            image -= rng.uniform(20, 50) * np.exp(
                -(((rows - r0) / rng.uniform(4, 12)) ** 2) - (dc / rng.uniform(6, 20)) ** 2
            )
        image += rng.normal(0, 3, image.shape)
        out[n] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return out


def uniform_images(count: int, seed: int) -> np.ndarray:
    """Independent uniform 0..255 pixels (count, 128, 512) uint8."""
    return np.random.default_rng(seed).integers(0, 256, (count, *IMAGE_SHAPE), dtype=np.uint8)


@dataclass(frozen=True)
class CodeAgreement:
    """How many of the integer model's code bits equal open-iris's float code bits, over a batch."""

    images: int
    bits: int
    differing: int
    differing_per_part: tuple[int, int, int, int]

    @property
    def fraction(self) -> float:
        """The fraction of bits that differ."""
        return self.differing / self.bits


def agreement(model: Model, images: np.ndarray) -> CodeAgreement:
    """Compare the integer model's bits (integer inference, what a proof establishes) with open-iris's float
    code on ``images`` (N, 128, 512)."""
    inputs = np.stack([model_input(image) for image in images])
    ours = ops.run_batch(model, inputs).astype(bool)
    theirs = float_code(images)
    differ = ours != theirs
    per_part = tuple(int(differ[:, part].sum()) for part in range(4))
    return CodeAgreement(len(images), int(differ.size), int(differ.sum()), per_part)
