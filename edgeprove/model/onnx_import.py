"""Compile a float ONNX model (opsets 13-18) to the integer IR, and report its agreement with onnxruntime.

The graph is walked once in its (topological) node order.  Every weighted or pooling node opens an IR
layer; the nodes after it are folded into that layer while its accumulator is still open: BatchNormalization
(into the preceding Conv or Gemm's weights and bias), Add of a constant (bias), Add of an earlier layer's
output of the same shape (the layer's ``residual``), and finally Relu or Clip(0, c) (activation relu, float
clip c; ReLU6 is c = 6) or Sigmoid (activation sigmoid).  A layer whose open accumulator is read by anything
else is closed as "clamp" (the identity in float, int8 saturation in the integer model; "relu" for an average
pool of relu or sigmoid outputs); the graph's output layer, if still open, keeps its accumulator
(activation "none").  Where an activation or a residual add meets an already closed tensor, an identity
layer (an average pool of kernel 1) carries it.  Flatten, Reshape (static, to a vector or back to the
tensor's own shape), Identity and Dropout only relabel tensors.  A maxpool keeps its source's activation and
range (see ``edgeprove.model.ir``; relu after a sigmoid).  Concat along channels and a nearest 2x Resize
compute nothing: they record which tensors (each upsampled or not) are read: a Conv takes them as its sources
(``extra_sources``, ``upsample``), a GlobalAveragePool averages each (a 1x1 Conv then reads the means as a
chain of partial sums), and a Mul gates each; anything else reading them is refused.  Mul of a tensor by a
per-channel or per-pixel gate is a pending gated product (its gate a relu or sigmoid layer), and an Add of two
products of the same tensor sums their gates, so scSE's x * g_c + x * g_s is one gated_mul layer per part.
A GlobalAveragePool of a plane too large to average at once first averages power-of-two windows.

The float model is then quantized (``edgeprove.model.quantize``) on the calibration inputs, or on seeded
random ones, and both the float interpretation and the integer model are compared with onnxruntime on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprove.layers.avgpool import mean_window
from edgeprove.model import compiled, npy
from edgeprove.model.bounds import LayerBounds
from edgeprove.model.ir import (
    MAX_CALIBRATION_VALUES,
    MAX_LAYER_WEIGHTS,
    MAX_LAYERS,
    MAX_MODEL_PARAMS,
    MAX_NAME_CHARS,
    MAX_ONNX_BYTES,
    MAX_ONNX_NODES,
    MAX_SOURCES,
    Layer,
    Model,
    ModelError,
    Shape,
    check_shape,
    clamp_activation,
    expected_out_shape,
    short,
)
from edgeprove.model.kinds import registry
from edgeprove.model.quantize import (
    DEFAULT_CALIBRATION_INPUTS,
    FloatModel,
    QuantizationReport,
    agreement_label,
    class_agreement,
    quantize,
    random_calibration,
)

OPSET_MIN, OPSET_MAX = 13, 18
SUPPORTED_OPS = (
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "Clip",
    "Sigmoid",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "BatchNormalization",
    "Identity",
    "Dropout",
    "Constant",
    "Concat",
    "Resize",
    "Mul",
)
FLOAT_TOLERANCE = 1e-3
"""Largest relative difference allowed between the imported float model and onnxruntime (float32 noise)."""
UNSUPPORTED_LISTED = 20
"""Unsupported nodes named in the error line (the rest are counted)."""
REPORT_FILE = "import.json"
"""The import report written next to a compiled folder made from an ONNX file."""
CACHE_SUBDIR = "onnx"


@dataclass(frozen=True)
class ImportReport:
    """Agreement of the compiled integer model with onnxruntime's float output on the calibration inputs."""

    source: str
    calibration: str
    num_inputs: int
    top1_agreement: float
    max_abs_error: float
    max_abs_output: float
    float_max_abs_diff: float
    layers: int
    params: int
    digest: str
    logit_correlation: float | None = None
    """Pearson correlation of the integer model's dequantized outputs with onnxruntime's, over every output
    of every calibration input (None when there is one value): with random weights a classifier's logits
    are nearly equal, so top-1 says little and this says how well the outputs follow."""
    agreement_per: str = "input"
    """What top1_agreement counts: one class decision per "input", or per "pixel" of a segmentation map."""

    def summary(self) -> str:
        """One line for people: agreement with onnxruntime, error and what the calibration inputs were."""
        correlation = "" if self.logit_correlation is None else f", correlation {self.logit_correlation:.4f}"
        return (
            f"against onnxruntime: {agreement_label(self.agreement_per)} {self.top1_agreement:.1%}, max abs "
            f"error {self.max_abs_error:.4g} (outputs up to {self.max_abs_output:.4g}){correlation} on "
            f"{self.calibration}"
        )


@dataclass
class ImportResult:
    """The integer model, the agreement with onnxruntime, the quantizer's own report and static bounds."""

    model: Model
    report: ImportReport
    quantization: QuantizationReport
    bounds: list[LayerBounds]


@dataclass
class _Open:
    """A layer under construction: float architecture, float parameters and its fold state."""

    layer: Layer
    weight: np.ndarray | None
    bias: np.ndarray | None
    version: int = 0
    closed: bool = False
    clip: float | None = None


@dataclass(frozen=True)
class _Value:
    """An ONNX tensor as the output of IR layer ``layer`` (-1: the model input) at fold state ``version``,
    seen with the ONNX shape ``dims`` (batch axis included)."""

    layer: int
    version: int
    dims: tuple[int, ...]


@dataclass(frozen=True)
class _Joined:
    """The output of Concat (along channels) and nearest 2x Resize nodes: tensors not computed by a layer of
    their own but read by the next Conv as its sources, each with its upsampling factor."""

    parts: tuple[tuple[_Value, int], ...]
    dims: tuple[int, ...]


@dataclass(frozen=True)
class _Means:
    """GlobalAveragePool of a Concat: one mean layer per part (a part read upsampled has its source's mean),
    read by a 1x1 Conv as a chain of partial sums, one per part, so each mean keeps its own scale."""

    parts: tuple[_Value, ...]
    dims: tuple[int, ...]


@dataclass(frozen=True)
class _Gated:
    """x times the sum of gates, not yet built: one gated_mul layer per part of x (each read upsampled by its
    factor), with that part's gates (a per-channel gate split by the parts' channels), built when read, so
    that scSE's x * g_c + x * g_s becomes one product x * (g_c + g_s) per part."""

    parts: tuple[tuple[_Value, int], ...]
    gates: tuple[tuple[int, ...], ...]
    dims: tuple[int, ...]
    name: str


NEAREST_FLOOR = {
    ("asymmetric", "floor"),
    ("asymmetric", "round_prefer_floor"),
    ("half_pixel", "round_prefer_floor"),
    ("half_pixel", "round_prefer_ceil"),
    ("pytorch_half_pixel", "round_prefer_floor"),
    ("pytorch_half_pixel", "round_prefer_ceil"),
}
"""Resize coordinate modes and nearest-rounding modes under which a 2x nearest upsampling reads input
position floor(i / 2) (PyTorch's F.interpolate(scale_factor=2, mode="nearest") exports the first)."""


def _onnx():
    """The onnx package, or ModelError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ModelError("ONNX import needs the onnx package: pip install 'edgeprove[onnx]'") from None
    return onnx


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none), cut short."""
    text = str(exc).strip()
    if not text:
        return exc.__class__.__name__
    line = text.splitlines()[0]
    return line if len(line) <= 120 else line[:119] + "…"


def check_onnx_file(path: str | Path):
    """Parse an ONNX file without its external data and check it before any tensor data is loaded: a regular
    file of at most MAX_ONNX_BYTES, opset 13-18, and every tensor within the IR's weight ceilings, its
    external data (if any) inside the model's folder and exactly the bytes its shape and type declare."""
    onnx = _onnx()
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not an ONNX file")
    if not path.exists():
        raise ModelError(f"{path}: no such ONNX file")
    if not path.is_file():
        raise ModelError(f"{path}: not a regular file, not an ONNX file")
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise ModelError(f"{path}: {size:,} bytes, above the ceiling of {MAX_ONNX_BYTES:,} for an ONNX file")
    try:
        proto = onnx.ModelProto()
        proto.ParseFromString(_read_bounded(path))
    except ModelError:
        raise
    except Exception as exc:  # the protobuf errors have no common base class
        raise ModelError(f"{path}: not a readable ONNX model ({_reason(exc)})") from None
    if not proto.graph.node:
        raise ModelError(f"{path}: not a readable ONNX model (the graph has no nodes)")
    if len(proto.graph.node) > MAX_ONNX_NODES:
        raise ModelError(
            f"{path}: the graph has {len(proto.graph.node):,} nodes, above the ceiling of {MAX_ONNX_NODES:,}"
        )
    if proto.functions:
        raise ModelError(f"{path}: model-local functions are not supported")
    _check_nodes(proto, path)
    opsets = {entry.domain or "ai.onnx": entry.version for entry in proto.opset_import}
    opset = opsets.get("ai.onnx")
    if opset is None or not OPSET_MIN <= opset <= OPSET_MAX:
        raise ModelError(f"{path}: ONNX opset {opset} is not supported (opsets {OPSET_MIN}-{OPSET_MAX})")
    total = 0
    for tensor in _tensors(proto.graph):
        total += _check_tensor(onnx, tensor, path)
        if total > MAX_MODEL_PARAMS:
            raise ModelError(f"{path}: the model's tensors hold more than {MAX_MODEL_PARAMS:,} (2^28) values")
    return proto


def _read_bounded(path: Path) -> bytearray:
    """The file's bytes, at most MAX_ONNX_BYTES, read without blocking into one buffer of the size the file
    reports (grown only for a file that reports none, such as a /proc file): a file whose size the kernel
    does not know can neither stall nor flood the import."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            buffer = bytearray(min(os.fstat(descriptor).st_size, MAX_ONNX_BYTES) + 1)
            view, filled = memoryview(buffer), 0
            while count := os.readv(descriptor, [view[filled:]]):
                filled += count
                if filled > MAX_ONNX_BYTES:
                    raise ModelError(f"{path}: above the ceiling of {MAX_ONNX_BYTES:,} bytes for ONNX")
                if filled == len(buffer):
                    view.release()
                    buffer.extend(bytes(min(len(buffer), MAX_ONNX_BYTES + 1 - len(buffer)) or 1))
                    view = memoryview(buffer)
            view.release()
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({exc.strerror})") from None
    del buffer[filled:]
    return buffer


def _check_nodes(proto, path: Path) -> None:
    """Every node and tensor name the import reads is text (protobuf hands back bytes for a string that is
    not UTF-8), and no node holds a subgraph (control flow is not supported, and its nodes would escape the
    node ceiling)."""
    for position, node in enumerate(proto.graph.node):
        names = [node.name, node.op_type, node.domain, *node.input, *node.output]
        names += [attribute.name for attribute in node.attribute]
        if not all(isinstance(name, str) for name in names):
            raise ModelError(f"{path}: not a readable ONNX model (a node's names are not UTF-8 text)")
        if any(attribute.HasField("g") or attribute.graphs for attribute in node.attribute):
            raise ModelError(
                f"{path}: node {_node_label(node, position)} holds a subgraph; control flow is not supported"
            )
    for tensor in _tensors(proto.graph):
        texts = [tensor.name, *(entry.key for entry in tensor.external_data)]
        texts += [entry.value for entry in tensor.external_data]
        if not all(isinstance(text, str) for text in texts):
            raise ModelError(f"{path}: not a readable ONNX model (a tensor's names are not UTF-8 text)")


def _tensors(graph):
    """Every TensorProto of a graph that the ONNX loader could fill from external data: initializers and
    node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _check_tensor(onnx, tensor, path: Path) -> int:
    """The number of values of an ONNX tensor, refusing one beyond MAX_LAYER_WEIGHTS, of a type without a
    fixed size, or whose external data is not exactly its bytes in a regular file in the model's folder."""
    where = f"{path}: tensor {short(tensor.name)}"
    if any(dim < 0 for dim in tensor.dims):
        raise ModelError(f"{where} has a negative dimension")
    count = math.prod(tensor.dims)
    if count > MAX_LAYER_WEIGHTS:
        raise ModelError(f"{where} has {count:,} values, above the ceiling of {MAX_LAYER_WEIGHTS:,} (2^26)")
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return count
    try:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 0
    if not itemsize or tensor.data_type == onnx.TensorProto.STRING:
        raise ModelError(f"{where}: external data of type {tensor.data_type} is not supported")
    entries = {entry.key: entry.value for entry in tensor.external_data}
    if len(entries) != len(tensor.external_data):
        raise ModelError(f"{where}: an external data entry is repeated")
    location = entries.get("location", "")
    relative = Path(location)
    data = path.parent / relative
    unreadable = (
        f"{path}: not a readable ONNX model (external data {short(location)} of tensor {short(tensor.name)}"
    )
    if not location or relative.is_absolute() or ".." in relative.parts:
        raise ModelError(f"{unreadable}: the location must be a file beside the model)")
    try:
        if not compiled.real_path(data).is_relative_to(compiled.real_path(path.parent)):
            raise ModelError(f"{unreadable}: a symbolic link out of the model's folder)")
        if not data.is_file():
            missing = not (data.exists() or data.is_symlink())
            raise ModelError(f"{unreadable}: {'no such file' if missing else 'not a regular file'})")
    except ModelError:
        raise
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop of links
        raise ModelError(f"{unreadable}: {getattr(exc, 'strerror', None) or exc})") from None
    try:
        offset = int(entries.get("offset", 0))
        length = int(entries["length"]) if "length" in entries else None
    except ValueError:
        raise ModelError(f"{unreadable}: malformed offset or length)") from None
    available = data.stat().st_size - offset
    expected = count * itemsize
    if data.stat().st_size > MAX_ONNX_BYTES:
        raise ModelError(f"{unreadable}: the file is above the ceiling of {MAX_ONNX_BYTES:,} bytes)")
    if offset < 0 or (length if length is not None else available) != expected or available < expected:
        raise ModelError(f"{unreadable}: {expected:,} bytes expected at offset {offset:,})")
    return count


def load_onnx(path: str | Path):
    """Parse an ONNX file with its external data (relative to its folder), after ``check_onnx_file``; tensors
    no node reads are dropped first, so they are never loaded (a file may name gigabytes it does not use)."""
    proto = check_onnx_file(path)
    _drop_unused_initializers(proto.graph)
    try:
        _onnx().external_data_helper.load_external_data_for_model(proto, str(Path(path).parent))
    except Exception as exc:  # the external-data errors have no common base class
        raise ModelError(f"{path}: not a readable ONNX model ({_reason(exc)})") from None
    return proto


def _drop_unused_initializers(graph) -> None:
    """Remove the initializers no node or graph output reads, and their graph inputs (older exporters list
    initializers among the inputs)."""
    read = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    unused = {init.name for init in graph.initializer} - read
    if not unused:
        return
    kept = [init for init in graph.initializer if init.name not in unused]
    inputs = [value for value in graph.input if value.name not in unused]
    del graph.initializer[:], graph.input[:]
    graph.initializer.extend(kept)
    graph.input.extend(inputs)


def _node_label(node, position: int) -> str:
    """How an error names a node: its name, or its position and type when it has none."""
    return short(node.name) if node.name else f"#{position} ({_op_name(node)})"


def _op_name(node) -> str:
    """A node's operator as 'OpType' or 'domain.OpType', as a short repr when it is not a plain name."""
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    return op if re.fullmatch(r"[A-Za-z0-9_.]{1,60}", op) else short(op)


def unsupported_nodes(proto) -> list[str]:
    """Every node whose operator the importer does not handle, as 'OpType (node name)'."""
    bad = []
    for position, node in enumerate(proto.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            bad.append(f"{_op_name(node)} (node {_node_label(node, position)})")
    return bad


class _Builder:
    """Walks an ONNX graph and builds the float IR layers, their parameters and their float clips."""

    def __init__(self, proto, name: str) -> None:
        self.onnx = _onnx()
        self.graph = proto.graph
        opsets = {entry.domain or "ai.onnx": entry.version for entry in proto.opset_import}
        self.opset = opsets.get("ai.onnx", OPSET_MAX)
        self.name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:MAX_NAME_CHARS] or "onnx_model"
        self.constants: dict[str, np.ndarray] = {
            init.name: self._array(init) for init in self.graph.initializer
        }
        self.values: dict[str, _Value] = {}
        self.joined: dict[str, _Joined] = {}
        self.means: dict[str, _Means] = {}
        self.gated: dict[str, _Gated] = {}
        self.readers: dict[str, int] = {}
        """How many node inputs (and graph outputs) read each tensor."""
        for name in [i for n in self.graph.node for i in n.input] + [o.name for o in self.graph.output]:
            self.readers[name] = self.readers.get(name, 0) + 1
        self.open: list[_Open] = []
        self.names: set[str] = set()
        self.input_name, self.input_dims, self.input_shape = self._graph_input()
        self.values[self.input_name] = _Value(-1, 0, self.input_dims)

    def _array(self, tensor) -> np.ndarray:
        """A TensorProto as numpy: floating types as float64, integer types unchanged (its size was checked by
        ``check_onnx_file``)."""
        try:
            array = self.onnx.numpy_helper.to_array(tensor)
        except Exception as exc:  # onnx raises ValueError, TypeError or its own errors for malformed data
            raise ModelError(f"tensor {short(tensor.name)}: malformed data ({_reason(exc)})") from None
        if array.dtype.kind not in "fiu":
            raise ModelError(f"tensor {short(tensor.name)}: holds {array.dtype} values, not numbers")
        return array.astype(np.float64) if array.dtype.kind == "f" else array

    # ----- graph input and output

    def _graph_input(self) -> tuple[str, tuple[int, ...], Shape]:
        """The single non-initializer graph input: name, ONNX dims (batch 1) and IR shape (C, H, W)."""
        inputs = [inp for inp in self.graph.input if inp.name not in self.constants]
        if len(inputs) != 1:
            raise ModelError(f"the graph has {len(inputs)} inputs; exactly one is supported")
        inp = inputs[0]
        tensor = inp.type.tensor_type
        if tensor.elem_type != self.onnx.TensorProto.FLOAT:
            raise ModelError(f"input {short(inp.name)}: only float32 inputs are supported")
        dims = list(tensor.shape.dim)
        if len(dims) not in (2, 4):
            raise ModelError(
                f"input {short(inp.name)}: rank {len(dims)}; expected (N, C, H, W) or (N, features)"
            )
        if dims[0].HasField("dim_value") and dims[0].dim_value != 1:
            raise ModelError(
                f"input {short(inp.name)}: batch size {dims[0].dim_value}; expected 1 or symbolic"
            )
        sizes = [d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:]]
        if min(sizes) < 1:
            raise ModelError(f"input {short(inp.name)}: every dimension but the batch must be static")
        shape = (sizes[0], 1, 1) if len(sizes) == 1 else (sizes[0], sizes[1], sizes[2])
        check_shape(f"input {short(inp.name)}", shape)
        return inp.name, (1, *sizes), shape

    def finish(self) -> tuple[FloatModel, tuple[int, ...]]:
        """Close the walk: the float model and the ONNX dims of its output (batch axis included)."""
        outputs = list(self.graph.output)
        if len(outputs) != 1:
            raise ModelError(f"the graph has {len(outputs)} outputs; exactly one is supported")
        if outputs[0].name in self.gated:
            self._build_gated(outputs[0].name)
        value = self.values.get(outputs[0].name)
        if value is None or value.layer == -1:
            raise ModelError(f"graph output {short(outputs[0].name)} is not computed by any layer")
        if value.layer != len(self.open) - 1:
            raise ModelError(
                f"graph output {short(outputs[0].name)} is not the last layer's output "
                "(branches that do not reach the output are not supported)"
            )
        last = self.open[-1]
        if not last.closed and value.version == last.version:
            last.layer = dataclasses.replace(last.layer, activation="none")
            last.closed = True
        else:
            self._read(value, outputs[0].name)
        for entry in self.open[:-1]:
            if not entry.closed:
                self._close_without_activation(entry)
        layers = [entry.layer for entry in self.open]
        params = {i: (e.weight, e.bias) for i, e in enumerate(self.open) if e.layer.has_weights}
        clips = {i: e.clip for i, e in enumerate(self.open) if e.clip is not None}
        return FloatModel.from_arrays(self.name, self.input_shape, layers, params, clips), value.dims

    # ----- tensors

    def _const(self, name: str, where: str) -> np.ndarray:
        """A constant (initializer or Constant output) by name."""
        if name not in self.constants:
            raise ModelError(f"{where}: input {short(name)} must be a constant (an initializer)")
        return self.constants[name]

    def _value(self, name: str, where: str) -> _Value:
        """The IR value of a non-constant tensor (a pending gated product is built first)."""
        if name in self.gated:
            self._build_gated(name)
        if name in self.means:
            raise ModelError(
                f"{where}: reads the average of a Concat or Resize, which only a 1x1 Conv may read"
            )
        if name in self.joined:
            raise ModelError(
                f"{where}: reads the output of a Concat or Resize, which only a Conv (or another Concat "
                "or Resize) may read"
            )
        if name not in self.values:
            if name in self.constants:
                raise ModelError(f"{where}: constant input {short(name)} where a computed tensor is expected")
            raise ModelError(f"{where}: input {short(name)} is not produced by a supported node")
        return self.values[name]

    def _joined_or_value(self, name: str, where: str) -> _Joined:
        """A tensor as a Concat, Resize, Mul or Conv reads it: its parts (one, factor 1, for a layer's
        output)."""
        if name in self.gated:
            self._build_gated(name)
        if name in self.joined:
            return self.joined[name]
        value = self._value(name, where)
        return _Joined(((value, 1),), value.dims)

    def _read(self, value: _Value, where: str) -> int:
        """Use a value as a finished tensor (another layer's input or residual): close its layer without an
        activation if still open; refuse a tensor that was later folded into (so no longer exists as such)."""
        if value.layer == -1:
            return -1
        entry = self.open[value.layer]
        if value.version != entry.version:
            raise ModelError(
                f"{where}: reads layer {entry.layer.name} before a later operation was folded "
                "into it (the tensor is used twice)"
            )
        if not entry.closed:
            self._close_without_activation(entry)
        return value.layer

    def _close_without_activation(self, entry: _Open) -> None:
        """Close an open layer whose float output is used as it is: "relu" for an average pool of a relu or
        sigmoid output (its values are non-negative, so relu is the identity and keeps one more bit), else
        "clamp"."""
        layer = entry.layer
        pooled_relu = (
            layer.kind in ("avgpool", "global_avgpool")
            and layer.residual is None
            and layer.source >= 0
            and self.open[layer.source].layer.activation in ("relu", "sigmoid")
        )
        entry.layer = dataclasses.replace(layer, activation="relu" if pooled_relu else "clamp")
        entry.closed = True

    def _foldable(self, value: _Value) -> _Open | None:
        """The open layer whose current accumulator ``value`` is, or None."""
        if value.layer == -1:
            return None
        entry = self.open[value.layer]
        return entry if not entry.closed and value.version == entry.version else None

    def _shape_of(self, ref: int) -> Shape:
        """IR shape of the input (-1) or of a layer's output."""
        return self.input_shape if ref == -1 else self.open[ref].layer.out_shape

    def _new_layer(
        self, node_name: str, kind: str, source: int, out_channels: int, weight=None, bias=None, **window
    ) -> int:
        """Append an open layer reading ``source`` (and the ``extra_sources`` and ``upsample`` factors in
        ``window``, if any); returns its index."""
        name = self._unique_name(node_name, kind)
        in_shape = self._shape_of(source)
        if registry()[kind].source_rule == "broadcast":  # gates broadcast to x's shape as read
            factor = window["upsample"][0] if window.get("upsample") else 1
            in_shape = (in_shape[0], factor * in_shape[1], factor * in_shape[2])
        elif window.get("extra_sources") or window.get("upsample"):
            sources = (source, *window.get("extra_sources", ()))
            factors = window.get("upsample") or (1,) * len(sources)
            in_shape = (
                sum(self._shape_of(ref)[0] for ref in sources),
                factors[0] * in_shape[1],
                factors[0] * in_shape[2],
            )
        draft = Layer(
            name, kind, source, in_shape, (out_channels, 1, 1), shift=0, activation="clamp", **window
        )
        out_shape = expected_out_shape(draft)
        if min(out_shape) < 1:
            raise ModelError(f"node {short(node_name)}: window larger than its input {in_shape}")
        check_shape(f"node {short(node_name)}", out_shape)
        return self._append(dataclasses.replace(draft, out_shape=out_shape), weight, bias)

    def _unique_name(self, node_name: str, kind: str) -> str:
        """A layer name made from a node's name, unique in the model."""
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", node_name)[: MAX_NAME_CHARS - 6] or f"{kind}{len(self.open)}"
        name, suffix = base, 2
        while name in self.names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self.names.add(name)
        return name

    def _append(self, layer: Layer, weight=None, bias=None) -> int:
        """Append an open layer; returns its index."""
        if len(self.open) >= MAX_LAYERS:
            raise ModelError(f"the graph needs more than {MAX_LAYERS} layers, the ceiling")
        self.open.append(_Open(layer, weight, bias))
        return len(self.open) - 1

    def _identity(self, source: int, tag: str) -> int:
        """An identity layer (average pool of kernel 1) reading ``source``, left open."""
        return self._new_layer(
            f"{tag}_identity", "avgpool", source, self._shape_of(source)[0], kernel=1, stride=1
        )

    def _set(self, node, value: _Value) -> None:
        """Bind the node's first output to ``value``."""
        self.values[node.output[0]] = value

    # ----- the walk

    def run(self) -> None:
        """Translate every node in order."""
        for position, node in enumerate(self.graph.node):
            where = f"{node.op_type} node {_node_label(node, position)}"
            attrs = self._attributes(node, where)
            try:
                getattr(self, f"_op_{node.op_type}")(node, attrs, where)
            except ModelError:
                raise
            except (IndexError, ValueError, OverflowError) as exc:  # missing inputs, bad constants
                raise ModelError(f"{where}: malformed node ({exc})") from None

    def _attributes(self, node, where: str) -> dict:
        """The node's attributes by name, each of the type the operator's schema declares (at the model's
        opset): an INTS attribute given as one INT, a float given as a list or a value of no type would
        otherwise reach the translation as something it does not expect."""
        try:
            schema = self.onnx.defs.get_schema(node.op_type, self.opset, "")
        except self.onnx.defs.SchemaError:
            raise ModelError(f"{where}: no schema for {node.op_type} at opset {self.opset}") from None
        attrs = {}
        for attribute in node.attribute:
            spec = schema.attributes.get(attribute.name)
            if spec is None:
                raise ModelError(f"{where}: {node.op_type} has no attribute {short(attribute.name)}")
            if attribute.type != spec.type.value:
                wanted = self.onnx.AttributeProto.AttributeType.Name(spec.type.value)
                raise ModelError(f"{where}: attribute {attribute.name} must be of type {wanted}")
            if attribute.name in attrs:
                raise ModelError(f"{where}: attribute {attribute.name} is given twice")
            attrs[attribute.name] = self.onnx.helper.get_attribute_value(attribute)
        return attrs

    def _op_Constant(self, node, attrs: dict, where: str) -> None:
        """Record a tensor-valued Constant."""
        if "value" not in attrs:
            raise ModelError(f"{where}: only tensor-valued Constant nodes are supported")
        self.constants[node.output[0]] = self._array(attrs["value"])

    def _op_Identity(self, node, attrs: dict, where: str) -> None:
        """Relabel the input tensor (or constant)."""
        if node.input[0] in self.constants:
            self.constants[node.output[0]] = self.constants[node.input[0]]
        else:
            self._set(node, self._value(node.input[0], where))

    def _op_Dropout(self, node, attrs: dict, where: str) -> None:
        """Relabel the input tensor (inference: dropout is the identity)."""
        if len(node.output) > 1 and node.output[1]:
            raise ModelError(f"{where}: the dropout mask output is not supported")
        self._set(node, self._value(node.input[0], where))

    def _op_Concat(self, node, attrs: dict, where: str) -> None:
        """Join tensors along channels for the Conv that reads them (nothing is computed here)."""
        inputs = [self._joined_or_value(name, where) for name in node.input]
        rank = len(inputs[0].dims)
        if attrs.get("axis") not in (1, 1 - rank) or rank != 4:
            raise ModelError(f"{where}: only concatenation along the channels of (N, C, H, W) tensors")
        if any(len(j.dims) != 4 or j.dims[2:] != inputs[0].dims[2:] for j in inputs):
            shapes = ", ".join(str(tuple(j.dims)) for j in inputs[:4])
            raise ModelError(f"{where}: operands of shapes {shapes} differ in H or W")
        parts = tuple(part for j in inputs for part in j.parts)
        if len(parts) > MAX_SOURCES:
            raise ModelError(f"{where}: joins {len(parts)} tensors, above the ceiling of {MAX_SOURCES}")
        channels = sum(j.dims[1] for j in inputs)
        self.joined[node.output[0]] = _Joined(parts, (1, channels, *inputs[0].dims[2:]))

    def _op_Resize(self, node, attrs: dict, where: str) -> None:
        """A nearest 2x upsampling of H and W, read by the next Conv at no cost of its own."""
        joined = self._joined_or_value(node.input[0], where)
        mode = attrs.get("mode", b"nearest")
        transform = attrs.get("coordinate_transformation_mode", b"half_pixel")
        rounding = attrs.get("nearest_mode", b"round_prefer_floor")
        texts = [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in (mode, transform, rounding)
        ]
        if texts[0] != "nearest" or (texts[1], texts[2]) not in NEAREST_FLOOR:
            raise ModelError(
                f"{where}: only nearest upsampling reading floor(i / 2) is supported (mode "
                f"{short(texts[0])}, coordinate_transformation_mode {short(texts[1])}, nearest_mode "
                f"{short(texts[2])})"
            )
        if attrs.get("antialias", 0) or "axes" in attrs:
            raise ModelError(f"{where}: antialias and axes are not supported")
        dims = joined.dims
        doubled = (dims[0], dims[1], 2 * dims[2], 2 * dims[3]) if len(dims) == 4 else None
        scales = node.input[2] if len(node.input) > 2 else ""
        sizes = node.input[3] if len(node.input) > 3 else ""
        if scales:
            factor = self._const(scales, where).astype(np.float64).ravel().tolist()
            ok = doubled is not None and factor == [1.0, 1.0, 2.0, 2.0]
        elif sizes:
            target = self._const(sizes, where).ravel().tolist()
            ok = doubled is not None and [int(v) for v in target] == list(doubled)
        else:
            ok = False
        if not ok:
            raise ModelError(
                f"{where}: only a 2x upsampling of H and W of an (N, C, H, W) tensor is supported"
            )
        if any(factor != 1 for _, factor in joined.parts):
            raise ModelError(f"{where}: upsamples an upsampled tensor (only one 2x step before a Conv)")
        self.joined[node.output[0]] = _Joined(tuple((value, 2) for value, _ in joined.parts), doubled)

    def _op_Conv(self, node, attrs: dict, where: str) -> None:
        """Open a conv2d layer, or a grouped_conv2d layer for group > 1 (square kernel, one stride, equal
        pads), or a probe_conv2d layer for a non-square kernel or a stride per axis (``_probe_window``); a
        conv2d may read a Concat or Resize output (its sources, each upsampled or not), a 1x1 conv2d the
        average of one (``_means_conv``)."""
        if node.input[0] in self.means:
            self._means_conv(node, attrs, where)
            return
        joined = self._joined_or_value(node.input[0], where)
        value = joined.parts[0][0] if len(joined.parts) == 1 and joined.parts[0][1] == 1 else None
        if value is None:
            value = _Value(-2, 0, joined.dims)  # several sources: read below, once the window is checked
        weight = self._const(node.input[1], where)
        bias = self._const(node.input[2], where) if len(node.input) > 2 and node.input[2] else None
        if len(value.dims) != 4 or weight.ndim != 4:
            raise ModelError(f"{where}: only 2-D convolutions on (N, C, H, W) tensors are supported")
        out_channels, channels, kh, kw = weight.shape
        groups = attrs.get("group", 1)
        if not isinstance(groups, int) or not 1 <= groups <= value.dims[1]:
            raise ModelError(f"{where}: group {short(groups)} is not in [1, {value.dims[1]}]")
        if value.dims[1] % groups or out_channels % groups:
            raise ModelError(
                f"{where}: group {groups} does not divide the {value.dims[1]} input and {out_channels} "
                "output channels"
            )
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise ModelError(f"{where}: dilated convolutions are not supported")
        strides = list(attrs.get("strides", [1, 1]))
        if value.layer == -2 and (groups != 1 or kh != kw or len(set(strides)) > 1):
            raise ModelError(
                f"{where}: a Conv reading a Concat or Resize must be ungrouped, with a square kernel and "
                "one stride"
            )
        if groups == 1 and (kh != kw or (len(strides) == 2 and strides[0] != strides[1])):
            window = self._probe_window(attrs, kh, kw, strides, where)
            source = self._read(value, where)
            bias = self._conv_bias(bias, out_channels, where)
            index = self._new_layer(node.name, "probe_conv2d", source, out_channels, weight, bias, **window)
            self._set(node, _Value(index, 0, (1, *self.open[index].layer.out_shape)))
            return
        if kh != kw:
            raise ModelError(
                f"{where}: kernel {kh}x{kw} is not square (grouped convolutions need square ones)"
            )
        stride = self._stride(attrs, where)
        padding = self._padding(attrs, where)
        if padding >= kh:
            raise ModelError(f"{where}: padding {padding} is not smaller than the kernel {kh}")
        if channels * groups != value.dims[1]:
            raise ModelError(
                f"{where}: weight has {channels} input channels per group, the input has {value.dims[1]} "
                f"in {groups} group(s)"
            )
        window = {"kernel": kh, "stride": stride, "padding": padding}
        if value.layer == -2:
            refs = [self._read(part, where) for part, _ in joined.parts]
            factors = tuple(factor for _, factor in joined.parts)
            window["extra_sources"] = tuple(refs[1:])
            window["upsample"] = factors if any(f != 1 for f in factors) else ()
            source = refs[0]
        else:
            source = self._read(value, where)
        bias = self._conv_bias(bias, out_channels, where)
        if groups == 1:
            index = self._new_layer(node.name, "conv2d", source, out_channels, weight, bias, **window)
        else:
            index = self._new_layer(
                node.name, "grouped_conv2d", source, out_channels, weight, bias, groups=groups, **window
            )
        self._set(node, _Value(index, 0, (1, *self.open[index].layer.out_shape)))

    def _means_conv(self, node, attrs: dict, where: str) -> None:
        """A 1x1 Conv of a Concat's average: one 1x1 conv2d per part, on that part's mean with the weight's
        columns for its channels, each adding the one before as its residual (the partial sums before the
        last are closed as "clamp"); the last is left open for the activation that follows."""
        means = self.means[node.input[0]]
        weight = self._const(node.input[1], where)
        bias = self._const(node.input[2], where) if len(node.input) > 2 and node.input[2] else None
        if (
            weight.ndim != 4
            or weight.shape[1:] != (means.dims[1], 1, 1)
            or attrs.get("group", 1) != 1
            or any(
                attrs.get(key, [default] * count) != [default] * count
                for key, default, count in (("strides", 1, 2), ("dilations", 1, 2), ("pads", 0, 4))
            )
        ):
            raise ModelError(
                f"{where}: only an ungrouped, unpadded 1x1 Conv with {means.dims[1]} input channels may read "
                "the average of a Concat or Resize"
            )
        out_channels = weight.shape[0]
        bias = self._conv_bias(bias, out_channels, where)
        start, partial = 0, None
        for i, part in enumerate(means.parts):
            channels = part.dims[1]
            columns = weight[:, start : start + channels]
            index = self._new_layer(
                f"{node.name}.part{i}",
                "conv2d",
                self._read(part, where),
                out_channels,
                columns,
                bias if i == 0 else np.zeros(out_channels),
                kernel=1,
                stride=1,
                padding=0,
                residual=partial,
            )
            if partial is not None:
                self._close_without_activation(self.open[partial])
            start, partial = start + channels, index
        self._set(node, _Value(partial, 0, (1, out_channels, 1, 1)))

    @staticmethod
    def _conv_bias(bias: np.ndarray | None, out_channels: int, where: str) -> np.ndarray:
        """The convolution's bias, zeros when it has none."""
        if bias is not None and bias.size != out_channels:
            raise ModelError(f"{where}: bias has {bias.size} values for {out_channels} output channels")
        return np.zeros(out_channels) if bias is None else bias.reshape(out_channels)

    def _probe_window(self, attrs: dict, kh: int, kw: int, strides: list, where: str) -> dict:
        """The fields of a probe_conv2d layer for a Conv with a non-square kernel or a stride per axis: odd
        kernels centred by pads K // 2 on each side (zero borders), positive strides."""
        if len(strides) != 2 or min(strides) < 1:
            raise ModelError(f"{where}: strides {strides} are not two positive integers")
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        centred = [kh // 2, kw // 2, kh // 2, kw // 2]
        if kh % 2 == 0 or kw % 2 == 0 or auto_pad != "NOTSET" or list(attrs.get("pads", [0] * 4)) != centred:
            raise ModelError(
                f"{where}: a {kh}x{kw} kernel with strides {strides} is supported with odd sides and pads "
                f"{centred} (windows centred on the output positions)"
            )
        return {
            "kernel": kh,
            "kernel_w": kw,
            "stride": int(strides[0]),
            "stride_w": int(strides[1]),
        }

    def _stride(self, attrs: dict, where: str) -> int:
        """The single stride of a square window."""
        strides = list(attrs.get("strides", [1, 1]))
        if len(strides) != 2 or strides[0] != strides[1]:
            raise ModelError(f"{where}: strides {strides} differ per axis (the IR has one stride)")
        if strides[0] < 1:
            raise ModelError(f"{where}: stride {strides[0]} is not positive")
        return int(strides[0])

    def _padding(self, attrs: dict, where: str) -> int:
        """The single padding of a window: pads must be equal on every side, and auto_pad NOTSET or VALID."""
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad == "VALID":
            return 0
        if auto_pad != "NOTSET":
            raise ModelError(f"{where}: auto_pad {auto_pad} is not supported (give explicit pads)")
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) > 1:
            raise ModelError(
                f"{where}: asymmetric pads {pads} are not supported (the IR pads every side equally)"
            )
        return int(pads[0]) if pads else 0

    def _dense(self, node, value: _Value, weight: np.ndarray, bias: np.ndarray, where: str) -> None:
        """Open a dense layer reading a rank-2 value with weight (O, features)."""
        if len(value.dims) != 2:
            raise ModelError(f"{where}: expects a (1, features) input; flatten the tensor first")
        if weight.shape[1] != value.dims[1]:
            raise ModelError(
                f"{where}: weight takes {weight.shape[1]} features, the input has {value.dims[1]}"
            )
        source = self._read(value, where)
        index = self._new_layer(node.name, "dense", source, weight.shape[0], weight, bias)
        self._set(node, _Value(index, 0, (1, weight.shape[0])))

    def _op_Gemm(self, node, attrs: dict, where: str) -> None:
        """Open a dense layer: alpha * A @ op(B) + beta * C with transB handled."""
        value = self._value(node.input[0], where)
        matrix = self._const(node.input[1], where)
        if attrs.get("transA", 0):
            raise ModelError(f"{where}: transA is not supported")
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        weight = alpha * (matrix if attrs.get("transB", 0) else matrix.T)
        bias = np.zeros(weight.shape[0])
        if len(node.input) > 2 and node.input[2]:
            bias = beta * self._channel_constant(self._const(node.input[2], where), weight.shape[0], 2, where)
        self._dense(node, value, weight, bias, where)

    def _op_MatMul(self, node, attrs: dict, where: str) -> None:
        """Open a dense layer from A @ B with a constant B (a following Add gives the bias)."""
        value = self._value(node.input[0], where)
        matrix = self._const(node.input[1], where)
        if matrix.ndim != 2:
            raise ModelError(f"{where}: only a (features, outputs) constant right operand is supported")
        self._dense(node, value, matrix.T, np.zeros(matrix.shape[1]), where)

    def _channel_constant(self, array: np.ndarray, channels: int, rank: int, where: str) -> np.ndarray:
        """A per-channel constant broadcast against a (1, C[, 1, 1]) tensor, as a (C,) vector."""
        array = np.asarray(array, dtype=np.float64)
        shape = tuple(d for d in array.shape)
        allowed = {(channels,), (1, channels)} if rank == 2 else {(channels, 1, 1), (1, channels, 1, 1)}
        if array.size == 1:
            return np.full(channels, float(array.reshape(())))
        if shape not in allowed:
            raise ModelError(
                f"{where}: constant of shape {shape} is not a per-channel term for {channels} channels"
            )
        return array.reshape(channels)

    def _op_Add(self, node, attrs: dict, where: str) -> None:
        """Fold a constant as bias, sum two products of the same tensor (``_Gated``) into one, or fold another
        branch as the residual of the later layer."""
        left, right = node.input[0], node.input[1]
        if left in self.gated and right in self.gated:
            first, second = self.gated[left], self.gated[right]
            if first.parts == second.parts and first.gates and second.gates:
                gates = tuple(a + b for a, b in zip(first.gates, second.gates))
                if len(gates[0]) >= MAX_SOURCES:
                    raise ModelError(
                        f"{where}: sums {len(gates[0])} gates, above the ceiling of {MAX_SOURCES - 1}"
                    )
                self.gated[node.output[0]] = _Gated(first.parts, gates, first.dims, node.name or "gated")
                return
        if left in self.constants or right in self.constants:
            constant, other = (left, right) if left in self.constants else (right, left)
            self._add_bias(node, self._value(other, where), self.constants[constant], where)
            return
        first, second = self._value(left, where), self._value(right, where)
        if first.dims != second.dims:
            raise ModelError(
                f"{where}: operands of shapes {first.dims} and {second.dims} (residual adds "
                "need equal shapes)"
            )
        if -1 in (first.layer, second.layer):
            raise ModelError(f"{where}: the model input cannot be a residual operand")
        consumer, skip = (first, second) if first.layer > second.layer else (second, first)
        if consumer.layer == skip.layer:
            raise ModelError(f"{where}: adds a layer's output to itself")
        entry = self._foldable(consumer)
        skip_ref = self._read(skip, where)
        index = consumer.layer
        if entry is None or entry.layer.residual is not None:
            index = self._identity(self._read(consumer, where), node.name or "add")
            entry = self.open[index]
        entry.layer = dataclasses.replace(entry.layer, residual=skip_ref)
        entry.version += 1
        self._set(node, _Value(index, entry.version, consumer.dims))

    def _op_Mul(self, node, attrs: dict, where: str) -> None:
        """x times a gate broadcast per channel (1, C, 1, 1) or per pixel (1, 1, H, W), x a tensor or a
        Concat or Resize output: a pending product (``_Gated``), built as one gated_mul layer per part of x
        when read, its gates relu or sigmoid layers; a per-channel gate of a Concat is split by the parts'
        channels (``_split_gate``)."""
        left, right = node.input[0], node.input[1]
        if left in self.constants or right in self.constants:
            raise ModelError(f"{where}: products with a constant are not supported")
        first, second = self._joined_or_value(left, where), self._joined_or_value(right, where)

        def gates(gate: _Joined, x: _Joined) -> bool:
            if len(x.dims) != 4 or len(gate.dims) != 4 or gate.dims == x.dims or len(gate.parts) != 1:
                return False
            return gate.parts[0][1] == 1 and gate.dims in ((1, x.dims[1], 1, 1), (1, 1, *x.dims[2:]))

        if gates(second, first):
            x, gate, gate_name = first, second, right
        elif gates(first, second):
            x, gate, gate_name = second, first, left
        else:
            raise ModelError(
                f"{where}: operands of shapes {first.dims} and {second.dims}: only a tensor times a "
                "per-channel (1, C, 1, 1) or per-pixel (1, 1, H, W) gate is supported"
            )
        for value, _ in x.parts:
            self._read(value, where)
        parts = x.parts
        gate_ref = self._read(gate.parts[0][0], where)
        if any(value.layer == gate_ref for value, _ in parts):
            raise ModelError(f"{where}: multiplies a tensor by itself")
        if gate.dims[1] > 1 and len(parts) > 1:
            per_part = self._split_gate(gate_ref, gate_name, [value.dims[1] for value, _ in parts], where)
        else:
            per_part = [gate_ref] * len(parts)
        gated = tuple((ref,) for ref in per_part)
        self.gated[node.output[0]] = _Gated(parts, gated, x.dims, node.name or "gated")

    def _split_gate(self, gate: int, name: str, channels: list[int], where: str) -> list[int]:
        """Split a per-channel gate (a conv2d's output read by this product alone) into one layer per part of
        the tensor it gates, each with the rows of its part's channels: the first in place, the rest
        appended."""
        entry = self.open[gate]
        layer = entry.layer
        if self.readers.get(name, 0) != 1 or layer.kind != "conv2d" or layer.residual is not None:
            raise ModelError(
                f"{where}: a per-channel gate of a Concat must be a Conv's output that nothing else reads"
            )
        refs, start, whole = [], 0, (entry.weight, entry.bias)
        for i, count in enumerate(channels):
            rows = slice(start, start + count)
            part = dataclasses.replace(layer, out_shape=(count, *layer.out_shape[1:]))
            weight, bias = whole[0][rows], whole[1][rows]
            if i == 0:
                entry.layer, entry.weight, entry.bias = part, weight, bias
                refs.append(gate)
            else:
                part = dataclasses.replace(part, name=self._unique_name(f"{layer.name}.part{i}", layer.kind))
                index = self._append(part, weight, bias)
                self.open[index].clip, self.open[index].closed = entry.clip, True
                refs.append(index)
            start += count
        return refs

    def _build_gated(self, name: str) -> None:
        """Build a pending product as one gated_mul layer per part of x (read upsampled by its factor) with
        that part's gates; its output is then a tensor, or a Concat of the parts' products."""
        gated = self.gated.pop(name)
        values = []
        for i, ((value, factor), gates) in enumerate(zip(gated.parts, gated.gates)):
            upsample = (factor, *(1,) * len(gates)) if factor != 1 else ()
            label = gated.name if len(gated.parts) == 1 else f"{gated.name}.part{i}"
            index = self._new_layer(
                label, "gated_mul", value.layer, value.dims[1], extra_sources=gates, upsample=upsample
            )
            values.append(_Value(index, 0, (1, *self.open[index].layer.out_shape)))
        if len(values) == 1:
            self.values[name] = values[0]
        else:
            self.joined[name] = _Joined(tuple((value, 1) for value in values), gated.dims)

    def _add_bias(self, node, value: _Value, constant: np.ndarray, where: str) -> None:
        """Fold ``value + constant`` into the bias of the layer whose open accumulator ``value`` is."""
        entry = self._foldable(value)
        if entry is None or not entry.layer.has_weights:
            raise ModelError(
                f"{where}: a constant can only be added to the open output of a Conv, Gemm or "
                "MatMul (as its bias)"
            )
        channels = entry.layer.out_shape[0]
        entry.bias = entry.bias + self._channel_constant(constant, channels, len(value.dims), where)
        entry.version += 1
        self._set(node, _Value(value.layer, entry.version, value.dims))

    def _op_BatchNormalization(self, node, attrs: dict, where: str) -> None:
        """Fold inference batch normalization into the open Conv or Gemm before it."""
        if attrs.get("training_mode", 0):
            raise ModelError(f"{where}: training_mode batch normalization is not supported")
        if len(node.output) > 1 and any(node.output[1:]):
            raise ModelError(f"{where}: running-statistics outputs are not supported")
        value = self._value(node.input[0], where)
        entry = self._foldable(value)
        if entry is None or not entry.layer.has_weights or entry.layer.residual is not None:
            raise ModelError(
                f"{where}: batch normalization must directly follow a Conv or Gemm whose output "
                "nothing else reads"
            )
        channels = entry.layer.out_shape[0]
        scale, offset, mean, var = (
            self._channel_constant(self._const(name, where), channels, 2, where) for name in node.input[1:5]
        )
        spread = var + float(attrs.get("epsilon", 1e-5))
        if not np.all(spread > 0):
            raise ModelError(f"{where}: variance + epsilon is not positive for every channel")
        gain = scale / np.sqrt(spread)
        entry.weight = entry.weight * gain.reshape((-1,) + (1,) * (entry.weight.ndim - 1))
        entry.bias = (entry.bias - mean) * gain + offset
        entry.version += 1
        self._set(node, _Value(value.layer, entry.version, value.dims))

    def _activate(self, node, value: _Value, clip: float | None, where: str) -> None:
        """Apply relu (with an optional upper clip) to ``value``: close its open layer with it, drop it when
        the tensor is already in range, or add an identity layer."""
        entry = self._foldable(value)
        if entry is None and value.layer >= 0:
            produced = self.open[value.layer]
            if (
                value.version == produced.version
                and produced.layer.activation == "relu"
                and (clip is None or (produced.clip is not None and produced.clip <= clip))
            ):
                self._set(node, value)
                return
        if entry is None:
            index = self._identity(self._read(value, where), node.name or "relu")
            entry = self.open[index]
            value = _Value(index, 0, value.dims)
        entry.layer = dataclasses.replace(entry.layer, activation="relu")
        entry.clip = clip
        entry.closed = True
        entry.version += 1
        self._set(node, _Value(value.layer, entry.version, value.dims))

    def _op_Relu(self, node, attrs: dict, where: str) -> None:
        """Close the open layer with relu (or add an identity layer)."""
        self._activate(node, self._value(node.input[0], where), None, where)

    def _op_Clip(self, node, attrs: dict, where: str) -> None:
        """Clip(0, c): relu with a float upper clip c (ReLU6 is c = 6)."""
        bounds = [float(self._const(name, where).reshape(())) if name else None for name in node.input[1:3]]
        low, high = (bounds + [None, None])[:2]
        if low != 0.0 or (high is not None and not (np.isfinite(high) and high > 0)):
            raise ModelError(
                f"{where}: only Clip(min=0, max>0) such as ReLU6 is supported, got min={low}, max={high}"
            )
        self._activate(node, self._value(node.input[0], where), high, where)

    def _op_Sigmoid(self, node, attrs: dict, where: str) -> None:
        """Close the open layer with sigmoid, or add an identity layer that applies it to a closed tensor."""
        value = self._value(node.input[0], where)
        entry = self._foldable(value)
        if entry is None:
            index = self._identity(self._read(value, where), node.name or "sigmoid")
            entry = self.open[index]
            value = _Value(index, 0, value.dims)
        entry.layer = dataclasses.replace(entry.layer, activation="sigmoid")
        entry.closed = True
        entry.version += 1
        self._set(node, _Value(value.layer, entry.version, value.dims))

    def _pool_window(self, node, attrs: dict, where: str) -> tuple[int, int, int]:
        """(kernel, stride, padding) of a square, undilated pooling window padded equally on every side."""
        kernel = list(attrs.get("kernel_shape", []))
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            raise ModelError(f"{where}: kernel {kernel} is not square")
        if kernel[0] < 1:
            raise ModelError(f"{where}: kernel {kernel} is not positive")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise ModelError(f"{where}: dilated pooling is not supported")
        if len(node.output) > 1 and node.output[1]:
            raise ModelError(f"{where}: the indices output is not supported")
        padding = self._padding(attrs, where)
        if padding >= kernel[0]:
            raise ModelError(f"{where}: padding {padding} is not smaller than the kernel {kernel[0]}")
        return int(kernel[0]), self._stride(attrs, where), padding

    def _pool_input(
        self, value: _Value, kernel: int, stride: int, padding: int, ceil_mode: int, where: str
    ) -> None:
        """Refuse a pooling input that is not (1, C, H, W) or whose ceil_mode would add a partial window."""
        if len(value.dims) != 4:
            raise ModelError(f"{where}: expects a (N, C, H, W) input")
        if ceil_mode and any((size + 2 * padding - kernel) % stride for size in value.dims[2:]):
            raise ModelError(f"{where}: ceil_mode with partial windows is not supported")

    def _op_MaxPool(self, node, attrs: dict, where: str) -> None:
        """Open and close a maxpool layer with its source's activation and range (padding counts as the
        int8 minimum, which is ONNX's -inf for every window that holds an input value)."""
        kernel, stride, padding = self._pool_window(node, attrs, where)
        if attrs.get("storage_order", 0):
            raise ModelError(f"{where}: storage_order 1 is not supported")
        value = self._value(node.input[0], where)
        self._pool_input(value, kernel, stride, padding, attrs.get("ceil_mode", 0), where)
        source = self._read(value, where)
        index = self._new_layer(
            node.name, "maxpool", source, value.dims[1], kernel=kernel, stride=stride, padding=padding
        )
        entry = self.open[index]
        source_activation = "clamp" if source == -1 else clamp_activation(self.open[source].layer.activation)
        entry.layer = dataclasses.replace(entry.layer, activation=source_activation)
        entry.closed = True
        self._set(node, _Value(index, 0, (1, *entry.layer.out_shape)))

    def _op_AveragePool(self, node, attrs: dict, where: str) -> None:
        """Open an avgpool layer (stride == kernel, no padding; a window that is not a power of two is
        divided by a fixed-point rescale, see ``edgeprove.layers.avgpool``)."""
        kernel, stride, padding = self._pool_window(node, attrs, where)
        if padding:
            raise ModelError(f"{where}: padded average pooling is not supported")
        if stride != kernel:
            raise ModelError(
                f"{where}: average pooling needs stride == kernel (got kernel {kernel}, stride {stride})"
            )
        value = self._value(node.input[0], where)
        self._pool_input(value, kernel, stride, 0, attrs.get("ceil_mode", 0), where)
        index = self._new_layer(
            node.name, "avgpool", self._read(value, where), value.dims[1], kernel=kernel, stride=stride
        )
        self._set(node, _Value(index, 0, (1, *self.open[index].layer.out_shape)))

    def _op_GlobalAveragePool(self, node, attrs: dict, where: str) -> None:
        """The mean of each channel (``_mean``); of a Concat, one mean per part (``_Means``), of a nearest
        upsampled tensor its source's mean."""
        joined = self._joined_or_value(node.input[0], where)
        if len(joined.dims) != 4:
            raise ModelError(f"{where}: expects a (N, C, H, W) input")
        means = tuple(self._mean(node.name or "mean", value, where) for value, _ in joined.parts)
        dims = (1, joined.dims[1], 1, 1)
        if len(means) == 1:
            self._set(node, means[0])
        else:
            self.means[node.output[0]] = _Means(means, dims)

    def _mean(self, name: str, value: _Value, where: str) -> _Value:
        """A global_avgpool layer over ``value``, after an avgpool over the power-of-two windows that
        ``avgpool.mean_window`` asks for on a plane too large to average at once."""
        if len(value.dims) != 4:
            raise ModelError(f"{where}: expects a (N, C, H, W) input")
        source = self._read(value, where)
        window = mean_window(*value.dims[2:], where)
        if window > 1:
            source = self._new_layer(
                f"{name}.window", "avgpool", source, value.dims[1], kernel=window, stride=window
            )
        index = self._new_layer(name, "global_avgpool", source, value.dims[1])
        return _Value(index, 0, (1, value.dims[1], 1, 1))

    def _op_Flatten(self, node, attrs: dict, where: str) -> None:
        """View a (1, C, H, W) tensor as (1, C*H*W); the IR's dense layer flattens in the same order."""
        value = self._value(node.input[0], where)
        axis = int(attrs.get("axis", 1))
        axis = axis + len(value.dims) if axis < 0 else axis
        if axis > 1:
            raise ModelError(f"{where}: only flattening everything after the batch axis is supported")
        self._set(node, _Value(value.layer, value.version, (1, int(np.prod(value.dims)))))

    def _op_Reshape(self, node, attrs: dict, where: str) -> None:
        """A static reshape to (1, N) or back to the tensor's own (1, C, H, W) shape."""
        value = self._value(node.input[0], where)
        target = [int(d) for d in self._const(node.input[1], where).reshape(-1)]
        total = int(np.prod(value.dims))
        if not attrs.get("allowzero", 0):
            target = [value.dims[i] if d == 0 and i < len(value.dims) else d for i, d in enumerate(target)]
        if target.count(-1) == 1:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = total // known if known and total % known == 0 else -1
        dims = tuple(target)
        own = (1, *self._shape_of(value.layer))
        if dims not in {(1, total), own, value.dims}:
            raise ModelError(
                f"{where}: reshape {value.dims} -> {dims} is not supported (only to (1, "
                f"{total}) or to the tensor's own shape {own})"
            )
        self._set(node, _Value(value.layer, value.version, dims))


def onnx_to_float(proto, name: str) -> tuple[FloatModel, tuple[int, ...], tuple[int, ...]]:
    """The float IR (named ``name``) of a loaded ONNX model, with the ONNX input and output dims (batch axis
    included).

    Raises ModelError listing every unsupported node at once, or naming the first unfoldable pattern."""
    bad = unsupported_nodes(proto)
    if bad:
        more = f" and {len(bad) - UNSUPPORTED_LISTED} more" if len(bad) > UNSUPPORTED_LISTED else ""
        raise ModelError(f"unsupported ONNX operator(s): {', '.join(bad[:UNSUPPORTED_LISTED])}{more}")
    builder = _Builder(proto, name)
    builder.run()
    float_model, output_dims = builder.finish()
    return float_model, builder.input_dims, output_dims


def calibration_batch(calibration: np.ndarray, input_dims: tuple[int, ...]) -> np.ndarray:
    """Calibration inputs (N, *dims[1:]) as float64; a single sample of shape dims[1:] becomes N = 1."""
    array = np.asarray(calibration)
    if array.dtype.kind not in "fiu":
        raise ModelError(f"calibration inputs must be numbers, got {array.dtype}")
    if array.size > MAX_CALIBRATION_VALUES:
        raise ModelError(
            f"calibration inputs hold {array.size:,} values, above the ceiling of "
            f"{MAX_CALIBRATION_VALUES:,} (2^26)"
        )
    sample = tuple(input_dims[1:])
    if array.shape == sample:
        array = array[None]
    if array.ndim != len(sample) + 1 or tuple(array.shape[1:]) != sample or not len(array):
        raise ModelError(
            f"calibration inputs must have shape (N, {', '.join(map(str, sample))}), got {tuple(array.shape)}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ModelError("calibration inputs contain NaN or infinite values")
    return array


def read_calibration(path: str | Path) -> np.ndarray:
    """Float calibration inputs from a .npy file (shape checked later against the model); its header and size
    are checked, and its values counted against MAX_CALIBRATION_VALUES, before the data is read."""
    path = Path(path)
    expected = "a float or integer array (N, *input shape)"
    header = npy.read_header(path, "calibration inputs", expected)
    if header.dtype.kind not in "fiu":
        raise ModelError(f"calibration inputs {path}: hold {header.dtype} values; expected {expected}")
    if header.count > MAX_CALIBRATION_VALUES:
        raise ModelError(
            f"calibration inputs {path}: {header.count:,} values, above the ceiling of "
            f"{MAX_CALIBRATION_VALUES:,} (2^26)"
        )
    return npy.load(path, "calibration inputs")


def onnxruntime_outputs(path: str | Path, inputs: np.ndarray, proto=None) -> np.ndarray:
    """onnxruntime's float output, flattened per sample (N, outputs), on ``inputs`` (N, *input dims without
    batch), one sample a run (the batch axis of the model may be fixed at 1); of ``proto`` (the model as
    ``load_onnx`` gives it, unused tensors dropped) when given, else of the file.  Its own log stays off
    stderr: a failure is one line of ours."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("ONNX import needs onnxruntime: pip install 'edgeprove[onnx]'") from None
    onnxruntime.set_default_logger_severity(4)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    source = str(path) if proto is None else proto.SerializeToString()
    try:
        session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        outputs = [session.run(None, {name: sample[None].astype(np.float32)})[0] for sample in inputs]
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise ModelError(f"{path}: onnxruntime cannot run the model ({str(exc).splitlines()[0]})") from None
    return np.stack([np.asarray(out, dtype=np.float64).reshape(-1) for out in outputs])


def output_correlation(ours: np.ndarray, reference: np.ndarray) -> float | None:
    """Pearson correlation of two output batches taken as flat vectors, each output centred on its mean over
    the batch when there are several inputs (so a shared bias does not inflate it); None when undefined."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if len(ours) > 1:
        ours, reference = ours - ours.mean(axis=0), reference - reference.mean(axis=0)
    ours, reference = ours.ravel(), reference.ravel()
    if ours.size < 2 or not np.std(ours) > 0 or not np.std(reference) > 0:
        return None
    return float(np.corrcoef(ours, reference)[0, 1])


def import_onnx(
    path: str | Path, calibration: np.ndarray | None = None, calibration_label: str | None = None
) -> ImportResult:
    """Compile an ONNX file to an integer Model, quantized on ``calibration`` (N, *input dims without batch;
    ``calibration_label`` says where they come from) or on seeded random inputs, and compare it with
    onnxruntime on those inputs."""
    from edgeprove.model.ops import dequantize, run_batch
    from edgeprove.model.quantize import quantize_array

    path = Path(path)
    proto = load_onnx(path)
    # Non-finite values are refused explicitly, in one line: numpy's warnings would add lines to stderr.
    with np.errstate(all="ignore"):
        float_model, input_dims, _ = onnx_to_float(proto, path.stem)
    if calibration is None:
        count = min(DEFAULT_CALIBRATION_INPUTS, MAX_CALIBRATION_VALUES // math.prod(float_model.input_shape))
        batch, label = random_calibration(float_model.input_shape, max(count, 1))
        batch = batch.reshape(len(batch), *input_dims[1:])
    else:
        batch = calibration_batch(calibration, input_dims)
        label = f"{len(batch)} inputs from {calibration_label or 'the given calibration'}"
    ir_batch = batch.reshape(len(batch), *float_model.input_shape)
    with np.errstate(all="ignore"):
        result = quantize(float_model, ir_batch, label)
    reference = onnxruntime_outputs(path, batch, proto)
    if not np.all(np.isfinite(reference)):
        raise ModelError(f"{path}: onnxruntime's outputs are not finite on the calibration inputs")
    ours_float = result.float_outputs.reshape(len(batch), -1)
    if ours_float.shape != reference.shape:
        raise ModelError(
            f"{path}: onnxruntime gives {reference.shape[1]} outputs, the import {ours_float.shape[1]}"
        )
    scale = 1.0 + float(np.max(np.abs(reference)))
    float_diff = float(np.max(np.abs(ours_float - reference)))
    if float_diff > FLOAT_TOLERANCE * scale:
        raise ModelError(
            f"{path}: the imported float model differs from onnxruntime by {float_diff:.3g}; "
            "the graph uses semantics the importer does not reproduce"
        )
    model = result.model
    ints = quantize_array(ir_batch, model.input_frac)
    ours = dequantize(model, run_batch(model, ints)).reshape(len(batch), -1)
    agreement, per = class_agreement(reference, ours, model.layers[-1].out_shape)
    report = ImportReport(
        source=path.name,
        calibration=label,
        num_inputs=len(batch),
        top1_agreement=agreement,
        max_abs_error=float(np.max(np.abs(ours - reference))),
        max_abs_output=float(np.max(np.abs(reference))),
        float_max_abs_diff=float_diff,
        layers=len(model.layers),
        params=model.num_params,
        digest=model.digest,
        logit_correlation=output_correlation(ours, reference),
        agreement_per=per,
    )
    return ImportResult(model, report, result.report, result.bounds)


def write_compiled(result: ImportResult, folder: Path) -> None:
    """Save an imported model into the (new, empty) ``folder`` with its report in import.json."""
    compiled.save(result.model, folder)
    (folder / REPORT_FILE).write_text(json.dumps(dataclasses.asdict(result.report), indent=1) + "\n")


def compile_onnx(
    path: str | Path,
    out: str | Path,
    calibration: np.ndarray | None = None,
    calibration_label: str | None = None,
) -> ImportResult:
    """``import_onnx`` and save the model as a new compiled folder ``out`` with the report in import.json.

    ``out`` must not exist or be an empty folder (checked before importing); the folder is written beside
    it under a staging name and renamed into place only when complete (``compiled.create_folder``).
    """
    out = Path(out)
    compiled.check_new_folder(out)
    result = import_onnx(path, calibration, calibration_label)
    compiled.create_folder(out, lambda staging: write_compiled(result, staging))
    return result


def source_digest(path: str | Path, proto=None) -> str:
    """SHA-256 of the ONNX file's bytes, followed by those of its external data files (if any, in order);
    ``proto`` is the file's model from ``check_onnx_file``, which bounds every file hashed here."""
    path = Path(path)
    proto = check_onnx_file(path) if proto is None else proto
    hasher = hashlib.sha256()
    locations = []
    external = _onnx().TensorProto.EXTERNAL
    for tensor in _tensors(proto.graph):
        if tensor.data_location != external:  # the loader ignores the entries of any other tensor
            continue
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value not in locations:
                locations.append(entry.value)
    try:
        for data in [path, *(path.parent / location for location in locations)]:
            with data.open("rb") as handle:
                while block := handle.read(1 << 20):
                    hasher.update(block)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{path}: not a readable ONNX model ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    return hasher.hexdigest()


def cached_import(path: str | Path) -> Model:
    """The compiled model of an ONNX file, from the cache ``$EDGEPROVE_CACHE/onnx/<sha256>`` or compiled
    there on first use (seeded random calibration inputs); the file is checked before it is hashed."""
    from edgeprove.model.zoo import cache_dir

    path = Path(path)
    folder = cache_dir() / CACHE_SUBDIR / source_digest(path, check_onnx_file(path))
    return compiled.cached(folder, lambda staging: write_compiled(import_onnx(path), staging))
