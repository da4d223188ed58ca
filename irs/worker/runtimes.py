"""Where a Darknet model runs: ONNX Runtime on the graph converted in process, or OpenCV's DNN module.

``IRS_RUNTIME=auto`` (the default) takes ONNX Runtime when it is installed and
the model converts, and OpenCV otherwise: both read the same ``.cfg`` and
``.weights``, and the converted graph's outputs match OpenCV's to within 1e-5
(tests/worker/test_runtimes.py), at well over twice the speed on a CPU.
``IRS_RUNTIME=opencv`` keeps OpenCV. A model that does not convert (a layer
the builder does not know) falls back to OpenCV with a warning naming the
layer and its line. The converted graph is kept under the sha256 of the weights and the cfg in
the cache, so a second start does not convert again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from irs.settings import Settings
from irs.worker.darknet import CONVERTER_VERSION, Unsupported, YoloHead, convert, decode_yolo
from irs.worker.models import ModelError, ModelSpec, sha256_of

logger = logging.getLogger(__name__)


class Runtime(Protocol):
    name: str

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """For a detector, rows ``[cx, cy, w, h, objectness, scores...]``; for a classifier, the probabilities."""


class OpenCvRuntime:
    name = "opencv"

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
    name = "onnxruntime"

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
        maps = self.session.run(self.outputs, {"input": blob})
        if not self.heads:
            return np.asarray(maps[0]).reshape(-1)
        return decode_yolo(maps, self.heads, (blob.shape[3], blob.shape[2]))[0]


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


def load_runtime(spec: ModelSpec, directory: Path, settings: Settings) -> Runtime:
    """The runtime ``settings.runtime`` asks for, or the best available (see the module's docstring)."""
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
