"""Darknet ``.cfg`` and ``.weights`` to an ONNX graph, in process, with batch-norm folded into the convolutions.

The graph takes the same input as OpenCV's Darknet importer (NCHW, RGB, 0..1)
and returns, for a detector, each ``[yolo]`` layer's raw map (decoded by
:func:`decode_yolo`), for a classifier the softmax. A layer type it does not
know raises :class:`Unsupported`, naming the section and its line, so the
caller can fall back to OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Bumped whenever the graph this builds changes, so that cached graphs are built again.
CONVERTER_VERSION = 3
#: The ONNX opset the graph is written in: the lowest in which every operator IRS writes has the form it uses
#: (Resize with its region of interest left out, from opset 13). With it, the lowest IR version that opset allows
#: (7), so that older runtimes load the graph too: ONNX Runtime from 1.6, OpenVINO from 2021.
OPSET = 13
#: Class scores at or below this are zeroed, as OpenCV's region layer does (measured: its rows and these agree).
CLASS_SCORE_FLOOR = 0.2
#: Darknet's own epsilon in batch normalisation (``normalize_cpu``).
BN_EPSILON = 1e-6
SUPPORTED = {"net", "convolutional", "maxpool", "route", "shortcut", "upsample", "yolo", "avgpool", "softmax",
             "dropout", "connected"}


class Unsupported(ValueError):
    """The cfg uses something this builder does not convert; the message names it and its line."""


@dataclass
class Section:
    kind: str
    line: int
    options: dict[str, str] = field(default_factory=dict)

    def integer(self, key: str, default: int) -> int:
        return int(self.options.get(key, default))

    def number(self, key: str, default: float) -> float:
        return float(self.options.get(key, default))

    def integers(self, key: str) -> list[int]:
        return [int(v) for v in self.options.get(key, "").split(",") if v.strip()]

    def numbers(self, key: str) -> list[float]:
        return [float(v) for v in self.options.get(key, "").split(",") if v.strip()]


def parse(cfg: str) -> list[Section]:
    sections: list[Section] = []
    for number, raw in enumerate(cfg.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append(Section(line.strip("[]").strip(), number))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
    return sections


@dataclass(frozen=True)
class YoloHead:
    """What decoding one ``[yolo]`` map needs."""

    anchors: tuple[tuple[float, float], ...]
    classes: int
    scale_x_y: float


@dataclass
class Converted:
    model: Any  # onnx.ModelProto
    outputs: list[str]
    heads: list[YoloHead]


class _Weights:
    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        major, minor = np.frombuffer(data, np.int32, 2)
        header = 20 if (major * 10 + minor) >= 2 else 16  # "seen" is 64-bit from version 0.2
        self.values = np.frombuffer(data, np.float32, offset=header)
        self.at = 0

    def take(self, count: int) -> np.ndarray:
        if self.at + count > len(self.values):
            raise Unsupported(f"the weights file ends early: {len(self.values)} values, {self.at + count} needed")
        chunk = self.values[self.at: self.at + count]
        self.at += count
        return chunk


def convert(cfg_path: Path, weights_path: Path) -> Converted:
    """Build the ONNX graph of a Darknet model, for inputs of any size (as OpenCV's importer takes them);
    raises :class:`Unsupported` for what it cannot convert."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sections = parse(cfg_path.read_text())
    for section in sections:
        if section.kind not in SUPPORTED:
            raise Unsupported(f"{cfg_path.name} line {section.line}: layer [{section.kind}] is not supported")
    net = sections[0]
    width, height, channels = net.integer("width", 416), net.integer("height", 416), net.integer("channels", 3)
    weights = _Weights(weights_path)
    nodes: list[Any] = []
    initializers: list[Any] = []
    names: list[str] = []  # each layer's output tensor
    shapes: list[tuple[int, int, int]] = []  # each layer's (c, h, w)
    outputs: list[str] = []
    heads: list[YoloHead] = []
    current, shape = "input", (channels, height, width)

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def activate(name: str, tensor: str, activation: str, section: Section) -> str:
        if activation == "linear":
            return tensor
        out = f"{name}_act"
        if activation == "leaky":
            nodes.append(helper.make_node("LeakyRelu", [tensor], [out], alpha=0.1))
        elif activation == "relu":
            nodes.append(helper.make_node("Relu", [tensor], [out]))
        elif activation == "logistic":
            nodes.append(helper.make_node("Sigmoid", [tensor], [out]))
        else:
            raise Unsupported(f"line {section.line}: activation {activation} is not supported")
        return out

    for index, section in enumerate(sections[1:]):
        name = f"l{index}_{section.kind}"
        c, h, w = shape
        if section.kind == "convolutional":
            filters, size = section.integer("filters", 1), section.integer("size", 1)
            stride = section.integer("stride", 1)
            groups = section.integer("groups", 1)
            pad = size // 2 if section.integer("pad", 0) else section.integer("padding", 0)
            batch_norm = section.integer("batch_normalize", 0)
            biases = weights.take(filters)
            if batch_norm:
                scales, mean, variance = weights.take(filters), weights.take(filters), weights.take(filters)
            kernel = weights.take(filters * (c // groups) * size * size).reshape(filters, c // groups, size, size)
            if batch_norm:
                factor = scales / np.sqrt(variance + BN_EPSILON)
                kernel = kernel * factor[:, None, None, None]
                biases = biases - mean * factor
            conv = f"{name}_out"
            nodes.append(helper.make_node(
                "Conv", [current, constant(f"{name}_w", kernel.astype(np.float32)),
                         constant(f"{name}_b", biases.astype(np.float32))], [conv],
                kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4, group=groups))
            current = activate(name, conv, section.options.get("activation", "logistic"), section)
            shape = (filters, (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1)
        elif section.kind == "maxpool":
            size, stride = section.integer("size", 2), section.integer("stride", 2)
            if section.integer("padding", size - 1) != size - 1 or stride not in (1, size):
                raise Unsupported(f"line {section.line}: a [maxpool] of size {size}, stride {stride} and other than "
                                  "the default padding")
            # Darknet pads size - 1 in all, the odd one at the end: ONNX's SAME_UPPER, for any input size.
            nodes.append(helper.make_node("MaxPool", [current], [f"{name}_out"], kernel_shape=[size, size],
                                          strides=[stride, stride], auto_pad="SAME_UPPER"))
            current, shape = f"{name}_out", (c, -(-h // stride), -(-w // stride))
        elif section.kind == "route":
            sources = [i if i >= 0 else index + i for i in section.integers("layers")]
            groups, group = section.integer("groups", 1), section.integer("group_id", 0)
            if groups > 1:
                (source,) = sources
                sc, sh, sw = shapes[source]
                part = sc // groups
                nodes.append(helper.make_node(
                    "Slice", [names[source], constant(f"{name}_s", np.array([group * part], np.int64)),
                              constant(f"{name}_e", np.array([(group + 1) * part], np.int64)),
                              constant(f"{name}_a", np.array([1], np.int64))], [f"{name}_out"]))
                shape = (part, sh, sw)
            elif len(sources) == 1:
                nodes.append(helper.make_node("Identity", [names[sources[0]]], [f"{name}_out"]))
                shape = shapes[sources[0]]
            else:
                nodes.append(helper.make_node("Concat", [names[s] for s in sources], [f"{name}_out"], axis=1))
                shape = (sum(shapes[s][0] for s in sources), shapes[sources[0]][1], shapes[sources[0]][2])
            current = f"{name}_out"
        elif section.kind == "shortcut":
            (source,) = [i if i >= 0 else index + i for i in section.integers("from")]
            if shapes[source] != shape:
                raise Unsupported(f"line {section.line}: a shortcut between shapes {shapes[source]} and {shape}")
            nodes.append(helper.make_node("Add", [current, names[source]], [f"{name}_sum"]))
            current = activate(name, f"{name}_sum", section.options.get("activation", "linear"), section)
        elif section.kind == "upsample":
            stride = section.integer("stride", 2)
            nodes.append(helper.make_node(
                "Resize", [current, "", constant(f"{name}_scales", np.array([1, 1, stride, stride], np.float32))],
                [f"{name}_out"], mode="nearest"))
            current, shape = f"{name}_out", (c, h * stride, w * stride)
        elif section.kind == "yolo":
            mask = section.integers("mask")
            anchors = section.numbers("anchors")
            pairs = [(anchors[2 * m], anchors[2 * m + 1]) for m in mask]
            heads.append(YoloHead(tuple(pairs), section.integer("classes", 80), section.number("scale_x_y", 1.0)))
            outputs.append(current)
        elif section.kind == "avgpool":
            nodes.append(helper.make_node("GlobalAveragePool", [current], [f"{name}_out"]))
            current, shape = f"{name}_out", (c, 1, 1)
        elif section.kind == "softmax":
            nodes.append(helper.make_node("Flatten", [current], [f"{name}_flat"], axis=1))
            nodes.append(helper.make_node("Softmax", [f"{name}_flat"], [f"{name}_out"], axis=1))
            current, shape = f"{name}_out", (c * h * w, 1, 1)
        elif section.kind == "connected":
            out = section.integer("output", 1)
            biases = weights.take(out)
            matrix = weights.take(out * c * h * w).reshape(out, c * h * w)
            if section.integer("batch_normalize", 0):
                raise Unsupported(f"line {section.line}: a batch-normalised [connected] layer is not supported")
            nodes.append(helper.make_node("Flatten", [current], [f"{name}_flat"], axis=1))
            nodes.append(helper.make_node("Gemm", [f"{name}_flat", constant(f"{name}_w", matrix.astype(np.float32)),
                                                   constant(f"{name}_b", biases.astype(np.float32))],
                                          [f"{name}_gemm"], transB=1))
            current = activate(name, f"{name}_gemm", section.options.get("activation", "logistic"), section)
            nodes.append(helper.make_node("Reshape", [current, constant(f"{name}_shape", np.array(
                [0, out, 1, 1], np.int64))], [f"{name}_out"]))
            current, shape = f"{name}_out", (out, 1, 1)
        # dropout: identity at inference
        names.append(current)
        shapes.append(shape)
    if weights.at != len(weights.values):
        raise Unsupported(f"{weights_path.name}: {len(weights.values) - weights.at} weights left over; "
                          f"the cfg does not describe these weights")
    if not outputs:
        outputs = [current]
    graph = helper.make_graph(
        nodes, cfg_path.stem, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, "height",
                                                                                         "width"])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", None] if o.endswith("softmax_out") else
                                       ["batch", None, None, None]) for o in outputs],
        initializers)
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="irs",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model)
    return Converted(model, outputs, heads)


def decode_yolo(maps: list[np.ndarray], heads: list[YoloHead], size: tuple[int, int]) -> np.ndarray:
    """Raw ``[yolo]`` maps to rows ``[cx, cy, w, h, objectness, class scores...]``, relative to the input, as
    OpenCV's region layer gives them (class scores multiplied by objectness)."""
    width, height = size
    rows = []
    for raw, head in zip(maps, heads, strict=True):
        batch, _, grid_h, grid_w = raw.shape
        per = 5 + head.classes
        x = raw.reshape(batch, len(head.anchors), per, grid_h, grid_w).transpose(0, 3, 4, 1, 2)
        x = x.reshape(batch, grid_h * grid_w * len(head.anchors), per)
        sig = 0.5 * (1 + np.tanh(0.5 * x))  # the logistic function, without overflow
        cells = np.arange(grid_h * grid_w).repeat(len(head.anchors))
        col, row = cells % grid_w, cells // grid_w
        scale = head.scale_x_y
        cx = (col + sig[..., 0] * scale - (scale - 1) / 2) / grid_w
        cy = (row + sig[..., 1] * scale - (scale - 1) / 2) / grid_h
        anchors = np.tile(np.array(head.anchors, np.float32), (grid_h * grid_w, 1))
        bw = np.exp(x[..., 2]) * anchors[:, 0] / width
        bh = np.exp(x[..., 3]) * anchors[:, 1] / height
        objectness = sig[..., 4]
        classes = sig[..., 5:] * objectness[..., None]
        classes[classes <= CLASS_SCORE_FLOOR] = 0
        rows.append(np.concatenate([np.stack([cx, cy, bw, bh, objectness], -1), classes], -1))
    return np.concatenate(rows, axis=1)
