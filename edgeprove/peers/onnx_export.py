"""Export a float zoo model to ONNX with the `onnx` helper API (Conv, grouped too, Gemm, pools, Relu, Clip,
Sigmoid, Add, Flatten).

Peer provers such as EZKL take ONNX in; exporting the zoo's own float weights gives them the same network
edgeprove proves. Needs the `onnx` extra (`pip install 'edgeprove[onnx]'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeprove.model.quantize import FloatModel

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "output"
ONNX_INSTALL_HINT = "ONNX export needs onnx: pip install 'edgeprove[onnx]'"


class ExportError(RuntimeError):
    """The model has a layer ONNX export does not cover, or onnx is not installed."""


class _Graph:
    """Collects nodes and initializers; tracks which tensors are (1, C, H, W) and which are (1, F)."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.flat_of: dict[str, str] = {}

    def constant(self, name: str, values: np.ndarray) -> str:
        """Add an initializer and return its name."""
        self.initializers.append(self.numpy_helper.from_array(values, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """Add one node with a single output and return the output's name."""
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def flat(self, tensor: str, rank: dict[str, int]) -> str:
        """The tensor as (1, F): itself when already flat, else one shared Flatten node."""
        if rank[tensor] == 2:
            return tensor
        if tensor not in self.flat_of:
            self.flat_of[tensor] = self.node("Flatten", [tensor], f"{tensor}_flat", axis=1)
            rank[self.flat_of[tensor]] = 2
        return self.flat_of[tensor]

    def spatial(self, tensor: str, shape: tuple[int, ...], rank: dict[str, int]) -> str:
        """The tensor as (1, C, H, W): itself when already so, else a Reshape to the IR shape."""
        if rank[tensor] == 4:
            return tensor
        target = self.constant(f"{tensor}_shape4", np.array((1, *shape), dtype=np.int64))
        output = self.node("Reshape", [tensor, target], f"{tensor}_4d")
        rank[output] = 4
        return output


def export_onnx(model: FloatModel, path: Path) -> Path:
    """Write `model` as an ONNX file (batch 1, float32) whose output equals the float model's output."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as error:
        raise ExportError(ONNX_INSTALL_HINT) from error
    graph = _Graph(helper, numpy_helper)
    rank: dict[str, int] = {INPUT_NAME: 4}
    produced: dict[int, str] = {-1: INPUT_NAME}
    for index, layer in enumerate(model.layers):
        if layer.extra_sources or layer.upsample:
            raise ExportError(f"layer {layer.name}: reading several or upsampled sources is not exported")
        source = produced[layer.source]
        name = f"l{index}_{layer.name}"
        if layer.kind == "dense":
            weight, bias = (np.asarray(array, dtype=np.float32) for array in model.parameters(index))
            operands = [
                graph.flat(source, rank),
                graph.constant(f"{name}_W", weight),
                graph.constant(f"{name}_B", bias),
            ]
            tensor = graph.node("Gemm", operands, f"{name}_gemm", transB=1)
            rank[tensor] = 2
        else:
            source = graph.spatial(source, layer.in_shape, rank)
            if layer.kind in ("conv2d", "grouped_conv2d"):
                weight, bias = (np.asarray(array, dtype=np.float32) for array in model.parameters(index))
                tensor = graph.node(
                    "Conv",
                    [source, graph.constant(f"{name}_W", weight), graph.constant(f"{name}_B", bias)],
                    f"{name}_conv",
                    kernel_shape=[layer.kernel] * 2,
                    strides=[layer.stride] * 2,
                    pads=[layer.padding] * 4,
                    group=layer.groups,
                )
            elif layer.kind == "probe_conv2d":
                if (layer.border_h, layer.border_w) != ("zeros", "zeros"):
                    raise ExportError(
                        f"layer {layer.name}: ONNX's Conv pads with zeros; {layer.border_h}/{layer.border_w} "
                        "borders have no Conv equivalent"
                    )
                weight, bias = (np.asarray(array, dtype=np.float32) for array in model.parameters(index))
                half = [layer.kernel // 2, layer.kernel_w // 2]
                tensor = graph.node(
                    "Conv",
                    [source, graph.constant(f"{name}_W", weight), graph.constant(f"{name}_B", bias)],
                    f"{name}_conv",
                    kernel_shape=[layer.kernel, layer.kernel_w],
                    strides=[layer.stride, layer.stride_w],
                    pads=half * 2,
                )
            elif layer.kind in ("avgpool", "maxpool"):
                op = "AveragePool" if layer.kind == "avgpool" else "MaxPool"
                tensor = graph.node(
                    op,
                    [source],
                    f"{name}_pool",
                    kernel_shape=[layer.kernel] * 2,
                    strides=[layer.stride] * 2,
                    pads=[layer.padding] * 4,
                )
            elif layer.kind == "global_avgpool":
                tensor = graph.node("GlobalAveragePool", [source], f"{name}_gap")
            else:
                raise ExportError(f"layer {layer.name}: ONNX export does not cover kind {layer.kind!r}")
            rank[tensor] = 4
        if layer.residual is not None:
            skip = produced[layer.residual]
            skip = (
                graph.flat(skip, rank)
                if rank[tensor] == 2
                else graph.spatial(skip, model.layers[layer.residual].out_shape, rank)
            )
            tensor, kept_rank = graph.node("Add", [tensor, skip], f"{name}_add"), rank[tensor]
            rank[tensor] = kept_rank
        if layer.activation == "relu":
            kept_rank = rank[tensor]
            if index in model.clip_max:
                low = graph.constant(f"{name}_lo", np.array(0.0, dtype=np.float32))
                high = graph.constant(f"{name}_hi", np.array(model.clip_max[index], dtype=np.float32))
                tensor = graph.node("Clip", [tensor, low, high], f"{name}_clip")
            else:
                tensor = graph.node("Relu", [tensor], f"{name}_relu")
            rank[tensor] = kept_rank
        elif layer.activation == "sigmoid":
            kept_rank = rank[tensor]
            tensor = graph.node("Sigmoid", [tensor], f"{name}_sigmoid")
            rank[tensor] = kept_rank
        produced[index] = tensor
    last = graph.flat(produced[len(model.layers) - 1], rank)
    graph.nodes.append(helper.make_node("Identity", [last], [OUTPUT_NAME], name=OUTPUT_NAME))
    outputs = int(np.prod(model.layers[-1].out_shape))
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes,
            model.name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, *model.input_shape])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, outputs])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgeprove",
    )
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def export_zoo_model(name: str, path: Path) -> Path:
    """Export the zoo model `name` (its seeded float weights) to ONNX at `path`."""
    from edgeprove.model import zoo

    return export_onnx(zoo.float_model(name), path)
