"""Darknet models, through the fastest runtime available (:mod:`irs.inference.runtimes`): load once, then image in,
labels out.

Detectors (YOLO family) return boxes after per-class non-maximum suppression;
the classifier returns its top-k labels. Pre- and post-processing follow what
each model's own reference does: a plain resize to the square input for YOLO
(Darknet's detector, which the sample photos' reference outputs reproduce),
and for the Darknet classifier the whole image with its shorter side resized to
the input size (Darknet's ``resize_min``, as its documented tiny-darknet output
on dog.jpg was made: malamute, Eskimo dog, dogsled; a letterbox gives others).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from irs.inference.registry import ModelSpec, resolve
from irs.inference.runtimes import load_runtime
from irs.settings import Settings, get_settings


@dataclass(frozen=True)
class Detection:
    label: str
    confidence: float
    box: tuple[int, int, int, int] | None  # x, y, width, height in image pixels; None for a classifier

    def as_dict(self) -> dict[str, object]:
        box = None if self.box is None else dict(zip(("x", "y", "w", "h"), self.box, strict=True))
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": box}


class Recognizer:
    """One loaded network. Not thread-safe: keep one per process (a worker's are in :mod:`irs.worker.networks`)."""

    def __init__(self, spec: ModelSpec, directory: Path, settings: Settings) -> None:
        self.spec = spec
        self.input_size = settings.input_size or spec.input_size
        self.confidence = settings.confidence
        self.nms_threshold = settings.nms_threshold
        self.top_k = settings.top_k
        self.runtime = load_runtime(spec, directory, settings, self.input_size)
        lines = (directory / spec.labels.name).read_text().splitlines()
        self.labels = [line.strip() for line in lines[: spec.num_labels or len(lines)]]

    @property
    def model_info(self) -> dict[str, object]:
        return {"name": self.spec.name, "version": self.spec.version, "kind": self.spec.kind,
                "input_size": self.input_size, "runtime": self.runtime.name,
                "precision": self.runtime.precision, "sha256": self.spec.weights.sha256,
                "labels": self.spec.labels_source}

    def __call__(self, image: np.ndarray, size: tuple[int, int] | None = None) -> list[Detection]:
        """Recognise objects; boxes are in ``size`` (width, height) coordinates, the image's own by default.

        Pass the original size when ``image`` was decoded at reduced scale.
        """
        if self.spec.kind == "classifier":
            return self._classify(image)
        return self._detect(image, size or (image.shape[1], image.shape[0]))

    def _detect(self, image: np.ndarray, size: tuple[int, int]) -> list[Detection]:
        width, height = size
        side = self.input_size
        blob = cv2.dnn.blobFromImage(image, 1 / 255.0, (side, side), swapRB=True, crop=False)
        rows = self.runtime.forward(blob)
        scores = rows[:, 5:]
        class_ids = scores.argmax(axis=1)
        confidences = scores[np.arange(len(rows)), class_ids]
        keep = confidences > self.confidence
        rows, class_ids, confidences = rows[keep], class_ids[keep], confidences[keep]
        if not len(rows):
            return []
        centre = rows[:, 0:2] * (width, height)
        extent = rows[:, 2:4] * (width, height)
        boxes = np.hstack([centre - extent / 2, extent]).round().astype(int)
        chosen = cv2.dnn.NMSBoxesBatched(boxes.tolist(), confidences.tolist(), class_ids.tolist(),
                                         self.confidence, self.nms_threshold)
        found = [
            Detection(self.labels[class_ids[i]], float(confidences[i]), _clip(boxes[i], width, height))
            for i in np.asarray(chosen).reshape(-1)
        ]
        return sorted(found, key=lambda d: d.confidence, reverse=True)

    def _classify(self, image: np.ndarray) -> list[Detection]:
        blob = cv2.dnn.blobFromImage(_resize_min(image, self.input_size), 1 / 255.0, swapRB=True, crop=False)
        probabilities = self.runtime.forward(blob)
        best = np.argsort(probabilities)[::-1][: self.top_k]
        return [Detection(self.labels[i], float(probabilities[i]), None) for i in best]


def _clip(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    return x0, y0, min(width, x + w) - x0, min(height, y + h) - y0


def _resize_min(image: np.ndarray, size: int) -> np.ndarray:
    """The whole image, its shorter side ``size``, its aspect kept: the fully convolutional classifier takes
    any shape."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def load(name: str | None = None, settings: Settings | None = None) -> Recognizer:
    """Load a model now (a few milliseconds), raising ModelError if it is not installed."""
    settings = settings or get_settings()
    cv2.setNumThreads(settings.cv_threads)
    spec, directory = resolve(name or settings.model, settings)
    return Recognizer(spec, directory, settings)


def summary(image_key: str, detections: list[Detection]) -> str:
    """The plain one-line form: ``dog.jpg: dog, bicycle, car``."""
    labels = ", ".join(d.label for d in detections) or "nothing found"
    return f"{image_key.rsplit('/', 1)[-1]}: {labels}"
