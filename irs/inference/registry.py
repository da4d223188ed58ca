"""The model registry: which Darknet models IRS knows, where their files are, how to get them.

A model's files are looked for in ``IRS_MODEL_DIR/<name>/`` first, then in the
cache (``IRS_CACHE_DIR/models/<name>/``). ``irs model fetch NAME`` downloads
into the cache from the documented public URLs and checks every file's size
and sha256 before it is kept.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from irs.settings import Settings, get_settings

Kind = Literal["detector", "classifier"]

_FASTEST = "https://raw.githubusercontent.com/dog-qiuqiu/Yolo-Fastest/96a2900d163196c396e73f3fdab04ca4dd9a2f70/ModelZoo/yolo-fastest-1.1_coco"
_NANO = "https://raw.githubusercontent.com/dog-qiuqiu/MobileNet-Yolo/86c05bfc4e508d54a459a469faecc35a113454c1/MobileNetV2-YOLOv3-Nano/COCO"
_DARKNET = "https://raw.githubusercontent.com/pjreddie/darknet/f6afaabcdf85f77e7aff2ec55c020c0e297c77f9"
_COCO_NAMES_SHA = "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84"


class ModelError(RuntimeError):
    """A model cannot be used; the message says how to fix that."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str
    size: int
    sha256: str | None  # None: no published checksum; the size alone is checked


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    cfg: ModelFile
    weights: ModelFile
    labels: ModelFile
    input_size: int
    num_labels: int | None = None  # a classifier uses the first N lines of its labels file
    notes: str = ""
    folder: str = ""  # directory name under IRS_MODEL_DIR, when it is not the model's name
    extra: tuple[ModelFile, ...] = field(default=())
    release: str = ""  # a repository model's version (irs.repository); empty for a built-in

    @property
    def directory(self) -> str:
        return self.folder or self.name

    @property
    def files(self) -> tuple[ModelFile, ...]:
        return (self.cfg, self.weights, self.labels, *self.extra)

    @property
    def version(self) -> str:
        """Short content id (the repository version, or the weights'), so a result names what produced it."""
        return (self.release or self.weights.sha256 or f"size{self.weights.size}")[:12]

    @property
    def labels_source(self) -> str:
        where = f"models/{self.name}/{self.release}/" if self.release else "registry: "
        return where + self.labels.name


def _coco(base: str) -> ModelFile:
    return ModelFile("coco.names", f"{base}/coco.names", 625, _COCO_NAMES_SHA)


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolo-fastest-1.1-xl",
            kind="detector",
            cfg=ModelFile("yolo-fastest-1.1-xl.cfg", f"{_FASTEST}/yolo-fastest-1.1-xl.cfg", 9_696,
                          "c458427acc4fbeabceff4528ef7b65b066c0308ce599460f8ba299eba63abad3"),
            weights=ModelFile("yolo-fastest-1.1-xl.weights", f"{_FASTEST}/yolo-fastest-1.1-xl.weights", 3_693_964,
                              "fac5fb41786c1f38f04972a658443b189f48720d7d117f9a044100e98a35b0c5"),
            labels=_coco(_FASTEST),
            input_size=320,
            notes="COCO-80 detector, the default: best accuracy of the small detectors.",
        ),
        ModelSpec(
            name="yolo-fastest-1.1",
            kind="detector",
            cfg=ModelFile("yolo-fastest-1.1.cfg", f"{_FASTEST}/yolo-fastest-1.1.cfg", 9_685,
                          "f6df5775c1e862998cf69046eba9265be3ae84dfe8b2caab7529823f0795bf70"),
            weights=ModelFile("yolo-fastest-1.1.weights", f"{_FASTEST}/yolo-fastest-1.1.weights", 1_384_268,
                              "1c445c42bbd6df63edea2cc69f99667b5650d663ca11e34b116240740cd42890"),
            labels=_coco(_FASTEST),
            input_size=320,
            notes="COCO-80 detector, the fastest; suits the edge.",
        ),
        ModelSpec(
            name="mobilenetv2-yolov3-nano",
            kind="detector",
            cfg=ModelFile("MobileNetV2-YOLOv3-Nano-coco.cfg", f"{_NANO}/MobileNetV2-YOLOv3-Nano-coco.cfg", 7_000,
                          "f9c93b9167275c94975984c8b1d8adbff990f2e3a983adc79d02e748d6ed763b"),
            weights=ModelFile("MobileNetV2-YOLOv3-Nano-coco.weights", f"{_NANO}/MobileNetV2-YOLOv3-Nano-coco.weights",
                              3_564_300, "60a6c2a86735fd39ff54d61f9a16f3ac3fe24a8b2e0d7740585bf2b54a5db81a"),
            labels=_coco(_NANO),
            input_size=320,
            notes="COCO-80 detector.",
            folder="mobilenetv2-yolov3-nano-coco",
        ),
        ModelSpec(
            name="tiny-darknet",
            kind="classifier",
            cfg=ModelFile("tiny.cfg", f"{_DARKNET}/cfg/tiny.cfg", 1_751,
                          "54732dd230c45c22b5a6fe392274d1cbd9e6147bf6640fe76559d5f4bc3c41bf"),
            weights=ModelFile("tiny.weights", "https://pjreddie.com/media/files/tiny.weights", 4_185_968,
                              "f1c3fe6b9bab9af69ae2a090682df3e5b9d83accba69551315f030ce1b37ea81"),
            labels=ModelFile("imagenet.shortnames.list", f"{_DARKNET}/data/imagenet.shortnames.list", 246_356,
                             "6ba751a14e6470ccaf740476ab79df657925d29d9f29311629eed20f7efb0ed5"),
            input_size=224,
            num_labels=1000,
            notes="ImageNet-1k classifier: top-k labels, no boxes.",
        ),
        ModelSpec(
            name="yolov3-tiny",
            kind="detector",
            cfg=ModelFile("yolov3-tiny.cfg", f"{_DARKNET}/cfg/yolov3-tiny.cfg", 1_915,
                          "84eb7a675ef87c906019ff5a6e0effe275d175adb75100dcb47f0727917dc2c7"),
            weights=ModelFile("yolov3-tiny.weights", "https://pjreddie.com/media/files/yolov3-tiny.weights",
                              35_434_956, "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
            labels=_coco(f"{_DARKNET}/data"),
            input_size=416,
            notes="COCO-80 detector; download only (35 MB).",
        ),
        ModelSpec(
            name="yolov4-tiny",
            kind="detector",
            cfg=ModelFile("yolov4-tiny.cfg",
                          "https://raw.githubusercontent.com/AlexeyAB/darknet/master/cfg/yolov4-tiny.cfg", 3_231, None),
            weights=ModelFile(
                "yolov4-tiny.weights",
                "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v4_pre/yolov4-tiny.weights",
                24_251_276, "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"),
            labels=_coco(f"{_DARKNET}/data"),
            input_size=416,
            notes="COCO-80 detector; download only (24 MB). Its cfg has no published checksum.",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None


def candidate_dirs(spec: ModelSpec, settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    dirs = [settings.model_dir / spec.directory] if settings.model_dir else []
    return [*dirs, settings.model_cache_dir / spec.directory]


def find_dir(spec: ModelSpec, settings: Settings | None = None) -> Path | None:
    """The first directory that holds every file of the model, or None."""
    for directory in candidate_dirs(spec, settings):
        if all((directory / f.name).is_file() for f in spec.files):
            return directory
    return None


def installed(settings: Settings | None = None) -> list[str]:
    """The built-in models whose files this machine holds: those its worker can serve."""
    return [name for name, spec in REGISTRY.items() if find_dir(spec, settings) is not None]


def resolve(name: str, settings: Settings | None = None) -> tuple[ModelSpec, Path]:
    """The model's spec and the directory of its files, or a ModelError saying how to get them."""
    spec = get_spec(name)
    directory = find_dir(spec, settings)
    if directory is None:
        looked = ", ".join(str(d) for d in candidate_dirs(spec, settings))
        raise ModelError(
            f"model {name!r} is not installed (looked in {looked}). "
            f"Run `irs model fetch {name}`, or set IRS_MODEL_DIR to a directory holding {name}/."
        )
    return spec, directory


Progress = Callable[[str, int, int], None]  # file name, bytes done, bytes total


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, settings: Settings | None = None, progress: Progress | None = None,
          url_base: str | None = None) -> Path:
    """Download a model into the cache, checking size and sha256; return its directory.

    ``url_base`` replaces each file's URL by ``url_base/<file name>``, for a mirror.
    Files already present and intact are not downloaded again.
    """
    settings = settings or get_settings()
    spec = get_spec(name)
    target = settings.model_cache_dir / spec.directory
    target.mkdir(parents=True, exist_ok=True)
    for model_file in spec.files:
        path = target / model_file.name
        if path.is_file() and _intact(path, model_file):
            continue
        url = f"{url_base.rstrip('/')}/{model_file.name}" if url_base else model_file.url
        _download(url, path, model_file, progress)
    return target


def _intact(path: Path, model_file: ModelFile) -> bool:
    if path.stat().st_size != model_file.size:
        return False
    return model_file.sha256 is None or sha256_of(path) == model_file.sha256


def _download(url: str, path: Path, model_file: ModelFile, progress: Progress | None) -> None:
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while block := response.read(1 << 16):
                out.write(block)
                digest.update(block)
                done += len(block)
                if done > model_file.size:
                    raise ModelError(f"{url} is larger than the expected {model_file.size} bytes")
                if progress:
                    progress(model_file.name, done, model_file.size)
        if done != model_file.size:
            raise ModelError(f"{url} gave {done} bytes, expected {model_file.size}")
        if model_file.sha256 and digest.hexdigest() != model_file.sha256:
            raise ModelError(f"{url} failed its sha256 check: got {digest.hexdigest()}, expected {model_file.sha256}")
        os.replace(tmp_name, path)
    except OSError as error:
        raise ModelError(f"could not download {url}: {error}") from error
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
