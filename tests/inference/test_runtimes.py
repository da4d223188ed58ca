"""The same Darknet weights through ONNX Runtime and OpenVINO (converted in process) and through OpenCV: the same
answers.

Stated tolerance: raw outputs (decoded rows, or probabilities) within 1e-4 of
OpenCV's; final results with the same labels, every box at IoU >= 0.9 with
its counterpart, confidences within 0.01.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from irs.inference import runtimes
from irs.inference.darknet import OPSET, Unsupported, convert
from irs.inference.recognition import Detection, Recognizer
from irs.inference.registry import REGISTRY, ModelError, ModelFile, ModelSpec
from irs.inference.runtimes import OnnxRuntime, OpenCvRuntime, OpenVinoRuntime, load_runtime
from irs.settings import get_settings
from tests.conftest import IMAGES, MODELS
from tests.helpers.darknet import CLASSIFIER, DETECTOR, network

RAW_TOLERANCE = 1e-4
INSTALLED = [spec for spec in REGISTRY.values() if (MODELS / spec.directory / spec.weights.name).exists()]


CONVERTED = ("onnxruntime", "openvino")


def _recognizer(spec: ModelSpec, cache: Path, runtime: str) -> Recognizer:
    settings = get_settings().model_copy(update={"runtime": runtime, "cache_dir": cache})
    return Recognizer(spec, MODELS / spec.directory, settings)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def _same(reference: list[Detection], converted: list[Detection]) -> None:
    assert [d.label for d in converted] == [d.label for d in reference]
    for ours, theirs in zip(converted, reference, strict=True):
        assert abs(ours.confidence - theirs.confidence) <= 0.01
        if theirs.box is not None:
            assert ours.box is not None and _iou(ours.box, theirs.box) >= 0.9


@pytest.mark.parametrize("runtime", CONVERTED)
@pytest.mark.parametrize("spec", INSTALLED, ids=lambda s: s.name)
def test_every_model_gives_opencvs_answers_on_every_photo(
        spec: ModelSpec, runtime: str, shared: Path, tmp_path: Path) -> None:
    opencv, converted = _recognizer(spec, tmp_path, "opencv"), _recognizer(spec, tmp_path, runtime)
    assert isinstance(opencv.runtime, OpenCvRuntime)
    side = opencv.input_size
    for photo in sorted(IMAGES.glob("*.jpg")):
        image = cv2.imread(str(photo))
        blob = cv2.dnn.blobFromImage(image, 1 / 255.0, (side, side), swapRB=True, crop=False)
        np.testing.assert_allclose(converted.runtime.forward(blob), opencv.runtime.forward(blob),
                                   atol=RAW_TOLERANCE, err_msg=f"{spec.name} on {photo.name}")
        _same(opencv(image), converted(image))
    assert converted.model_info["runtime"] == runtime and opencv.model_info["runtime"] == "opencv"
    assert converted.model_info["precision"] == "f32"


def _spec(kind: Any, cfg_path: Path, weights_path: Path, side: int) -> ModelSpec:
    def local(path: Path) -> ModelFile:
        return ModelFile(path.name, "", 0, None)

    return ModelSpec(kind, kind, local(cfg_path), local(weights_path), local(cfg_path), input_size=side)


@pytest.mark.parametrize(("cfg", "kind"), [(DETECTOR, "detector"), (CLASSIFIER, "classifier")])
def test_every_layer_type_converts_to_opencvs_outputs(tmp_path: Path, cfg: str, kind: Any) -> None:
    cfg_path, weights_path = network(tmp_path, cfg, kind)
    side = 64 if kind == "detector" else 32
    spec = _spec(kind, cfg_path, weights_path, side)
    blob = np.random.default_rng(1).random((1, 3, side, side), dtype=np.float32)
    reference = OpenCvRuntime(spec, tmp_path, threads=1).forward(blob)
    settings = get_settings().model_copy(update={"cache_dir": tmp_path, "cv_threads": 1})
    for runtime in (OnnxRuntime(spec, tmp_path, threads=1, cache=tmp_path / "onnx"),
                    OpenVinoRuntime(spec, tmp_path, settings, side)):
        converted = runtime.forward(blob)
        assert reference.shape == converted.shape and reference.any()
        # Random positive weights grow activations to 1e6 and beyond: there, float32's own precision is relative.
        np.testing.assert_allclose(converted, reference, atol=RAW_TOLERANCE, rtol=1e-5, err_msg=runtime.name)


@pytest.mark.parametrize(("cfg", "kind"), [(DETECTOR, "detector"), (CLASSIFIER, "classifier")])
def test_the_graph_is_written_in_the_lowest_ir_version_and_opset_it_needs(tmp_path: Path, cfg: str, kind: Any) -> None:
    """An older runtime (ONNX Runtime 1.30 refused IR version 14) loads what IRS writes."""
    import onnx
    from onnx import helper

    cfg_path, weights_path = network(tmp_path, cfg, kind)
    model = convert(cfg_path, weights_path).model
    (opset,) = model.opset_import
    assert (opset.domain, opset.version) == ("", OPSET)
    assert model.ir_version == helper.find_min_ir_version_for([opset]) == 7 < onnx.IR_VERSION
    onnx.checker.check_model(model, full_check=True)  # every node valid at this opset, shapes inferred


def test_a_layer_it_does_not_know_is_named_with_its_line_and_the_model_runs_on_opencv(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg_path, weights_path = network(tmp_path, CLASSIFIER, "classifier")
    cfg_path.write_text(CLASSIFIER.replace("[avgpool]", "[reorg]\nstride=2\n\n[avgpool]"))  # OpenCV knows it
    with pytest.raises(Unsupported, match=r"classifier.cfg line 30: layer \[reorg\] is not supported"):
        convert(cfg_path, weights_path)
    spec = _spec("classifier", cfg_path, weights_path, 32)
    settings = get_settings().model_copy(update={"runtime": "auto", "cache_dir": tmp_path})
    with caplog.at_level("WARNING"):
        chosen = load_runtime(spec, tmp_path, settings, 32)
    assert chosen.name == "opencv" and "line 30: layer [reorg]" in caplog.text


def test_the_converted_graph_is_cached_and_a_second_start_does_not_convert(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_path, weights_path = network(tmp_path, CLASSIFIER, "classifier")
    spec = _spec("classifier", cfg_path, weights_path, 32)
    OnnxRuntime(spec, tmp_path, threads=1, cache=tmp_path / "onnx")
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1

    def no_second_conversion(*_: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(runtimes, "convert", no_second_conversion)
    OnnxRuntime(spec, tmp_path, threads=1, cache=tmp_path / "onnx")


def test_reduced_precision_is_only_taken_where_it_is_honoured(tmp_path: Path) -> None:
    cfg_path, weights_path = network(tmp_path, CLASSIFIER, "classifier")
    spec = _spec("classifier", cfg_path, weights_path, 32)
    settings = get_settings().model_copy(update={"cache_dir": tmp_path, "precision": "bf16"})
    for runtime in ("auto", "onnxruntime", "opencv"):
        with pytest.raises(ModelError, match="IRS_PRECISION=bf16 needs IRS_RUNTIME=openvino"):
            load_runtime(spec, tmp_path, settings.model_copy(update={"runtime": runtime}), 32)
    chosen = load_runtime(spec, tmp_path, settings.model_copy(update={"runtime": "openvino"}), 32)
    import openvino

    # What the CPU took is what the result says: bf16 where the CPU has it, f32 where it has not.
    has_bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert (chosen.name, chosen.precision) == ("openvino", "bf16" if has_bf16 else "f32")
