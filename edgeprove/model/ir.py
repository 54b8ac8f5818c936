"""The integer model IR: layers, models and their weights.

A tensor is a (C, H, W) tuple of ints; an MLP vector of n values is (n, 1, 1).  Every layer maps the output
y of its ``source`` layer (or the model input, source -1) to an int64 accumulator a by its kind's map (a
linear map for conv2d, dense, average pool and global average pool; a window maximum for max pooling),
optionally adds
``y[residual] << residual_shift``, and then requantizes: q = (a + 2^(s-1)) >> s, y = clamp(q, lo, act_max)
with lo = 0 for "relu" and -128 for "clamp", or y = min(act_max, round(2^out_frac sigma(q / 2^q_frac))) for
"sigmoid" (``edgeprove.model.sigmoid``; see ``edgeprove.model.ops``).  The last layer may use activation
"none" and output its accumulator unchanged.

``act_max`` (default 127, lo <= act_max <= 127) is the upper clamp: a float ReLU6 becomes "relu" with
act_max = round(6 * 2^out_frac).  It is written to the manifest only when it differs from 127, so a model
without such a layer keeps the manifest and digest it had before the field existed.  ``groups`` (default 1)
splits a convolution's channels into independent groups (a depthwise convolution has one per channel); only
kinds that read it accept a value other than 1, and it too is written only when it differs from its default.
So are ``kernel_w``, ``stride_w`` (a kernel width and a column stride of their own; default 0, unset,
for the kinds whose window is square) and ``border_h``, ``border_w`` (what a window does at the image's
edges; default "zeros"), which only ``probe_conv2d`` reads and every other kind refuses when set.
``q_frac`` (default 0) is the fraction bits of q where a sigmoid reads it; it must equal the accumulator's
fraction less the shift (in_frac + weight_frac + the kind's scale bits - shift), and only sigmoid layers
may set it.

A layer may read several tensors: ``extra_sources`` (default empty) lists earlier tensors read after
``source``, and ``upsample`` (default empty: all 1) gives each of ``source``, then each extra source, a
nearest-neighbour upsampling factor of 1 or 2 along H and W (x_up[c, 2i+a, 2j+b] = x[c, i, j]).  The
layer's input is the channel concatenation of its sources, each upsampled by its factor; ``in_shape`` is
that concatenation's shape.  Only kinds whose map splits over input channels (``KindRules.source_rule``
"concat") read more than one source that way; a "broadcast" kind (the gated product) reads a first source
(C, H, W) and gates of shape (C, 1, 1) or (1, H, W), its input being every source broadcast to (C, H, W)
and stacked along channels, while ``in_shape`` is (C, H, W).  Any kind may read one upsampled source.  Both
fields are written to the manifest only when set.

Each kind's own rules (weights, output shape, the checks on its fields, its map) live in its module under
``edgeprove.layers`` and are reached through the registry (``edgeprove.model.kinds``); this module holds
what every layer shares.

Model digest (hex SHA-256), in this order:
  1. the bytes ``b"edgeprove-model\\x00"``;
  2. the canonical manifest header: JSON (sorted keys, separators ``,`` / ``:``) of ``{"format", "version",
     "name", "input_shape", "input_frac", "layers"}`` exactly as written to ``manifest.json`` (file names and
     the digest itself are not part of it), preceded by its length as 8 little-endian bytes;
  3. for every layer with weights, in layer order: the weight array's raw bytes (int8, C order) and then the
     bias array's raw bytes (int64 little-endian), each preceded by its byte length as 8 little-endian bytes.
These raw bytes are exactly the data section of the layer's ``.npy`` files, so the digest of a compiled folder
is computed from its files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprove.model import sigmoid
from edgeprove.model.kinds import registry, rules_of

Shape = tuple[int, int, int]

ACTIVATIONS = ("relu", "clamp", "sigmoid", "none")
FORMAT_NAME = "edgeprove-model"
FORMAT_VERSION = 1
ACTIVATION_RANGE = {"relu": (0, 127), "clamp": (-128, 127), "sigmoid": (0, 127)}
"""The value range of y for each requantizing activation with the default act_max 127."""
DEFAULT_ACT_MAX = 127
INPUT_RANGE = (-128, 127)
"""The model input is int8."""

# ----- Ceilings on models from outside
# Compiled folders, ONNX files and input files are hostile input: every size below is checked before
# anything is allocated, read or looped over, and a model beyond one is refused with a one-line ModelError.
# The project targets inputs up to 3x480x640 and activations up to 64x480x640 (19.7M values; 2^25 on the
# padded grid), 14M parameters and ~140 layers (the deepest zoo model has 500); each ceiling leaves headroom
# above that.  The README's "Limits" section lists them.
MAX_LAYERS = 4096
"""Layers in a model (8x the 500 of the deepest zoo MLP)."""
MAX_TENSOR_VALUES = 1 << 26
"""Values of the input or of any layer's output, counted on its power-of-two padded grid (what the prover
allocates): 2x the 64x512x1024 padded grid of a 64x480x640 activation, 512 MiB as int64."""
MAX_LAYER_WEIGHTS = 1 << 26
"""Weights of one layer (64 MiB as int8; the largest zoo layer has 2.9M)."""
MAX_MODEL_PARAMS = 1 << 28
"""Weights plus biases of a whole model (19x the 14M target)."""
MAX_KERNEL = 64
"""Largest kernel, stride and padding of a window (real networks use up to 11)."""
MAX_SHIFT_FIELD = 32
"""Largest shift and residual_shift a manifest may hold, so that 1 << shift and the int64 bound arithmetic
stay cheap and exact; the proof itself takes shift <= 16 (``edgeprove.model.bounds.MAX_SHIFT``)."""
MAX_FRAC = 256
"""Largest |input_frac|, |weight_frac| and |out_frac|: 2^+-256 scales are far beyond any int8 model and keep
every float scale finite."""
MAX_NAME_CHARS = 128
"""Longest model or layer name; names use only A-Z a-z 0-9 _ . - (layer names become file names)."""
MAX_MANIFEST_BYTES = 8 << 20
"""Largest manifest.json: ``save`` writes under 1 KiB per layer, so 4096 layers with 128-character names take
about 3 MiB."""
MAX_MANIFEST_ITEMS = 64 * MAX_LAYERS
"""Most JSON values (commas) and, separately, objects and arrays (brackets) in a manifest; a layer needs
about 20 and 4.  Counted on the raw bytes before parsing, so that parsing allocates a few tens of MiB at
most."""
MAX_NPY_HEADER_BYTES = 4096
"""Largest .npy header read from a weight, input or calibration file (numpy writes under 200 bytes)."""
MAX_CALIBRATION_VALUES = 1 << 26
"""Values in a calibration batch (N times the input size; 512 MiB as float64)."""
MAX_ONNX_BYTES = 4 * MAX_MODEL_PARAMS + (64 << 20)
"""Largest ONNX file or external data file: the float32 bytes of MAX_MODEL_PARAMS plus 64 MiB of graph."""
MAX_ONNX_NODES = 8 * MAX_LAYERS
"""Nodes an ONNX graph may have: several per layer (convolution, normalization, activation, ...), and a
bound on what parsing, translating and onnxruntime's session cost before any layer is counted."""
MAX_NPY_DIMS = 32
"""Most dimensions a .npy shape may have: numpy 1.x's own limit (numpy 2 takes 64); no input needs a tenth."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
"""The characters of a model or layer name."""
MAX_SOURCES = 16
"""Most tensors one layer may read as its input (a UNet++ decoder block concatenates up to 5)."""
UPSAMPLE_FACTORS = (1, 2)
"""Nearest-neighbour upsampling factors a source may take."""
OPTIONAL_DEFAULTS = {
    "groups": 1,
    "kernel_w": 0,
    "stride_w": 0,
    "border_h": "zeros",
    "border_w": "zeros",
    "q_frac": 0,
    "extra_sources": (),
    "upsample": (),
}
"""Fields only some layers use, with the default that ``to_dict`` leaves out of the manifest (so models
without them keep their digests)."""
WINDOW_FIELDS = ("kernel_w", "stride_w", "border_h", "border_w")
"""The probe-grid fields, which only kinds with a non-square or bordered window read."""


class ModelError(ValueError):
    """A model that is malformed, inconsistent, unknown or unusable; the message is one line for the user."""


class ModelOverflowError(ModelError):
    """A model whose values could leave the field's signed range (or the proof's lookup-table limits)."""


@dataclass(frozen=True)
class Layer:
    """One layer of the integer IR (see the module docstring for the exact semantics of each field)."""

    name: str
    kind: str
    source: int
    in_shape: Shape
    out_shape: Shape
    shift: int
    activation: str
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    residual: int | None = None
    residual_shift: int = 0
    weight_frac: int = 0
    out_frac: int = 0
    act_max: int = DEFAULT_ACT_MAX
    groups: int = 1
    kernel_w: int = 0
    stride_w: int = 0
    border_h: str = "zeros"
    border_w: str = "zeros"
    q_frac: int = 0
    extra_sources: tuple[int, ...] = ()
    upsample: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("extra_sources", "upsample"):  # lists from JSON or callers become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def sources(self) -> tuple[int, ...]:
        """Every tensor the layer's input is made of, in concatenation order: ``source``, then the extras."""
        return (self.source, *self.extra_sources)

    @property
    def factors(self) -> tuple[int, ...]:
        """The upsampling factor of each source (1 for all when ``upsample`` is unset)."""
        return self.upsample or (1,) * len(self.sources)

    @property
    def reads(self) -> tuple[int, ...]:
        """Every tensor the layer reads: its sources and its residual."""
        return self.sources if self.residual is None else (*self.sources, self.residual)

    @property
    def has_weights(self) -> bool:
        """True when the layer's kind carries a weight and a bias array (conv2d, dense)."""
        return self.weight_shape is not None

    @property
    def weight_shape(self) -> tuple[int, ...] | None:
        """Shape of the weight array as its kind defines it; None for kinds without weights (and for an
        unknown kind, which validation refuses)."""
        rules = registry().get(self.kind)
        return None if rules is None else rules.weight_shape(self)

    @property
    def num_params(self) -> int:
        """Number of weights plus biases of this layer."""
        shape = self.weight_shape
        return 0 if shape is None else math.prod(shape) + self.out_shape[0]

    @property
    def num_macs(self) -> int:
        """Multiply-accumulates of the linear map (pools and residual adds are counted as zero)."""
        shape = self.weight_shape
        if shape is None:
            return 0
        return math.prod(shape) * self.out_shape[1] * self.out_shape[2]

    @property
    def requantized(self) -> bool:
        """True when the layer requantizes (activation relu or clamp), False for activation "none"."""
        return self.activation != "none"

    def to_dict(self) -> dict:
        """The layer as a JSON-ready dict (shapes as lists; act_max, groups and the probe-grid fields only
        when they are not their defaults)."""
        out = dataclasses.asdict(self)
        if self.act_max == DEFAULT_ACT_MAX:
            del out["act_max"]
        for name, default in OPTIONAL_DEFAULTS.items():
            if out[name] == default:
                del out[name]
        for name in ("extra_sources", "upsample"):
            if name in out:
                out[name] = list(out[name])
        out["in_shape"] = list(self.in_shape)
        out["out_shape"] = list(self.out_shape)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Layer:
        """Rebuild a layer from ``to_dict`` output, refusing unknown or missing fields and wrong types."""
        if not isinstance(data, dict):
            raise ModelError("a layer entry is not a JSON object")
        where = f"layer {label(data.get('name', '?'))}"
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            listed = ", ".join(short(name) for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ModelError(f"{where}: unknown field(s) {listed}{more}")
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ModelError(f"{where}: missing field(s) {', '.join(missing)}")
        try:
            values = dict(data)
            for key in ("in_shape", "out_shape"):
                values[key] = _shape(values[key])
            for f in dataclasses.fields(cls):
                if f.name not in values:
                    continue
                value = values[f.name]
                if f.name in ("name", "kind", "activation", "border_h", "border_w"):
                    if not isinstance(value, str):
                        raise TypeError(f.name)
                elif f.name == "residual":
                    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                        raise TypeError(f.name)
                elif f.name in ("extra_sources", "upsample"):
                    if (
                        not isinstance(value, list)
                        or len(value) > MAX_SOURCES
                        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                    ):
                        raise TypeError(f.name)
                elif f.name not in ("in_shape", "out_shape"):
                    if not isinstance(value, int) or isinstance(value, bool):
                        raise TypeError(f.name)
            return cls(**values)
        except TypeError as exc:
            raise ModelError(f"{where}: bad value for {exc.args[0]}") from None


def _shape(value) -> Shape:
    """A (C, H, W) tuple of positive ints, or TypeError naming the field."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise TypeError("shape")
    return (int(value[0]), int(value[1]), int(value[2]))


_NPY_HEADER_LOCK = threading.Lock()


def load_npy(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    """``np.load`` of a .npy file without pickles, one thread at a time: numpy parses the header with
    ``ast.literal_eval``, and CPython 3.11 builds AST objects with state shared by every thread, so two
    parses at once (the prover reads layer k + 1's weights on a worker while layer k's are read) can fail
    with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905)."""
    with _NPY_HEADER_LOCK:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)


def short(value, limit: int = 40) -> str:
    """A one-line repr of an untrusted value cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(name) -> str:
    """A model or layer name for messages: as it is when well-formed, else a short repr."""
    if isinstance(name, str) and len(name) <= MAX_NAME_CHARS and NAME_PATTERN.fullmatch(name):
        return name
    return short(name)


def padded_size(shape: Shape) -> int:
    """Values of a shape's power-of-two padded grid, as an exact Python int whatever the sizes."""
    return math.prod(1 << (int(size) - 1).bit_length() for size in shape)


def check_name(what: str, name) -> None:
    """Refuse a model or layer name that is not 1 to MAX_NAME_CHARS characters of A-Z a-z 0-9 _ . -."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        raise ModelError(
            f"{what} name {short(name)} must be 1-{MAX_NAME_CHARS} characters of A-Z a-z 0-9 _ . -"
        )


def check_shape(what: str, shape) -> None:
    """Refuse a shape that is not three positive ints or whose padded grid exceeds MAX_TENSOR_VALUES."""
    if (
        not isinstance(shape, list | tuple)
        or len(shape) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    ):
        raise ModelError(f"{what}: shape {short(shape)} is not three positive integers (C, H, W)")
    values = padded_size(shape)
    if values > MAX_TENSOR_VALUES:
        count = f"{values:,}" if values < 1 << 64 else "more than 2^64"
        raise ModelError(
            f"{what}: shape {short(tuple(shape), 80)} has {count} values on its padded grid, above the "
            f"ceiling of {MAX_TENSOR_VALUES:,} (2^26)"
        )


def check_frac(what: str, frac: int) -> None:
    """Refuse a fraction-bit count beyond +-MAX_FRAC."""
    if not -MAX_FRAC <= frac <= MAX_FRAC:
        raise ModelError(f"{what} {short(frac)} is outside [-{MAX_FRAC}, {MAX_FRAC}]")


def check_limits(input_shape: Shape, layers: list[Layer]) -> None:
    """Refuse a model beyond the ceilings at the top of this module, before anything is sized from it: layer
    count, names, tensor shapes, windows, shifts, fractions, weights per layer and parameters in all."""
    if len(layers) > MAX_LAYERS:
        raise ModelError(f"the model has {len(layers):,} layers, above the ceiling of {MAX_LAYERS}")
    check_shape("the model input", input_shape)
    params = 0
    for layer in layers:
        check_name("layer", layer.name)
        where = f"layer {layer.name}"
        check_shape(f"{where} in_shape", layer.in_shape)
        check_shape(f"{where} out_shape", layer.out_shape)
        for name in ("kernel", "stride", "padding", "kernel_w", "stride_w"):
            if getattr(layer, name) > MAX_KERNEL:
                raise ModelError(
                    f"{where}: {name} {short(getattr(layer, name))} is above the ceiling of {MAX_KERNEL}"
                )
        if len(layer.extra_sources) >= MAX_SOURCES:
            raise ModelError(
                f"{where}: reads {len(layer.sources)} sources, above the ceiling of {MAX_SOURCES}"
            )
        if not 1 <= layer.groups <= layer.in_shape[0]:
            raise ModelError(
                f"{where}: groups {short(layer.groups)} is outside [1, {layer.in_shape[0]}], "
                "its input channels"
            )
        for name in ("shift", "residual_shift"):
            if getattr(layer, name) > MAX_SHIFT_FIELD:
                raise ModelError(
                    f"{where}: {name} {short(getattr(layer, name))} is above the ceiling of {MAX_SHIFT_FIELD}"
                )
        check_frac(f"{where}: weight_frac", layer.weight_frac)
        check_frac(f"{where}: out_frac", layer.out_frac)
        shape = layer.weight_shape
        if shape is not None:
            weights = math.prod(shape)
            if weights > MAX_LAYER_WEIGHTS:
                raise ModelError(
                    f"{where}: {weights:,} weights, above the ceiling of {MAX_LAYER_WEIGHTS:,} "
                    "(2^26) per layer"
                )
            params += weights + layer.out_shape[0]
    if params > MAX_MODEL_PARAMS:
        raise ModelError(
            f"the model has {params:,} parameters, above the ceiling of {MAX_MODEL_PARAMS:,} (2^28)"
        )


def activation_range(layer: Layer) -> tuple[int, int]:
    """The value range (lo, act_max) of a requantizing layer's y; ModelError for activation "none"."""
    if layer.activation not in ACTIVATION_RANGE:
        raise ModelError(f"layer {layer.name}: activation {layer.activation!r} has no bounded output")
    return ACTIVATION_RANGE[layer.activation][0], layer.act_max


def clamp_activation(activation: str) -> str:
    """The clamp activation whose outputs span the same range: relu for sigmoid (both from 0), else itself;
    what a max pool, which outputs values of its source, takes."""
    return "relu" if activation == "sigmoid" else activation


def value_range(layers: list[Layer], ref: int) -> tuple[int, int]:
    """Range of the y tensor produced by layer ``ref`` (-1: the model input)."""
    return INPUT_RANGE if ref == -1 else activation_range(layers[ref])


def input_range(layers: list[Layer], layer: Layer) -> tuple[int, int]:
    """Range of a layer's input: the union of its sources' ranges (upsampling copies values)."""
    ranges = [value_range(layers, ref) for ref in layer.sources]
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def source_views(input_shape: Shape, layers: list[Layer], layer: Layer) -> list[Shape]:
    """The shape of each of the layer's sources as it reads it: (C, f*H, f*W) for upsampling factor f."""
    views = []
    for ref, factor in zip(layer.sources, layer.factors, strict=True):
        c, h, w = input_shape if ref == -1 else layers[ref].out_shape
        views.append((c, factor * h, factor * w))
    return views


def channel_offsets(views: list[Shape]) -> list[int]:
    """Where each source's channels start in the concatenation (one more entry: the total)."""
    offsets = [0]
    for c, _, _ in views:
        offsets.append(offsets[-1] + c)
    return offsets


def is_pow2(n: int) -> bool:
    """True when n is a positive power of two (1 included)."""
    return n >= 1 and n & (n - 1) == 0


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: (size + 2*padding - kernel) // stride + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def expected_out_shape(layer: Layer) -> Shape:
    """The out_shape implied by the layer's kind, in_shape, kernel/stride/padding and out channels."""
    return rules_of(layer).out_shape(layer)


def check_no_window(layer: Layer) -> None:
    """Refuse a kernel, stride or padding on a kind that takes none (it maps the whole input at once)."""
    if (layer.kernel, layer.stride, layer.padding) != (1, 1, 0):
        raise ModelError(f"layer {layer.name}: {layer.kind} takes no kernel, stride or padding")
    check_no_groups(layer)
    check_square_window(layer)


def check_square_window(layer: Layer) -> None:
    """Refuse the probe-grid fields (a kernel width or stride of its own, border rules) on a kind whose
    window is square and zero-padded."""
    for name in WINDOW_FIELDS:
        if getattr(layer, name) != OPTIONAL_DEFAULTS[name]:
            raise ModelError(f"layer {layer.name}: {layer.kind} takes no {name}")


def check_sigmoid_fields(layer: Layer) -> None:
    """q_frac belongs to sigmoid layers alone, within the range the sigmoid's table is defined for."""
    where = f"layer {layer.name}"
    low, high = sigmoid.Q_FRAC_RANGE
    if layer.activation != "sigmoid" and layer.q_frac != 0:
        raise ModelError(f"{where}: activation {layer.activation!r} takes no q_frac")
    if not low <= layer.q_frac <= high:
        raise ModelError(f"{where}: sigmoid q_frac {short(layer.q_frac)} is outside [{low}, {high}]")


def check_sigmoid_scales(input_frac: int, layers: list[Layer]) -> None:
    """An integer model's sigmoid layers: out_frac in [0, 7], act_max = min(2^out_frac, 127), and q_frac the
    accumulator's fraction less the shift (what the fractions say q's scale is).  A float model's layers
    carry no scales yet, so only integer models (``Model``, compiled folders) are checked."""
    for layer in layers:
        if layer.activation != "sigmoid":
            continue
        where = f"layer {layer.name}"
        if not 0 <= layer.out_frac <= sigmoid.MAX_OUT_FRAC:
            raise ModelError(
                f"{where}: sigmoid needs out_frac in [0, {sigmoid.MAX_OUT_FRAC}], got {short(layer.out_frac)}"
            )
        if layer.act_max != sigmoid.act_max_for(layer.out_frac):
            raise ModelError(
                f"{where}: sigmoid at out_frac {layer.out_frac} needs act_max "
                f"{sigmoid.act_max_for(layer.out_frac)}, got {layer.act_max}"
            )
        in_frac = input_frac if layer.source == -1 else layers[layer.source].out_frac
        scale = in_frac + layer.weight_frac + rules_of(layer).scale_bits(layer) - layer.shift
        if layer.q_frac != scale:
            raise ModelError(
                f"{where}: sigmoid q_frac {layer.q_frac} differs from its accumulator's fraction less the "
                f"shift, {scale}"
            )


def check_no_groups(layer: Layer) -> None:
    """Refuse a group count on a kind that does not split its channels into groups."""
    if layer.groups != 1:
        raise ModelError(f"layer {layer.name}: {layer.kind} takes no groups")


def validate_layers(input_shape: Shape, layers: list[Layer]) -> None:
    """Check the architecture is consistent (names, kinds, wiring, shapes); ModelError names the layer."""
    if not layers:
        raise ModelError("the model has no layers")
    check_limits(input_shape, layers)
    seen: set[str] = set()
    for index, layer in enumerate(layers):
        where = f"layer {layer.name}"
        if not layer.name or layer.name in seen:
            raise ModelError(f"{where}: layer names must be non-empty and unique")
        seen.add(layer.name)
        if layer.kind not in registry():
            raise ModelError(
                f"{where}: unknown kind {short(layer.kind)} (expected one of {', '.join(registry())})"
            )
        if layer.activation not in ACTIVATIONS:
            raise ModelError(f"{where}: unknown activation {short(layer.activation)}")
        if layer.activation == "none" and index != len(layers) - 1:
            raise ModelError(f"{where}: activation 'none' is allowed on the last layer only")
        if layer.activation == "none" and layer.shift != 0:
            raise ModelError(f"{where}: activation 'none' does not requantize, so shift must be 0")
        if layer.activation == "none" and layer.act_max != DEFAULT_ACT_MAX:
            raise ModelError(f"{where}: activation 'none' takes no act_max")
        low = ACTIVATION_RANGE.get(layer.activation, (0, 0))[0]
        if layer.activation != "none" and not low <= layer.act_max <= DEFAULT_ACT_MAX:
            raise ModelError(f"{where}: act_max {layer.act_max} is outside [{low}, {DEFAULT_ACT_MAX}]")
        check_sigmoid_fields(layer)
        if layer.shift < 0 or layer.residual_shift < 0:
            raise ModelError(f"{where}: shifts must be >= 0")
        _check_sources(input_shape, layers, index)
        if layer.kernel < 1 or layer.stride < 1 or layer.padding < 0:
            raise ModelError(f"{where}: kernel and stride must be >= 1 and padding >= 0")
        rules_of(layer).validate(layers, index)
        expected = expected_out_shape(layer)
        if min(expected) < 1 or tuple(layer.out_shape) != expected:
            raise ModelError(f"{where}: out_shape {layer.out_shape} does not match the computed {expected}")
        if layer.residual is not None:
            if not 0 <= layer.residual < index:
                raise ModelError(f"{where}: residual {layer.residual} does not point to an earlier layer")
            if layers[layer.residual].out_shape != layer.out_shape:
                raise ModelError(
                    f"{where}: residual source {layers[layer.residual].name} has shape "
                    f"{layers[layer.residual].out_shape}, not {layer.out_shape}"
                )
        elif layer.residual_shift != 0:
            raise ModelError(f"{where}: residual_shift without a residual")
    for layer in layers:
        for ref in layer.reads:
            if ref >= 0 and not layers[ref].requantized:
                raise ModelError(f"layer {layer.name}: reads {layers[ref].name}, whose activation is 'none'")


def _check_sources(input_shape: Shape, layers: list[Layer], index: int) -> None:
    """Every source an earlier tensor, one upsampling factor of 1 or 2 per source, several sources only for
    a kind that concatenates them, and in_shape the (upsampled) concatenation of their shapes."""
    layer = layers[index]
    where = f"layer {layer.name}"
    for ref in layer.sources:
        if not isinstance(ref, int) or not -1 <= ref < index:
            raise ModelError(f"{where}: source {short(ref)} is not an earlier layer or the input (-1)")
    if layer.upsample and len(layer.upsample) != len(layer.sources):
        raise ModelError(
            f"{where}: upsample lists {len(layer.upsample)} factors for {len(layer.sources)} sources"
        )
    for factor in layer.upsample:
        if factor not in UPSAMPLE_FACTORS:
            raise ModelError(f"{where}: upsample factor {short(factor)} is not 1 or 2")
    if layer.upsample == (1,) * len(layer.sources):
        raise ModelError(f"{where}: upsample factors all 1 must be left unset")
    views = source_views(input_shape, layers, layer)
    rule = rules_of(layer).source_rule
    if len(views) > 1 and rule == "one":
        raise ModelError(f"{where}: {layer.kind} reads one source, not {len(views)}")
    if len(views) > 1 and rule == "broadcast":
        c, h, w = views[0]
        for ref, view in zip(layer.sources[1:], views[1:], strict=True):
            if view not in ((c, 1, 1), (1, h, w)):
                name = "the input" if ref == -1 else layers[ref].name
                raise ModelError(
                    f"{where}: gate {name} has shape {view}, neither ({c}, 1, 1) nor (1, {h}, {w})"
                )
        views = views[:1]
    if len(views) > 1:
        for ref, view in zip(layer.sources, views, strict=True):
            if view[1:] != views[0][1:]:
                name = "the input" if ref == -1 else layers[ref].name
                raise ModelError(
                    f"{where}: source {name} is {view[1]}x{view[2]} as read, not "
                    f"{views[0][1]}x{views[0][2]}: concatenated sources must agree in H and W"
                )
    expected = (channel_offsets(views)[-1], *views[0][1:])
    if tuple(layer.in_shape) != expected:
        what = "its source's" if len(views) == 1 else "its sources' concatenation"
        raise ModelError(f"{where}: in_shape {layer.in_shape} differs from {what} {expected}")


def last_uses(layers: list[Layer]) -> dict[int, int]:
    """For the input (-1) and every layer: the index of the last layer reading its output (itself if none)."""
    last = {index: index for index in range(-1, len(layers))}
    for index, layer in enumerate(layers):
        for ref in layer.reads:
            last[ref] = index
    return last


@dataclass(frozen=True)
class RowBlock:
    """Rows [start, stop) of another layer's weights (a block of its output channels, ``model.tiling``),
    read from that source on each access, so a memory-mapped file stays mapped and unread."""

    source: np.ndarray | Path
    start: int
    stop: int


WeightSource = np.ndarray | Path | RowBlock | None
"""An in-memory array, a path to a .npy file opened memory-mapped on each access, a block of rows of
either, or None (pools)."""


@dataclass(eq=False)
class Model:
    """An integer model: architecture plus int8 weights and int64 biases, indexed by layer.

    ``weights[i]`` is an array or the path of a .npy file (loaded with ``mmap_mode="r"`` on each access, so a
    compiled model never holds its weights in RAM); ``biases[i]`` is an int64 array.  Pools hold None.
    """

    name: str
    input_shape: Shape
    input_frac: int
    layers: list[Layer]
    weights: list[WeightSource] = field(repr=False)
    biases: list[np.ndarray | None] = field(repr=False)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)
        check_name("model", self.name)
        check_frac("input_frac", self.input_frac)
        validate_layers(self.input_shape, self.layers)
        if len(self.weights) != len(self.layers) or len(self.biases) != len(self.layers):
            raise ModelError(f"model {self.name}: weights/biases lists do not match the number of layers")
        for index, layer in enumerate(self.layers):
            weight, bias = self.weights[index], self.biases[index]
            if not layer.has_weights:
                if weight is not None or bias is not None:
                    raise ModelError(f"layer {layer.name}: {layer.kind} layers have no weights")
                continue
            if weight is None or bias is None:
                raise ModelError(f"layer {layer.name}: weights or bias missing")
            if isinstance(weight, np.ndarray):
                _check_array(layer, "weight", weight, np.int8, layer.weight_shape)
            _check_array(layer, "bias", bias, np.int64, (layer.out_shape[0],))
        check_sigmoid_scales(self.input_frac, self.layers)

    def weight(self, index: int) -> np.ndarray:
        """The int8 weight array of layer ``index`` (memory-mapped for a model loaded from disk)."""
        source = self.weights[index]
        if source is None:
            raise ModelError(f"layer {self.layers[index].name} ({self.layers[index].kind}) has no weights")
        if isinstance(source, RowBlock):
            return self._array(index, source.source)[source.start : source.stop]
        return self._array(index, source)

    def _array(self, index: int, source: np.ndarray | Path) -> np.ndarray:
        """A weight source's whole array: as it is, or its file opened memory-mapped."""
        if isinstance(source, Path):
            try:  # checked by compiled.load, but the file may have been removed or cut short since
                return load_npy(source, mmap_mode="r")
            except (OSError, ValueError, EOFError) as exc:
                reason = getattr(exc, "strerror", None) or short(str(exc), 80)
                name = self.layers[index].name
                raise ModelError(f"layer {name}: cannot read its weight file {source} ({reason})") from None
        return source

    def bias(self, index: int) -> np.ndarray:
        """The int64 bias of layer ``index`` at the accumulator scale 2^-(in_frac + weight_frac)."""
        bias = self.biases[index]
        if bias is None:
            raise ModelError(f"layer {self.layers[index].name} ({self.layers[index].kind}) has no bias")
        return bias

    def in_frac(self, index: int) -> int:
        """Fraction bits of layer ``index``'s input: its source's out_frac, or the model's input_frac."""
        source = self.layers[index].source
        return self.input_frac if source == -1 else self.layers[source].out_frac

    @property
    def outputs(self) -> tuple[int, ...]:
        """Indices of the layers whose outputs the model returns: always just the last layer."""
        return (len(self.layers) - 1,)

    @property
    def num_params(self) -> int:
        """Total number of weights and biases."""
        return sum(layer.num_params for layer in self.layers)

    @property
    def num_macs(self) -> int:
        """Multiply-accumulates of one inference (conv2d and dense only)."""
        return sum(layer.num_macs for layer in self.layers)

    @property
    def largest_activation(self) -> int:
        """Number of values of the largest tensor (the input included)."""
        sizes = [math.prod(layer.out_shape) for layer in self.layers]
        return max([math.prod(self.input_shape)] + sizes)

    def header(self) -> dict:
        """The manifest header that the digest covers (everything but file names and the digest)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "input_frac": self.input_frac,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def weight_arrays(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield (index, weight, bias) for each weighted layer in order, one layer in memory at a time."""
        for index, layer in enumerate(self.layers):
            if layer.has_weights:
                yield index, self.weight(index), self.bias(index)

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the manifest header and every weight/bias array (order in the module docstring)."""
        if self._digest is None:
            hasher = hashlib.sha256(b"edgeprove-model\x00")
            _absorb(hasher, canonical_json(self.header()))
            for _, weight, bias in self.weight_arrays():
                _absorb(hasher, np.ascontiguousarray(weight, dtype=np.int8))
                _absorb(hasher, np.ascontiguousarray(bias, dtype="<i8"))
            self._digest = hasher.hexdigest()
        return self._digest


def canonical_json(data: dict) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces) used for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _absorb(hasher, data: bytes | np.ndarray) -> None:
    """Feed a length-prefixed byte string (or an array's raw bytes) into the hash."""
    view = memoryview(data).cast("B") if isinstance(data, np.ndarray) else memoryview(data)
    hasher.update(len(view).to_bytes(8, "little"))
    hasher.update(view)


def _check_array(layer: Layer, what: str, array: np.ndarray, dtype, shape) -> None:
    """Refuse an array whose dtype or shape does not match the layer."""
    if array.dtype != np.dtype(dtype) or tuple(array.shape) != tuple(shape):
        raise ModelError(
            f"layer {layer.name}: {what} is {array.dtype}{list(array.shape)}, "
            f"expected {np.dtype(dtype)}{list(shape)}"
        )
