"""The model zoo: reference architectures with seeded He-normal weights, quantized and cached on disk.

Every model is rebuilt bit-for-bit from its name: weights come from a generator seeded by the name and the
layer index, calibration inputs from a seeded uniform [-1, 1) generator.  A built model is cached as a
compiled folder ``$EDGEPROVE_CACHE/<name>-v<ZOO_VERSION>`` (default ``~/.cache/edgeprove/models``) next to
``quantization.json`` (the agreement report), and later loaded memory-mapped.

A zoo name is an identity, not a file: every model's digest is pinned in ``data/zoo_digests.json``, shipped
with the package, and a cached model whose digest differs (a tampered or stale cache) is discarded and
rebuilt; a build that still differs is refused (the platform computed the model differently).
``scripts/pin_zoo_digests.py`` rewrites the pins after a deliberate change (with ``ZOO_VERSION``).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from edgeprove.layers.avgpool import mean_window
from edgeprove.layers.probe_conv2d import BORDERS, probe_count
from edgeprove.model import compiled, iris
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import Layer, Model, ModelError, Shape, clamp_activation, conv_out_size, is_pow2
from edgeprove.model.quantize import (
    FloatModel,
    QuantizationReport,
    QuantizationResult,
    quantize,
    random_calibration,
)

ZOO_VERSION = 1
"""Bump when any architecture, seed rule or quantization rule changes, so stale caches are not reused."""
CACHE_ENV = "EDGEPROVE_CACHE"
REPORT_FILE = "quantization.json"
BIAS_STD = 0.1
"""Standard deviation of the seeded normal biases (weights are He-normal: std sqrt(2 / fan_in))."""
WC50_CHANNELS = (16, 32, 64, 108)
WC50_CONVS_PER_STAGE = 12
RESNET18_STRIDES = (1, 2, 2, 2)
"""The stride of the first basic block of ResNet-18's four stages (two blocks each)."""
MOBILENETV2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""MobileNetV2's inverted residual stages: (expansion t, channels c, blocks n, stride s of the first)."""
MOBILENETV2_FEATURES = (1, 3, 6, 13)
"""Inverted residual blocks whose outputs (and the last 1x1 convolution's) a segmentation decoder reads."""


@dataclass(frozen=True)
class ZooSummary:
    """What the zoo says about a model without building it."""

    name: str
    params: int
    weight_layers: int
    macs: int
    input_shape: Shape
    largest_activation: int
    description: str


class _Builder:
    """Appends IR layers (shifts and fractions left at 0 for the quantizer) and tracks shapes."""

    def __init__(self, input_shape: Shape) -> None:
        self.input_shape = tuple(input_shape)
        self.layers: list[Layer] = []
        self.clip_max: dict[int, float] = {}
        """Float upper clips of relu layers by index (ReLU6: 6.0)."""

    def shape(self, index: int) -> Shape:
        """Output shape of layer ``index`` (-1: the model input)."""
        return self.input_shape if index == -1 else self.layers[index].out_shape

    @property
    def last(self) -> int:
        """Index of the most recent layer (-1 before the first)."""
        return len(self.layers) - 1

    def _add(self, layer: Layer) -> int:
        self.layers.append(layer)
        return self.last

    def conv(
        self,
        name: str,
        source: int,
        channels: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        activation: str = "relu",
        residual: int | None = None,
        groups: int = 1,
        extra_sources: tuple[int, ...] = (),
        upsample: tuple[int, ...] = (),
    ) -> int:
        """Append a convolution and return its index: conv2d, or grouped_conv2d for groups > 1 (depthwise when
        groups is the input's channel count); a conv2d may read ``extra_sources`` concatenated after its
        source, each source upsampled by its factor in ``upsample`` (empty: none is)."""
        c, h, w = self.view((source, *extra_sources), upsample)
        out = (channels, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
        kind, grouping = ("conv2d", {}) if groups == 1 else ("grouped_conv2d", {"groups": groups})
        return self._add(
            Layer(
                name,
                kind,
                source,
                (c, h, w),
                out,
                0,
                activation,
                kernel,
                stride,
                padding,
                residual,
                **grouping,
                extra_sources=tuple(extra_sources),
                upsample=tuple(upsample),
            )
        )

    def view(self, sources: tuple[int, ...], upsample: tuple[int, ...] = ()) -> Shape:
        """The shape a layer reads from ``sources`` concatenated along channels, each upsampled by its factor
        (the first source's size as read is every source's)."""
        factor = upsample[0] if upsample else 1
        _, h, w = self.shape(sources[0])
        return (sum(self.shape(ref)[0] for ref in sources), factor * h, factor * w)

    def gated(self, name: str, source: int, gates: tuple[int, ...], upsample: int = 1) -> int:
        """Append a gated product: ``source`` (read upsampled by ``upsample``) times the sum of its gates."""
        shape = self.view((source,), (upsample,))
        factors = (upsample, *(1,) * len(gates)) if upsample != 1 else ()
        return self._add(
            Layer(name, "gated_mul", source, shape, shape, 0, "clamp", extra_sources=gates, upsample=factors)
        )

    def mean(self, name: str, source: int) -> int:
        """Append the mean of each channel of ``source``: a global average pool, after the power-of-two
        windows ``avgpool.mean_window`` asks for on a plane too large to average at once."""
        _, h, w = self.shape(source)
        window = mean_window(h, w, name)
        if window > 1:
            source = self.avgpool(f"{name}.window", source, window, activation="clamp")
        return self.global_pool(name, source, activation="clamp")

    def probe(
        self,
        name: str,
        source: int,
        channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        borders: tuple[str, str],
        activation: str = "relu",
    ) -> int:
        """Append a probe convolution (kernel, stride and borders per axis, height first) and return its
        index."""
        c, h, w = self.shape(source)
        out = (channels, probe_count(h, stride[0]), probe_count(w, stride[1]))
        return self._add(
            Layer(
                name,
                "probe_conv2d",
                source,
                (c, h, w),
                out,
                0,
                activation,
                kernel=kernel[0],
                stride=stride[0],
                kernel_w=kernel[1],
                stride_w=stride[1],
                border_h=borders[0],
                border_w=borders[1],
            )
        )

    def dense(
        self, name: str, source: int, features: int, activation: str = "relu", residual: int | None = None
    ) -> int:
        """Append a dense layer and return its index."""
        return self._add(
            Layer(
                name, "dense", source, self.shape(source), (features, 1, 1), 0, activation, residual=residual
            )
        )

    def avgpool(self, name: str, source: int, kernel: int, activation: str = "relu") -> int:
        """Append an average pool (stride == kernel) and return its index."""
        c, h, w = self.shape(source)
        out = (c, h // kernel, w // kernel)
        return self._add(Layer(name, "avgpool", source, (c, h, w), out, 0, activation, kernel, kernel))

    def maxpool(self, name: str, source: int, kernel: int, stride: int, padding: int = 0) -> int:
        """Append a max pool; its output range is its source's (the model input counts as clamp)."""
        c, h, w = self.shape(source)
        out = (c, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
        src = self.layers[source] if source >= 0 else None
        activation = clamp_activation(src.activation) if src is not None else "clamp"
        act_max = src.act_max if src is not None else 127
        return self._add(
            Layer(
                name,
                "maxpool",
                source,
                (c, h, w),
                out,
                0,
                activation,
                kernel,
                stride,
                padding,
                act_max=act_max,
            )
        )

    def relu6(self, index: int) -> int:
        """Clip relu layer ``index`` at 6 in float (ReLU6); returns the index."""
        self.clip_max[index] = 6.0
        return index

    def global_pool(self, name: str, source: int, activation: str = "relu") -> int:
        """Append a global average pool and return its index."""
        c, h, w = self.shape(source)
        return self._add(Layer(name, "global_avgpool", source, (c, h, w), (c, 1, 1), 0, activation))


def _wc50() -> _Builder:
    """The Worldcoin-scale CNN (README.md): 48 residual convs, global pool, two dense layers."""
    builder = _Builder((1, 128, 128))
    for stage, channels in enumerate(WC50_CHANNELS, start=1):
        indices = [builder.conv(f"s{stage}c1", builder.last, channels, 3, 2, 1)]
        for conv in range(2, WC50_CONVS_PER_STAGE + 1):
            residual = indices[-2] if conv % 2 == 1 and conv < WC50_CONVS_PER_STAGE else None
            index = builder.conv(f"s{stage}c{conv}", builder.last, channels, 3, 1, 1, residual=residual)
            indices.append(index)
    builder.global_pool("pool", builder.last)
    builder.dense("fc1", builder.last, 128)
    builder.dense("fc2", builder.last, 128, activation="none")
    return builder


def resnet18(size: int = 224, widths: tuple[int, ...] = (64, 128, 256, 512), classes: int = 1000) -> _Builder:
    """torchvision's ResNet-18 (at 224x224 with the default widths, ``resnet18`` in the zoo): 7x7 stem,
    padded 3x3 max pool, four stages of two basic blocks (a 1x1 stride-2 convolution on the shortcut where
    the shape changes), global pool (7x7), a dense classifier.  Batch normalization is folded away (random
    weights).  Smaller sizes and widths give the same architecture for tests."""
    builder = _Builder((3, size, size))
    builder.conv("conv1", -1, widths[0], 7, 2, 3)
    block_input = builder.maxpool("maxpool", builder.last, 3, 2, 1)
    for stage, (channels, stride) in enumerate(zip(widths, RESNET18_STRIDES, strict=True), start=1):
        for block in range(2):
            prefix = f"layer{stage}.{block}"
            first_stride = stride if block == 0 else 1
            first = builder.conv(f"{prefix}.conv1", block_input, channels, 3, first_stride, 1)
            shortcut = block_input
            if first_stride != 1 or builder.shape(block_input)[0] != channels:
                shortcut = builder.conv(
                    f"{prefix}.downsample", block_input, channels, 1, first_stride, 0, activation="clamp"
                )
            block_input = builder.conv(f"{prefix}.conv2", first, channels, 3, 1, 1, residual=shortcut)
    builder.global_pool("avgpool", block_input)
    builder.dense("fc", builder.last, classes, activation="none")
    return builder


def mobilenetv2(size: int = 224, divisor: int = 1, classes: int = 1000) -> _Builder:
    """torchvision's MobileNetV2 (width 1.0 at 224x224 by default, ``mobilenetv2`` in the zoo): 3x3
    stride-2 stem, 17 inverted residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear projection; a
    residual add where the shape is kept), 1x1 to 1280, global pool (7x7), a dense classifier; ReLU6
    throughout.  Batch normalization is folded away.  ``divisor`` divides every width (tests)."""
    builder = _Builder((3, size, size))
    mobilenetv2_features(builder, divisor)
    builder.global_pool("avgpool", builder.last)
    builder.dense("classifier", builder.last, classes, activation="none")
    return builder


def mobilenetv2_features(builder: _Builder, divisor: int = 1) -> list[int]:
    """Append MobileNetV2's feature layers (``features.0`` to ``features.18``) to ``builder`` reading its
    input; returns the layers after features 1, 3, 6, 13 and 18, the stride 2, 4, 8, 16 and 32 features a
    segmentation decoder takes (segmentation-models-pytorch's ``_out_indexes``)."""
    outputs = []
    builder.relu6(builder.conv("features.0", -1, 32 // divisor, 3, 2, 1))
    block = 1
    for expansion, full_channels, count, stride in MOBILENETV2_BLOCKS:
        channels = max(full_channels // divisor, 1)
        for repeat in range(count):
            prefix = f"features.{block}"
            source = builder.last
            in_channels = builder.shape(source)[0]
            hidden = in_channels * expansion
            if expansion != 1:
                builder.relu6(builder.conv(f"{prefix}.expand", source, hidden, 1))
            step = stride if repeat == 0 else 1
            builder.relu6(
                builder.conv(f"{prefix}.depthwise", builder.last, hidden, 3, step, 1, groups=hidden)
            )
            residual = source if step == 1 and in_channels == channels else None
            builder.conv(
                f"{prefix}.project", builder.last, channels, 1, activation="clamp", residual=residual
            )
            if block in MOBILENETV2_FEATURES:
                outputs.append(builder.last)
            block += 1
    outputs.append(builder.relu6(builder.conv(f"features.{block}", builder.last, 1280 // divisor, 1)))
    return outputs


IRIS_SEG_DECODER = (512, 256, 128, 64, 32)
"""The UNet++ decoder widths of open-iris's segmentation model (about 14.0M parameters with its encoder)."""
IRIS_SEG_CLASSES = 4
"""Its output classes (eyeball, iris, pupil, eyelashes)."""
SCSE_REDUCTION = 16
"""scSE's channel squeeze ratio."""


def iris_seg(height: int = 480, width: int = 640, divisor: int = 1) -> _Builder:
    """open-iris's segmentation network: segmentation-models-pytorch's UNet++ over a MobileNetV2 encoder with
    scSE attention in every decoder block (``iris-seg`` at 3x480x640, ``iris-seg-small`` at 3x128x160),
    batch normalization folded away, a sigmoid per class on the 3x3 head.  ``divisor`` divides every width
    (tests).  Block ``x_d_l`` follows smp's ``UnetPlusPlusDecoder.forward`` (``_decoder_block``)."""
    builder = _Builder((3, height, width))
    features = mobilenetv2_features(builder, divisor)[::-1]  # the deepest first, as the decoder reads them
    widths = tuple(max(c // divisor, 1) for c in IRIS_SEG_DECODER)
    depth = len(widths) - 1
    dense: dict[tuple[int, int], int] = {}
    for level in range(depth):
        for d in range(depth - level):
            last = d + level
            if level == 0:
                prev, skips = features[d], [features[d + 1]]
            else:
                prev = dense[(d, last - 1)]
                skips = [dense[(i, last)] for i in range(d + 1, last + 1)] + [features[last + 1]]
            out = widths[last] if d == 0 else builder.shape(features[last + 1])[0]
            dense[(d, last)] = _decoder_block(builder, f"x_{d}_{last}", prev, skips, out)
    top = _decoder_block(builder, f"x_0_{depth}", dense[(0, depth - 1)], [], widths[-1])
    builder.conv("head", top, IRIS_SEG_CLASSES, 3, 1, 1, activation="sigmoid")
    return builder


def _decoder_block(builder: _Builder, name: str, deeper: int, skips: list[int], channels: int) -> int:
    """smp's UNet++ DecoderBlock: the deeper tensor upsampled 2x (nearest), its skips concatenated and
    gated by scSE (when there are skips), two 3x3 convolutions with ReLU, scSE again."""
    parts, factors = [deeper, *skips], (2, *(1,) * len(skips))
    if skips:
        parts, factors = _scse(builder, f"{name}.attention1", parts, factors), ()
    first = builder.conv(
        f"{name}.conv1", parts[0], channels, 3, 1, 1, extra_sources=tuple(parts[1:]), upsample=factors
    )
    second = builder.conv(f"{name}.conv2", first, channels, 3, 1, 1)
    return _scse(builder, f"{name}.attention2", [second], ())[0]


def _scse(builder: _Builder, name: str, parts: list[int], factors: tuple[int, ...]) -> list[int]:
    """scSE on the concatenation of ``parts`` (each read upsampled by its factor): x * (cSE + sSE) with
    cSE = sigmoid(conv1x1(relu(conv1x1(mean(x))))) per channel and sSE = sigmoid(conv1x1(x)) per pixel.
    Returns one gated tensor per part: cSE's first convolution is split by the parts' channels into a chain
    of partial sums (each part's mean keeps its own scale) and its last by output channels (both the same
    map), and a part's mean is its source's (upsampling keeps a mean)."""
    total = sum(builder.shape(part)[0] for part in parts)
    squeeze = None
    for i, part in enumerate(parts):  # W mean(x) = sum_i W_i mean(part_i), each mean at its own scale
        mean = builder.mean(f"{name}.pool{i}", part)
        activation = "relu" if i == len(parts) - 1 else "clamp"
        squeeze = builder.conv(
            f"{name}.squeeze{i}",
            mean,
            max(total // SCSE_REDUCTION, 1),
            1,
            activation=activation,
            residual=squeeze,
        )
    spatial = builder.conv(
        f"{name}.spatial",
        parts[0],
        1,
        1,
        activation="sigmoid",
        extra_sources=tuple(parts[1:]),
        upsample=factors,
    )
    gated = []
    for i, part in enumerate(parts):
        channel = builder.conv(f"{name}.channel{i}", squeeze, builder.shape(part)[0], 1, activation="sigmoid")
        upsample = factors[i] if factors else 1
        gated.append(builder.gated(f"{name}.gate{i}", part, (channel, spatial), upsample))
    return gated


def _lenet5() -> _Builder:
    """LeNet-5 on 1x28x28 with average pooling."""
    builder = _Builder((1, 28, 28))
    builder.conv("conv1", -1, 6, 5, 1, 2)
    builder.avgpool("pool1", builder.last, 2)
    builder.conv("conv2", builder.last, 16, 5)
    builder.avgpool("pool2", builder.last, 2)
    builder.dense("fc1", builder.last, 120)
    builder.dense("fc2", builder.last, 84)
    builder.dense("fc3", builder.last, 10, activation="none")
    return builder


def _lenet5_max32() -> _Builder:
    """The classic LeNet-5 layout on 1x32x32: two 5x5 convolutions without padding, each followed by ReLU and
    2x2 max pooling, then 120-84-10 dense layers."""
    builder = _Builder((1, 32, 32))
    builder.conv("conv1", -1, 6, 5)
    builder.maxpool("pool1", builder.last, 2, 2)
    builder.conv("conv2", builder.last, 16, 5)
    builder.maxpool("pool2", builder.last, 2, 2)
    builder.dense("fc1", builder.last, 120)
    builder.dense("fc2", builder.last, 84)
    builder.dense("fc3", builder.last, 10, activation="none")
    return builder


VGG_CIFAR_WIDTHS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}
"""VGG's convolution widths by depth, "M" a 2x2 max pool (Simonyan and Zisserman, configurations A and D)."""


def _vgg_cifar(depth: int) -> _Builder:
    """VGG on CIFAR's 3x32x32: 3x3 convolutions (padding 1) with ReLU, 2x2 max pools, then a 512-512-10
    classifier, as zkCNN's benchmarks define it."""
    builder = _Builder((3, 32, 32))
    convs = pools = 0
    for width in VGG_CIFAR_WIDTHS[depth]:
        if width == "M":
            pools += 1
            builder.maxpool(f"pool{pools}", builder.last, 2, 2)
        else:
            convs += 1
            builder.conv(f"conv{convs}", builder.last, int(width), 3, 1, 1)
    builder.dense("fc1", builder.last, 512)
    builder.dense("fc2", builder.last, 512)
    builder.dense("fc3", builder.last, 10, activation="none")
    return builder


def _iriscode() -> _Builder:
    """open-iris's encoder: code and mask bits from the normalized iris image and its mask, two probe
    convolutions between 1x1 ones (its weights are fixed and computed, ``iris.integer_model``)."""
    builder = _Builder((iris.INPUT_CHANNELS, *iris.IMAGE_SHAPE))
    for layer in iris.layers():
        builder._add(layer)
    return builder


def _tiny_mlp() -> _Builder:
    """A 4-layer MLP with a residual add, for fast tests."""
    builder = _Builder((10, 1, 1))
    first = builder.dense("fc1", -1, 8)
    builder.dense("fc2", first, 8, residual=first)
    builder.dense("fc3", builder.last, 5, activation="clamp")
    builder.dense("fc4", builder.last, 3, activation="none")
    return builder


def _tiny_cnn() -> _Builder:
    """Every layer kind on odd shapes: conv stride 1/2, padding 0/1, avgpool, residual, global pool, dense."""
    builder = _Builder((3, 9, 7))
    first = builder.conv("conv1", -1, 4, 3, 1, 0)
    builder.conv("conv2", first, 4, 3, 1, 1, residual=first)
    builder.conv("conv3", builder.last, 6, 3, 2, 1, activation="clamp")
    pool = builder.avgpool("pool1", builder.last, 2, activation="clamp")
    gap = builder.global_pool("gap", pool, activation="clamp")
    builder.dense("fc1", pool, 6, residual=gap)
    builder.dense("fc2", builder.last, 3, activation="none")
    return builder


@cache
def paper0_suites() -> dict[str, dict]:
    """The paper0 MLP architectures by name, from the packaged paper0_suites.json."""
    text = resources.files("edgeprove").joinpath("data/paper0_suites.json").read_text()
    return {entry["name"]: entry for suite in json.loads(text)["suites"].values() for entry in suite}


def _paper0(name: str) -> _Builder:
    """A paper0 MLP: dense layers [in, out, relu]; hidden layers without relu clamp, the last outputs raw."""
    entries = paper0_suites()[name]["layers"]
    builder = _Builder((entries[0][0], 1, 1))
    for number, (in_features, out_features, relu) in enumerate(entries, start=1):
        if builder.shape(builder.last)[0] != in_features:
            raise ModelError(f"paper0 model {name}: layer {number} expects {in_features} inputs")
        last = number == len(entries)
        activation = "none" if last else ("relu" if relu else "clamp")
        builder.dense(f"fc{number}", builder.last, out_features, activation)
    return builder


_BUILTIN = {
    "wc50": _wc50,
    "resnet18": resnet18,
    "mobilenetv2": mobilenetv2,
    "lenet5": _lenet5,
    "lenet5_max32": _lenet5_max32,
    "vgg11_cifar": lambda: _vgg_cifar(11),
    "vgg16_cifar": lambda: _vgg_cifar(16),
    "tiny_mlp": _tiny_mlp,
    "tiny_cnn": _tiny_cnn,
    "iriscode": _iriscode,
    "iris-seg": iris_seg,
    "iris-seg-small": lambda: iris_seg(128, 160),
}
_FIXED_WEIGHTS = {"iriscode"}
"""Models whose weights are computed, not drawn: built by their own module, never quantized from a float
model."""
_DESCRIPTIONS = {
    "wc50": "Worldcoin-scale residual CNN (README.md)",
    "resnet18": "ResNet-18 at 224x224 (torchvision architecture)",
    "mobilenetv2": "MobileNetV2 at 224x224 (torchvision architecture), depthwise convs",
    "lenet5": "LeNet-5, average pooling",
    "lenet5_max32": "LeNet-5 on 1x32x32 with ReLU and max pooling (the classic layout)",
    "vgg11_cifar": "VGG11 on CIFAR's 3x32x32, 512-512-10 classifier",
    "vgg16_cifar": "VGG16 on CIFAR's 3x32x32, 512-512-10 classifier",
    "tiny_mlp": "4-layer MLP with a residual add (tests)",
    "tiny_cnn": "every layer kind on odd shapes (tests)",
    "iriscode": "open-iris's iris code: 2 Gabor filters at 16x256 probes, 16,384 code + 16,384 mask bits",
    "iris-seg": "open-iris's segmentation CNN: UNet++ over MobileNetV2 with scSE, 3x480x640",
    "iris-seg-small": "the iris segmentation CNN at 3x128x160 (tests and CI)",
}
CALIBRATION_INPUTS = {"wc50": 8, "resnet18": 4, "mobilenetv2": 4, "iris-seg": 1, "iris-seg-small": 4}
"""Calibration batch sizes that differ from the default of 16."""


def names() -> list[str]:
    """Every zoo model name: the built-in models, then paper0's depth and params suites."""
    return list(_BUILTIN) + list(paper0_suites())


def _architecture(name: str) -> _Builder:
    """The layers of a zoo model, or ModelError naming close matches."""
    if name in _BUILTIN:
        return _BUILTIN[name]()
    if name in paper0_suites():
        return _paper0(name)
    close = difflib.get_close_matches(name, names(), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names()[:6])}, ..."
    raise ModelError(f"unknown model {name!r}{hint}")


def name_seed(name: str) -> int:
    """A 64-bit seed derived from a model name (stable across platforms and runs)."""
    digest = hashlib.sha256(f"edgeprove-zoo-v{ZOO_VERSION}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def he_parameters(seed: int, layers: list[Layer]):
    """parameters(i) -> (He-normal weight, normal bias) of layer i, seeded by (seed, i)."""

    def parameters(index: int) -> tuple[np.ndarray, np.ndarray]:
        layer = layers[index]
        rng = np.random.default_rng([seed, index])
        shape = layer.weight_shape
        fan_in = int(np.prod(shape[1:]))
        weight = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        return weight, rng.normal(0.0, BIAS_STD, shape[0])

    return parameters


def float_model(name: str) -> FloatModel:
    """The float zoo model: its architecture with seeded He-normal parameters (the iris code: its integer
    weights and biases, so its float map is the integer model's before requantization)."""
    builder = _architecture(name)
    parameters = he_parameters(name_seed(name), builder.layers)
    if name == "iriscode":
        integer = iris.integer_model()

        def parameters(index: int) -> tuple[np.ndarray, np.ndarray]:
            return integer.weight(index).astype(np.float64), integer.biases[index].astype(np.float64)

    return FloatModel(name, builder.input_shape, builder.layers, parameters, builder.clip_max)


def summary(name: str) -> ZooSummary:
    """Parameter count, weight layers, MACs, input shape and largest activation, without building weights."""
    builder = _architecture(name)
    layers = builder.layers
    largest = max([int(np.prod(builder.input_shape))] + [int(np.prod(layer.out_shape)) for layer in layers])
    description = _DESCRIPTIONS.get(name, f"paper0 MLP, {len(layers)} dense layers")
    return ZooSummary(
        name,
        sum(layer.num_params for layer in layers),
        sum(layer.has_weights for layer in layers),
        sum(layer.num_macs for layer in layers),
        builder.input_shape,
        largest,
        description,
    )


def build(name: str) -> QuantizationResult:
    """Quantize a zoo model from its seeds (no cache involved); a model with computed weights is built by
    its own module."""
    if name in _FIXED_WEIGHTS:
        return _iris_build(name)
    model = float_model(name)
    inputs, label = random_calibration(
        model.input_shape, CALIBRATION_INPUTS.get(name, 16), name_seed(name) % (1 << 32)
    )
    return quantize(model, inputs, label)


def _iris_build(name: str) -> QuantizationResult:
    """The iris-code model and its agreement with open-iris's float code and mask bits on seeded synthetic
    iris textures under seeded occlusion masks (the report's agreement is the share of all its bits, code and
    mask, equal to open-iris's)."""
    model = iris.integer_model(name)
    seed = name_seed(name) % (1 << 32)
    images, masks = iris.textures(4, seed), iris.occlusion_masks(4, seed + 1)
    code, mask = iris.agreement(model, images, masks)
    report = QuantizationReport(
        f"{len(images)} seeded synthetic iris textures and occlusion masks; agreement: code and mask bits "
        "equal to open-iris's float ones",
        len(images),
        1.0 - (code.differing + mask.differing) / (code.bits + mask.bits),
        float(code.differing + mask.differing > 0),
        1.0,
    )
    reference = np.concatenate([iris.float_code(images), iris.float_mask(images, masks)], axis=1)
    return QuantizationResult(model, report, check_model(model), reference.astype(np.float64))


def cache_dir() -> Path:
    """The zoo cache root: $EDGEPROVE_CACHE, or ~/.cache/edgeprove/models."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "edgeprove" / "models"


def model_folder(name: str) -> Path:
    """Where the compiled zoo model lives in the cache."""
    return cache_dir() / f"{name}-v{ZOO_VERSION}"


DIGESTS_FILE = "zoo_digests.json"


@cache
def pinned_digests() -> dict[str, str]:
    """Every zoo model's expected digest, as shipped with the package."""
    payload = json.loads(resources.files("edgeprove").joinpath("data", DIGESTS_FILE).read_text())
    if payload["zoo_version"] != ZOO_VERSION:
        raise ModelError(f"{DIGESTS_FILE} pins zoo version {payload['zoo_version']}, not {ZOO_VERSION}")
    return payload["digests"]


def get(name: str) -> Model:
    """The zoo model ``name``: built and cached on first use, then loaded memory-mapped from the cache, and
    always the model its pinned digest names (a cache that differs is rebuilt)."""
    _architecture(name)
    expected = pinned_digests().get(name)
    if expected is None:
        raise ModelError(f"zoo model {name!r} has no pinned digest in {DIGESTS_FILE}")

    def write(staging: Path) -> None:
        result = build(name)
        compiled.save(result.model, staging)
        (staging / REPORT_FILE).write_text(json.dumps(dataclasses.asdict(result.report), indent=1) + "\n")

    folder = model_folder(name)
    model = compiled.cached(folder, write)
    if model.digest != expected:
        compiled.discard(folder)
        model = compiled.cached(folder, write)
    if model.digest != expected:
        raise ModelError(
            f"zoo model {name} built here has digest {model.digest[:16]}…, not the pinned {expected[:16]}…: "
            "this platform computes the model differently"
        )
    return model


def quantization_report(name: str) -> QuantizationReport:
    """The agreement report written when the zoo model was built (building it if needed)."""
    get(name)
    data = json.loads((model_folder(name) / REPORT_FILE).read_text())
    return QuantizationReport(**data)


def random_model(
    rng: np.random.Generator,
    max_layers: int = 6,
    max_channels: int = 4,
    max_size: int = 9,
    calibration_inputs: int = 4,
    activations: tuple[str, ...] = ("relu", "clamp"),
) -> Model:
    """A small random valid integer model for property tests: random kinds, shapes, strides, padding,
    residual adds and activations (drawn from ``activations``; with "sigmoid" among them the last layer is
    a sigmoid or keeps its accumulator), He-normal weights, quantized on seeded random calibration
    inputs."""
    if rng.random() < 0.5:
        input_shape = (
            int(rng.integers(1, max_channels + 1)),
            int(rng.integers(1, max_size + 1)),
            int(rng.integers(1, max_size + 1)),
        )
    else:
        input_shape = (int(rng.integers(1, 4 * max_channels + 1)), 1, 1)
    builder = _Builder(input_shape)
    count = int(rng.integers(1, max_layers + 1))
    for step in range(count):
        if step < count - 1:
            activation = str(rng.choice(list(activations)))
        else:
            activation = str(rng.choice(["none", "sigmoid"])) if "sigmoid" in activations else "none"
        source = builder.last if rng.random() < 0.8 else int(rng.integers(-1, builder.last + 1))
        _random_layer(rng, builder, f"l{step}", source, activation, max_channels)
    seed = int(rng.integers(0, 1 << 32))
    model = FloatModel("random", input_shape, builder.layers, he_parameters(seed, builder.layers))
    inputs, label = random_calibration(input_shape, calibration_inputs, seed)
    return quantize(model, inputs, label).model


def _random_layer(
    rng: np.random.Generator, builder: _Builder, name: str, source: int, activation: str, max_channels: int
) -> None:
    """Append one random layer reading ``source``, with a residual add when an earlier shape matches."""
    c, h, w = builder.shape(source)
    kinds = ["dense", "conv2d", "conv2d", "grouped_conv2d", "probe_conv2d"]
    if h >= 2 and w >= 2:
        kinds.append("avgpool")
    if h * w > 1 and (is_pow2(h * w) or h * w < 64):
        kinds.append("global_avgpool")
    source_range_ok = source < 0 or builder.layers[source].activation in ("relu", "clamp")
    if h >= 2 and w >= 2 and activation != "none" and source_range_ok:
        kinds.append("maxpool")
    kind = str(rng.choice(kinds))
    if kind == "maxpool":
        kernel = int(rng.integers(2, min(3, h, w) + 1))
        builder.maxpool(name, source, kernel, int(rng.integers(1, kernel + 1)), int(rng.integers(0, kernel)))
        return
    if kind == "avgpool":
        index = builder.avgpool(name, source, int(rng.integers(2, min(3, h, w) + 1)), activation)
    elif kind == "global_avgpool":
        index = builder.global_pool(name, source, activation)
    elif kind == "grouped_conv2d":
        divisors = [g for g in range(2, c + 1) if c % g == 0] or [1]
        groups = int(rng.choice(divisors))
        kernel = int(rng.choice([3, 5])) if min(h, w) >= 3 else 1
        padding = kernel // 2
        out = groups * int(rng.integers(1, 3))
        index = builder.conv(
            name, source, out, kernel, int(rng.integers(1, 3)), padding, activation, groups=groups
        )
    elif kind == "probe_conv2d":
        kernel = (int(rng.choice([1, 3])), int(rng.choice([1, 3, 5])))
        borders = tuple(str(border) for border in rng.choice(BORDERS, 2))
        borders = tuple(
            "zeros" if border == "wrap" and k > size else border
            for border, k, size in zip(borders, kernel, (h, w), strict=True)
        )
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        index = builder.probe(
            name, source, int(rng.integers(1, max_channels + 1)), kernel, stride, borders, activation
        )
    elif kind == "dense":
        index = builder.dense(name, source, int(rng.integers(1, 2 * max_channels + 1)), activation)
    elif rng.random() < 0.4:
        kernel = int(rng.choice([1, 3]))
        index = builder.conv(name, source, c, kernel, 1, kernel // 2, activation)
    else:
        kernel = int(rng.integers(1, min(3, h + 2, w + 2) + 1))
        padding = int(rng.integers(0, min(1, kernel - 1) + 1))
        stride = int(rng.integers(1, 3))
        if min(h, w) + 2 * padding < kernel:
            padding = 1
        index = builder.conv(
            name, source, int(rng.integers(1, max_channels + 1)), kernel, stride, padding, activation
        )
    matches = [j for j in range(index) if builder.layers[j].out_shape == builder.layers[index].out_shape]
    if matches and rng.random() < 0.6:
        builder.layers[index] = dataclasses.replace(builder.layers[index], residual=int(rng.choice(matches)))
