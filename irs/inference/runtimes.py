"""Where a Darknet model runs: ONNX Runtime or OpenVINO on the graph converted in process, or OpenCV's DNN module.

All three read the same ``.cfg`` and ``.weights``. The rule of ``IRS_RUNTIME=auto`` (the default): ONNX Runtime
when it is installed and the model converts, else OpenCV. ONNX Runtime is the default over OpenVINO because a
worker runs one inference thread per process, where the two were measured equally fast and OpenVINO took more
memory (BENCHMARKS.md); ``IRS_RUNTIME=openvino`` chooses it (``pip install irs[openvino]``), and it is the one
runtime that honours ``IRS_PRECISION=bf16``. A model that does not convert (a layer the builder does not know)
falls back to OpenCV with a warning naming the layer and its line. The converted graph is kept under the sha256
of the weights and the cfg in the cache, so a second start does not convert again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from irs.inference.darknet import CONVERTER_VERSION, Unsupported, YoloHead, convert, decode_yolo
from irs.inference.registry import ModelError, ModelSpec, sha256_of
from irs.settings import Settings

logger = logging.getLogger(__name__)


class Runtime(Protocol):
    name: str
    precision: str

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """For a detector, rows ``[cx, cy, w, h, objectness, scores...]``; for a classifier, the probabilities."""


class OpenCvRuntime:
    name, precision = "opencv", "f32"

    def __init__(self, spec: ModelSpec, directory: Path, threads: int) -> None:
        cv2.setNumThreads(threads)
        self.kind = spec.kind
        self.net = cv2.dnn.readNetFromDarknet(str(directory / spec.cfg.name), str(directory / spec.weights.name))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.outputs = self.net.getUnconnectedOutLayersNames()

    def forward(self, blob: np.ndarray) -> np.ndarray:
        self.net.setInput(blob)
        if self.kind == "classifier":
            return np.asarray(self.net.forward()).reshape(-1)
        return np.vstack(self.net.forward(self.outputs))


class OnnxRuntime:
    name, precision = "onnxruntime", "f32"

    def __init__(self, spec: ModelSpec, directory: Path, threads: int, cache: Path) -> None:
        import onnxruntime

        graph, heads = _converted(spec, directory, cache)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: with a worker process per core, spinning threads took the
        # cores from each other (measured: twice the CPU per image on the whole IRS path).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.heads = heads

    def forward(self, blob: np.ndarray) -> np.ndarray:
        return _answer(self.session.run(self.outputs, {"input": blob}), self.heads, blob)


class OpenVinoRuntime:
    name = "openvino"

    def __init__(self, spec: ModelSpec, directory: Path, settings: Settings, input_size: int) -> None:
        import openvino

        graph, self.heads = _converted(spec, directory, settings.cache_dir / "onnx")
        core = openvino.Core()
        model = core.read_model(str(graph))
        if spec.kind == "detector":  # a fixed input compiles faster kernels; the classifier's input varies
            model.reshape({"input": [1, 3, input_size, input_size]})
        self.model = core.compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": settings.cv_threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": settings.precision, "ENABLE_CPU_PINNING": False})
        # What the CPU plugin took: on a CPU without bf16 instructions it keeps f32 whatever was asked.
        self.precision = self.model.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.request = self.model.create_infer_request()

    def forward(self, blob: np.ndarray) -> np.ndarray:
        result = self.request.infer({"input": blob})
        return _answer([result[output] for output in self.model.outputs], self.heads, blob)


def _answer(maps: list[np.ndarray], heads: list[YoloHead], blob: np.ndarray) -> np.ndarray:
    """The converted graph's outputs as :meth:`Runtime.forward` gives them: a classifier's probabilities, or a
    detector's ``[yolo]`` maps decoded as OpenCV decodes them."""
    if not heads:
        return np.asarray(maps[0]).reshape(-1)
    return decode_yolo([np.asarray(m) for m in maps], heads, (blob.shape[3], blob.shape[2]))[0]


def _converted(spec: ModelSpec, directory: Path, cache: Path) -> tuple[Path, list[YoloHead]]:
    """The model's ONNX graph from the cache, converted and kept there the first time."""
    weights = directory / spec.weights.name
    graph = cache / f"{sha256_of(weights)}-{sha256_of(directory / spec.cfg.name)[:12]}-v{CONVERTER_VERSION}.onnx"
    facts = graph.with_suffix(".json")
    if not (graph.exists() and facts.exists()):
        converted = convert(directory / spec.cfg.name, weights)
        cache.mkdir(parents=True, exist_ok=True)
        part = graph.with_suffix(".part")
        part.write_bytes(converted.model.SerializeToString())
        facts.write_text(json.dumps({"heads": [asdict(h) for h in converted.heads]}))
        part.replace(graph)
    known = json.loads(facts.read_text())
    heads = [YoloHead(tuple(tuple(a) for a in h["anchors"]), h["classes"], h["scale_x_y"]) for h in known["heads"]]
    return graph, heads


def load_runtime(spec: ModelSpec, directory: Path, settings: Settings, input_size: int) -> Runtime:
    """The runtime ``settings.runtime`` asks for, or the best available (see the module's docstring)."""
    if settings.precision != "f32" and settings.runtime != "openvino":
        raise ModelError(f"IRS_PRECISION={settings.precision} needs IRS_RUNTIME=openvino "
                         f"(IRS_RUNTIME={settings.runtime} runs f32 only)")
    if settings.runtime == "openvino":
        try:
            return OpenVinoRuntime(spec, directory, settings, input_size)
        except ImportError:
            raise ModelError("IRS_RUNTIME=openvino, but openvino is not installed: pip install 'irs[openvino]', "
                             "or set IRS_RUNTIME=auto") from None
    if settings.runtime != "opencv":
        try:
            return OnnxRuntime(spec, directory, settings.cv_threads, settings.cache_dir / "onnx")
        except ImportError:
            if settings.runtime == "onnxruntime":
                raise ModelError("IRS_RUNTIME=onnxruntime, but onnxruntime is not installed: "
                                 "pip install onnx onnxruntime, or set IRS_RUNTIME=auto") from None
        except Unsupported as error:
            logger.warning("%s does not convert to ONNX (%s): running it with OpenCV", spec.name, error)
    return OpenCvRuntime(spec, directory, settings.cv_threads)
