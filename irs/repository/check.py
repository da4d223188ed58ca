"""Whether a team's own Darknet files make a model IRS can serve, decided before anything is stored.

The files are loaded the way a worker will load them and run once on a generated image; a model
whose output does not fit its names file, whose weights are the wrong size for its cfg, whose cfg
has a layer IRS cannot run, or that is over the size limits is refused with the reason.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from irs.repository.manifest import FILE_NAMES, NAME_PATTERN, Manifest, Role, StoredFile, version_of
from irs.settings import Settings
from irs.worker.darknet import Unsupported, convert, parse
from irs.worker.models import REGISTRY, ModelError, ModelFile, ModelSpec, sha256_of

TEXT_MAX_BYTES = 1024 * 1024  # a cfg or a names file; a real one is a few kilobytes
LABEL_MAX_CHARS = 200


class Refused(ValueError):
    """These files cannot be added; the message says why, in terms of the files."""


def check(name: str, cfg: Path, weights: Path, names: Path, settings: Settings,
          kind: str | None = None, input_size: int | None = None) -> Manifest:
    """The manifest of a model made of these files, or :class:`Refused`."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise Refused(f"model name {name!r}: use 1 to 63 lowercase letters, digits, '.', '_' or '-', "
                      "starting with a letter or digit (no '/' or '@')")
    if name in REGISTRY:
        raise Refused(f"{name!r} is a built-in model's name; choose another")
    limits: dict[Role, int] = {"cfg": TEXT_MAX_BYTES, "weights": settings.model_max_bytes, "names": TEXT_MAX_BYTES}
    paths: dict[Role, Path] = {"cfg": cfg, "weights": weights, "names": names}
    for role, path in paths.items():
        if not path.is_file():
            raise Refused(f"--{role} {path}: no such file")
        if not 0 < path.stat().st_size <= limits[role]:
            raise Refused(f"--{role} {path}: {path.stat().st_size} bytes; the limit is {limits[role]} "
                          "(IRS_MODEL_MAX_BYTES for weights)")
    try:
        sections = parse(cfg.read_text())
        labels = [line.strip() for line in names.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise Refused(f"the cfg and the names must be text: {error}") from None
    if not sections or sections[0].kind not in ("net", "network"):
        raise Refused(f"{cfg.name} is not a Darknet cfg: it must start with [net]")
    if any(len(label) > LABEL_MAX_CHARS for label in labels) or not labels:
        raise Refused(f"{names.name}: one label per line, each up to {LABEL_MAX_CHARS} characters")
    found = "detector" if any(s.kind in ("yolo", "region") for s in sections) else "classifier"
    if kind and kind != found:
        raise Refused(f"--kind {kind}, but {cfg.name} is a {found} ({'no ' if found == 'classifier' else ''}"
                      "[yolo] layer)")
    side = input_size or sections[0].integer("width", 0)
    if not 32 <= side <= 2048 or side % 32:
        raise Refused(f"input size {side}: a multiple of 32 from 32 to 2048 (--input-size)")
    try:
        convert(cfg, weights)
    except Unsupported as error:
        raise Refused(f"{cfg.name} and {weights.name} do not make a model IRS can run: {error}") from None
    _run_once(found, cfg, weights, names, side, len(labels), settings)
    files = {role: StoredFile(sha256=sha256_of(path), size=path.stat().st_size) for role, path in paths.items()}
    return Manifest(name=name, version=version_of(files, found, side), kind=found, input_size=side,  # type: ignore[arg-type]
                    labels=labels, files=files, added_at=datetime.now(UTC).isoformat(timespec="microseconds"))


def _run_once(kind: str, cfg: Path, weights: Path, names: Path, side: int, count: int, settings: Settings) -> None:
    """Load as a worker would (ONNX Runtime on the converted graph) and check the output fits the names."""
    from irs.worker.recognition import Recognizer

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for role, path in (("cfg", cfg), ("weights", weights), ("names", names)):
            shutil.copyfile(path, folder / FILE_NAMES[role])
        spec = local_spec("candidate", kind, side, count)
        try:
            recognizer = Recognizer(spec, folder, settings.model_copy(update={
                "runtime": "onnxruntime", "cache_dir": folder / "cache", "input_size": None}))
            blob = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
            output = recognizer.runtime.forward(blob)
        except (ModelError, RuntimeError, ValueError) as error:
            raise Refused(f"the model does not load or run: {error}") from None
    classes = output.shape[1] - 5 if kind == "detector" else output.size
    if classes != count:
        raise Refused(f"the model has {classes} classes but {names.name} has {count} labels")


def spec_of(manifest: Manifest) -> ModelSpec:
    """A stored version as the worker's loader knows models (its files in its cache folder)."""
    return local_spec(manifest.name, manifest.kind, manifest.input_size, len(manifest.labels), manifest)


def local_spec(name: str, kind: str, side: int, labels: int, manifest: Manifest | None = None) -> ModelSpec:
    """A repository model (or a candidate, without a manifest) as the worker's loader knows models: its files
    under their stored names."""
    def stored(role: Role) -> ModelFile:
        known = manifest.files[role] if manifest else None
        return ModelFile(FILE_NAMES[role], "", known.size if known else 0, known.sha256 if known else None)

    return ModelSpec(name, kind, stored("cfg"), stored("weights"), stored("names"),  # type: ignore[arg-type]
                     input_size=side, num_labels=labels, release=manifest.version if manifest else "")

