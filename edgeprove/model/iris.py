"""open-iris's iris-code encoder as an integer model: its two complex Gabor filters applied to the normalized
iris image at its 16 x 256 probe grid, the signs of the four responses (16,384 code bits), and their mask
bits from the segmentation mask and the fragile-bit refinement (16,384 more).

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
- ``nodes/iris_response/conv_filter_bank.py`` again: the mask response is the valid share of the same
  window (valid pixels over rows times the filter's own columns), 0 where the response is 0.
- ``nodes/iris_response_refinement/fragile_bits_refinement.py`` (polar, mask not duplicated): a part's mask
  stays only where 0.0001 <= |z| <= 0.275 for the normalised response z = sum / window / kernel norm, and
  the phase is at least 5 degrees from the other part's axis (|sin phi| <= cos 5 for the real part).
- ``nodes/encoder/iris_encoder.py``: code bits ``response.real > 0`` and ``response.imag > 0``; mask bits
  ``mask_response >= 0.93`` per part.

The integer model ``iriscode``: input (2, 128, 512) = [pixel - 128, mask bit] (int8), output (8, 16, 256) =
the code bits of filter 1 real, filter 1 imaginary, filter 2 real, filter 2 imaginary, then their mask bits
in the same order, so open-iris's ``iris_codes[f][i, j, part]`` is ``y[2 f + part, i, j]`` and its
``mask_codes[f][i, j, part]`` is ``y[4 + 2 f + part, i, j]``.  Eight layers, every test an exact sign:

1. ``mask`` (1x1): the mask bit clamp(mask, 0, 1) and a constant 1, so a probe window sums the constant to
   its size N, whatever rows the clipping keeps.
2. ``gabor`` (probe, over [input, mask]): per filter the two code bits, the share test
   100 valid - 93 N >= 0 (valid / N >= 0.93 exactly: no N is a multiple of 100) and the phase forms
   cot(5) Re -+ Im >= 0, cot(5) Im -+ Re >= 0.
3. ``radius1`` ... ``radius4`` (probe, two per filter, half the directions each, so that no layer is larger
   than the probe layer): DIRECTIONS tests T N - <z, u_k> N >= 0, the polygon
   standing for the disc |z| <= 0.275 (the constant's weight T is 0.275 at the direction kernel's scale).
4. ``fragile`` (1x1): z != 0 (a code bit, or the form cot(5) Re + Im < 0, which with both code bits clear
   holds unless z = 0), inside the polygon (all its tests), and per part the phase test (both forms >= 0 or
   both < 0).
5. ``template`` (1x1): code bits passed on, mask bits = share, z != 0, polygon and phase all true.

Each kernel is scaled to int8 and rounded with every kernel row summing to exactly zero (the DC correction
makes each real row zero-mean and each imaginary row is odd), so the map of pixel - 128 equals the map of
the pixel itself, windows being whole kernel rows.  A sign is the requantization's activation lookup: with
bias 2^(s-1) - 1, q = ceil(a / 2^s) and y = clamp(q, 0, 1) = [a > 0]; with 2^(s-1), [a >= 0].

Where the integer model differs from open-iris's float one: the int8 kernels (bits whose response is near
a boundary), the polygon for the disc (its radius within 0.25% of 0.275) and |z| >= 0.0001 tested as
z != 0 (the int8 sums resolve nothing finer).  ``agreement`` measures it; README "The iris code".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprove.layers.probe_conv2d import probe_count, probe_sources, probe_sum
from edgeprove.model import ops
from edgeprove.model.bounds import MAX_SHIFT, check_layer, check_model, model_bounds
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


def int8_parts(params: GaborFilter) -> tuple[np.ndarray, np.ndarray]:
    """A filter's real and imaginary parts as int8 values (int64, the filter's own size): each fix-point
    part scaled so its largest |value| is 127, its rows made zero-sum (the fix-point rows sum to a few units,
    not 0) and rounded keeping that sum, in exact integer arithmetic."""
    kernel = gabor(params)
    out = []
    for part in (kernel.real, kernel.imag):
        values = part.astype(np.int64)  # fix-point integers
        cols = values.shape[1]
        largest = int(np.abs(values).max())
        # 127 (v - row mean) / largest = 127 (cols v - row sum) / (largest cols), exactly
        numerators = 127 * (cols * values - values.sum(axis=1, keepdims=True))
        rounded = zero_sum_rows(numerators, largest * cols)
        if np.abs(rounded).max() > 127:
            raise AssertionError("an iris kernel left the int8 range")
        out.append(rounded)
    return out[0], out[1]


def int8_kernels() -> np.ndarray:
    """The four code kernels as int8 (4, 1, 21, 41), each centred (``int8_parts``)."""
    parts = [_centred(part) for params in FILTERS for part in int8_parts(params)]
    return np.stack(parts)[:, None].astype(np.int8)


MASK_THRESHOLD = 0.93
"""open-iris's IrisEncoder ``mask_threshold``: a bit is valid where at least this share of its window is."""
SHARE_WEIGHTS = (100, 93)
"""valid / window >= 0.93  <=>  100 valid - 93 window >= 0 (no window size is a multiple of 100: no tie)."""
DIRECTIONS = 32
"""Directions of the polygon that stands for the disc |z| <= 0.275: the test <z, u_k> <= t for all k."""
RADIUS_LAYERS = 2
"""Radius layers per filter, each testing DIRECTIONS / RADIUS_LAYERS directions (16 channels, as the probe
layer's 14 pad to)."""
SHARE_CHANNEL = 2
"""The share test's channel within a filter's block of the probe layer (after the two code bits)."""
PHASE_CHANNEL = 3
"""The first phase form's channel within that block: cot(5) Re - Im, cot(5) Re + Im, then the imaginary
part's two."""
FRAGILE_ANGLE_SLOPE = 1 / np.tan(0.08726646259971647)
"""cot(5 degrees): |sin phi| <= cos(5 degrees)  <=>  |Im z| <= cot(5 degrees) |Re z| (the real bit's test)."""
PROBE_BLOCK = 7
"""The probe layer's channels per filter (``probe_kernels``)."""
FRAGILE_BLOCK = 6
"""The fragile layer's channels per filter: z != 0, inside the disc, and two per part for the phase."""
INPUT_CHANNELS = 2
"""The model input: the image (pixel - 128) and the segmentation mask (1 valid, 0 not)."""
PROBE_INPUT = ("pixel - 128", "raw mask", "mask bit", "one")
"""The probe layers' input channels: the model input, then the mask layer's output."""


def _unit_parts(params: GaborFilter) -> tuple[np.ndarray, np.ndarray]:
    """The fix-point kernel's real and imaginary parts each divided by its Frobenius norm, as open-iris
    normalises its responses (its z is sum(patch * part) / window), at the filter's own size."""
    kernel = gabor(params)
    return kernel.real / np.linalg.norm(kernel.real), kernel.imag / np.linalg.norm(kernel.imag)


def int8_rows(values: np.ndarray, scale: float) -> np.ndarray:
    """round(scale * values) with every row summing to exactly 0 (int64): the values on a 2^-20 grid, then
    ``zero_sum_rows`` of their zero-mean rows; windows are whole kernel rows, so pixel - 128 and the pixel
    give the same sums."""
    fixed = np.round(np.asarray(values, dtype=np.float64) * scale * 2.0**20).astype(np.int64)
    cols = fixed.shape[-1]
    numerators = cols * fixed - fixed.sum(axis=-1, keepdims=True)
    out = zero_sum_rows(numerators, cols << 20)
    if np.abs(out).max() > 127:
        raise AssertionError("an iris kernel left the int8 range")
    return out


def _filter_columns(params: GaborFilter) -> np.ndarray:
    """1 on the filter's own columns of the window (KERNEL_ROWS x KERNEL_COLS), 0 on the zero margin."""
    return _centred(np.ones((KERNEL_ROWS, params.kernel_size[0]), dtype=np.int64))


def _probe_channel(
    params: GaborFilter, image: np.ndarray | None = None, mask: int = 0, one: int = 0
) -> np.ndarray:
    """One output channel's kernel over PROBE_INPUT: ``image`` (the filter's own size, or None) on the
    pixels, ``mask`` and ``one`` on every pixel of the filter's window."""
    kernel = np.zeros((len(PROBE_INPUT), KERNEL_ROWS, KERNEL_COLS), dtype=np.int64)
    if image is not None:
        kernel[0] = _centred(image)
    window = _filter_columns(params)
    kernel[2], kernel[3] = mask * window, one * window
    return kernel


def probe_kernels() -> tuple[np.ndarray, np.ndarray]:
    """The probe layer's weights (2 PROBE_BLOCK, 4, 21, 41) and, per channel, whether it tests a > 0 (True)
    or a >= 0.  Per filter: the real and imaginary code bits (``int8_kernels``); the mask share
    100 valid - 93 window >= 0; and the phase forms cot(5) Re - Im, cot(5) Re + Im, cot(5) Im - Re,
    cot(5) Im + Re >= 0."""
    weights, strict = [], []
    for params in FILTERS:
        real, imag = _unit_parts(params)
        code = int8_parts(params)
        weights += [_probe_channel(params, part) for part in code]
        weights.append(_probe_channel(params, mask=SHARE_WEIGHTS[0], one=-SHARE_WEIGHTS[1]))
        for main, other in ((real, imag), (imag, real)):
            for sign in (-1, 1):
                form = FRAGILE_ANGLE_SLOPE * main + sign * other
                weights.append(_probe_channel(params, int8_rows(form, 126 / np.abs(form).max())))
        strict += [True] * 2 + [False] * 5
    return np.stack(weights).astype(np.int8), np.array(strict)


def radius_kernels(params: GaborFilter) -> np.ndarray:
    """One filter's radius weights (DIRECTIONS, 4, 21, 41): per direction u_k, the test
    T window - <z, u_k> window >= 0 for one filter, the constant channel's weight T standing for 0.275 at the
    direction's own scale (a window of N pixels sums it N times, as open-iris divides by N).  The polygon
    lies between the discs it circumscribes and inscribes, so its radius errs by at most half its corners'."""
    _, upper, _ = FRAGILE_THRESHOLDS
    radius = upper * (1 + 1 / np.cos(np.pi / DIRECTIONS)) / 2
    real, imag = _unit_parts(params)
    weights = []
    for angle in 2 * np.pi * np.arange(DIRECTIONS) / DIRECTIONS:
        direction = np.cos(angle) * real + np.sin(angle) * imag
        threshold = min(127, int(126 * radius / np.abs(direction).max()))
        weights.append(_probe_channel(params, -int8_rows(direction, threshold / radius), one=threshold))
    return np.stack(weights).astype(np.int8)


def _probe_layer(name: str, channels: int, shift: int) -> Layer:
    """A probe layer over [input, mask layer] (4, 128, 512) -> (channels, 16, 256) of bits: clipped rows,
    wrapped columns."""
    height, width = IMAGE_SHAPE
    out = (channels, probe_count(height, PROBE_STRIDES[0]), probe_count(width, PROBE_STRIDES[1]))
    return Layer(
        name,
        "probe_conv2d",
        -1,
        (len(PROBE_INPUT), height, width),
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
        extra_sources=(0,),
    )


def _pointwise(name: str, sources: tuple[int, ...], in_channels: int, out_channels: int, shape) -> Layer:
    """A 1x1 convolution with output bits (relu, act_max 1, shift 0: y = clamp(W x + b, 0, 1))."""
    return Layer(
        name,
        "conv2d",
        sources[0],
        (in_channels, *shape),
        (out_channels, *shape),
        0,
        "relu",
        act_max=1,
        extra_sources=sources[1:],
    )


def layers(shifts: tuple[int, ...] = (1,) * (1 + len(FILTERS) * RADIUS_LAYERS)) -> list[Layer]:
    """The model's eight layers, the probe layers at ``shifts``: the mask bit and a constant 1 from the
    input; the probe layer's bits; the radius tests (RADIUS_LAYERS layers per filter, so that none is
    larger than the probe layer); the fragile tests; the template (4 code bits, then 4 mask bits per
    probe)."""
    grid = (probe_count(IMAGE_SHAPE[0], PROBE_STRIDES[0]), probe_count(IMAGE_SHAPE[1], PROBE_STRIDES[1]))
    probes, directions = len(FILTERS) * PROBE_BLOCK, len(FILTERS) * DIRECTIONS
    fragile = len(FILTERS) * FRAGILE_BLOCK
    count, size = len(FILTERS) * RADIUS_LAYERS, DIRECTIONS // RADIUS_LAYERS
    radii = [_probe_layer(f"radius{index + 1}", size, shifts[1 + index]) for index in range(count)]
    fragile_index = len(radii) + 2  # after the mask, probe and radius layers
    return [
        _pointwise("mask", (-1,), INPUT_CHANNELS, 2, IMAGE_SHAPE),
        _probe_layer("gabor", probes, shifts[0]),
        *radii,
        _pointwise("fragile", tuple(range(1, fragile_index)), probes + directions, fragile, grid),
        _pointwise("template", (1, fragile_index), probes + fragile, 8, grid),
    ]


def _mask_weights() -> tuple[np.ndarray, np.ndarray]:
    """Channel 0 = clamp(raw mask, 0, 1), channel 1 = 1 (bias 1, no weight)."""
    weight = np.zeros((2, INPUT_CHANNELS, 1, 1), dtype=np.int8)
    weight[0, 1] = 1
    return weight, np.array([0, 1], dtype=np.int64)


def _fragile_weights() -> tuple[np.ndarray, np.ndarray]:
    """Per filter over [probe bits, radius bits]: z != 0, inside the disc (every direction's test), and for
    each part its phase test as both forms >= 0 or both < 0; each output is clamp(sum + b, 0, 1) of 0/1
    inputs.  z = 0 exactly when neither code bit is set (Re <= 0, Im <= 0) and cot(5) Re + Im >= 0, which
    in that quadrant holds only at 0: so z != 0 is clamp(re bit + im bit - that form + 1, 0, 1)."""
    probes = len(FILTERS) * PROBE_BLOCK
    weight = np.zeros((len(FILTERS) * FRAGILE_BLOCK, probes + len(FILTERS) * DIRECTIONS), dtype=np.int64)
    bias = np.zeros(len(weight), dtype=np.int64)
    for index in range(len(FILTERS)):
        base, out = index * PROBE_BLOCK, index * FRAGILE_BLOCK
        real_sum = base + PHASE_CHANNEL + 1  # cot(5) Re + Im >= 0
        weight[out, base : base + 2], weight[out, real_sum], bias[out] = 1, -1, 1  # z != 0
        directions = probes + index * DIRECTIONS
        weight[out + 1, directions : directions + DIRECTIONS] = 1  # and
        bias[out + 1] = 1 - DIRECTIONS
        for part in range(2):
            forms = slice(base + PHASE_CHANNEL + 2 * part, base + PHASE_CHANNEL + 2 + 2 * part)
            weight[out + 2 + 2 * part, forms], bias[out + 2 + 2 * part] = 1, -1  # both >= 0
            weight[out + 3 + 2 * part, forms], bias[out + 3 + 2 * part] = -1, 1  # both < 0
    return weight.astype(np.int8)[:, :, None, None], bias


def _template_weights() -> tuple[np.ndarray, np.ndarray]:
    """Over [probe bits, fragile bits]: code bits passed through; a mask bit is 1 when the share, z != 0,
    the disc and its part's phase test (one of its two forms) all hold: clamp(sum - 3, 0, 1)."""
    probes = len(FILTERS) * PROBE_BLOCK
    weight = np.zeros((8, probes + len(FILTERS) * FRAGILE_BLOCK), dtype=np.int64)
    bias = np.zeros(8, dtype=np.int64)
    for index in range(len(FILTERS)):
        base, fragile = index * PROBE_BLOCK, probes + index * FRAGILE_BLOCK
        for part in range(2):
            weight[2 * index + part, base + part] = 1
            mask = 4 + 2 * index + part
            weight[mask, [base + SHARE_CHANNEL, fragile, fragile + 1]] = 1
            weight[mask, fragile + 2 + 2 * part : fragile + 4 + 2 * part] = 1
            bias[mask] = -3
    return weight.astype(np.int8)[:, :, None, None], bias


def sign_bias(shift: int, strict: np.ndarray) -> np.ndarray:
    """Per channel, 2^(s-1) - 1 for a > 0 and 2^(s-1) for a >= 0 (s >= 1): with the requantization's own
    2^(s-1), q = ceil(a / 2^s) or floor(a / 2^s) + 1, so q >= 1 exactly when the test holds."""
    return np.where(strict, (1 << (shift - 1)) - 1, 1 << (shift - 1)).astype(np.int64)


def integer_model(name: str = "iriscode") -> Model:
    """The iris-code model with each probe layer at the shift s whose lookup tables are smallest: the
    activation table's static 2^q_bits rows plus the remainder table's 2^s (every test is exact at any
    s >= 1).  A layer's bounds depend on its own shift alone, so each is chosen on its own."""
    probe, strict = probe_kernels()
    radii = np.split(
        np.concatenate([radius_kernels(params) for params in FILTERS]), len(FILTERS) * RADIUS_LAYERS
    )
    mask, fragile, template = _mask_weights(), _fragile_weights(), _template_weights()
    stricts = [strict] + [np.zeros(len(radii[0]), dtype=bool)] * len(radii)

    def model(shifts: tuple[int, ...]) -> Model:
        biases = [sign_bias(shift, tests) for shift, tests in zip(shifts, stricts, strict=True)]
        return Model(
            name,
            (INPUT_CHANNELS, *IMAGE_SHAPE),
            0,
            layers(shifts),
            [mask[0], probe, *radii, fragile[0], template[0]],
            [mask[1], *biases, fragile[1], template[1]],
        )

    probes = range(1, 2 + len(radii))
    best: dict[int, tuple[int, int]] = {}
    for shift in range(1, MAX_SHIFT + 1):
        candidate = model((shift,) * len(probes))
        all_bounds = model_bounds(candidate)
        for index in probes:
            try:
                check_layer(candidate.layers[index], all_bounds[index])
            except ModelOverflowError:
                continue
            rows = (1 << all_bounds[index].q_bits) + (1 << shift)
            if index not in best or rows < best[index][0]:
                best[index] = (rows, shift)
    final = model(tuple(best[index][1] for index in probes))
    check_model(final)
    return final


def model_input(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """A normalized image (128, 512) of values 0..255 and its segmentation mask (128, 512) of 0/1 or bool,
    every pixel valid when None, as the model's int8 input (2, 128, 512): pixel - 128, then the mask."""
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE or image.min() < 0 or image.max() > 255:
        raise ValueError(f"a normalized iris image is {IMAGE_SHAPE} with values 0..255")
    mask = np.ones(IMAGE_SHAPE, dtype=np.int64) if mask is None else np.asarray(mask)
    if mask.shape != IMAGE_SHAPE or not np.isin(mask, (0, 1)).all():
        raise ValueError(f"a normalized iris mask is {IMAGE_SHAPE} with values 0 and 1")
    return np.stack([image.astype(np.int64) - 128, mask.astype(np.int64)])


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


def window_shares(masks: np.ndarray) -> np.ndarray:
    """open-iris's mask responses for a batch of masks (N, 128, 512) of 0/1: the valid share of each
    probe's window (clipped rows times the filter's own columns), float64 (N, 2 filters, 16, 256)."""
    rows = probe_sources(IMAGE_SHAPE[0], KERNEL_ROWS, PROBE_STRIDES[0], "clip")
    cols = probe_sources(IMAGE_SHAPE[1], KERNEL_COLS, PROBE_STRIDES[1], "wrap")
    windows = np.stack([_filter_columns(params) for params in FILTERS])[:, None].astype(np.float64)
    valid = probe_sum(windows, np.asarray(masks, dtype=np.float64)[None], rows, cols)
    sizes = probe_sum(windows, np.ones((1, 1, *IMAGE_SHAPE)), rows, cols)
    return np.moveaxis(valid / sizes, 1, 0)


def float_mask(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """open-iris's mask bits (``iris_encoder.py`` after ``fragile_bits_refinement.py``): the window's valid
    share at least 0.93 and the fragile-bit refinement's tests, bool (N, 4, 16, 256) in the code's order."""
    shares = np.repeat(window_shares(masks) >= MASK_THRESHOLD, 2, axis=1)
    return shares & fragile_keep(images)


def occlusion_masks(count: int, seed: int) -> np.ndarray:
    """Synthetic segmentation masks (count, 128, 512) uint8, 1 valid: eyelids covering the outer rows over
    two angular sectors (smooth edges) and a few small reflections, each seeded."""
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SHAPE
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    out = np.ones((count, height, width), dtype=np.uint8)
    for n in range(count):
        for centre in (width / 4, 3 * width / 4):
            half = rng.uniform(40, 120)
            depth = rng.uniform(10, 80)
            distance = np.abs((cols - centre - rng.uniform(-20, 20) + width / 2) % width - width / 2)
            edge = height - depth * np.clip(1 - (distance / half) ** 2, 0, None)
            out[n][rows >= np.ceil(edge)] = 0
        for _ in range(int(rng.integers(0, 4))):
            r0, c0, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(2, 6)
            dc = (cols - c0 + width / 2) % width - width / 2
            out[n][(rows - r0) ** 2 + dc**2 <= radius**2] = 0
    return out


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
class BitAgreement:
    """How many of the integer model's bits (code or mask) equal open-iris's float ones, over a batch."""

    images: int
    bits: int
    differing: int
    differing_per_part: tuple[int, int, int, int]

    @property
    def fraction(self) -> float:
        """The fraction of bits that differ."""
        return self.differing / self.bits


def _compare(ours: np.ndarray, theirs: np.ndarray) -> BitAgreement:
    differ = ours != theirs
    per_part = tuple(int(differ[:, part].sum()) for part in range(4))
    return BitAgreement(len(ours), int(differ.size), int(differ.sum()), per_part)


def agreement(
    model: Model, images: np.ndarray, masks: np.ndarray | None = None
) -> tuple[BitAgreement, BitAgreement]:
    """Compare the integer model's code and mask bits (integer inference, what a proof establishes) with
    open-iris's float ones on ``images`` (N, 128, 512) and ``masks`` (every pixel valid when None)."""
    masks = np.ones((len(images), *IMAGE_SHAPE), dtype=np.uint8) if masks is None else masks
    inputs = np.stack([model_input(image, mask) for image, mask in zip(images, masks, strict=True)])
    ours = ops.run_batch(model, inputs).astype(bool)
    return _compare(ours[:, :4], float_code(images)), _compare(ours[:, 4:], float_mask(images, masks))
