"""Whether a team's own Darknet files make a model IRS can serve, decided before anything is stored.

The files are loaded the way a worker will load them and run once on a generated image; a model
whose output does not fit its names file, whose weights are the wrong size for its cfg, whose cfg
has a layer IRS cannot run, or that is over the size limits is refused with the reason.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from irs.repository.manifest import FILE_NAMES, NAME_PATTERN, Manifest, Role, StoredFile, version_of
from irs.settings import Settings
from irs.worker.darknet import Unsupported, parse
from irs.worker.models import REGISTRY, ModelFile, ModelSpec, sha256_of
from irs.worker.runtimes import OnnxRuntime

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
    _run_once(found, cfg, weights, names, side, len(labels))
    files = {role: StoredFile(sha256=sha256_of(path), size=path.stat().st_size) for role, path in paths.items()}
    return Manifest(name=name, version=version_of(files, found, side), kind=found, input_size=side,  # type: ignore[arg-type]
                    labels=labels, files=files, added_at=datetime.now(UTC).isoformat(timespec="microseconds"))


def _run_once(kind: str, cfg: Path, weights: Path, names: Path, side: int, count: int) -> None:
    """Convert and run the model as a worker would (ONNX Runtime, one thread) and check that its output fits the
    names. The files are linked, not copied, into a scratch folder, under their own names so that an error
    names them."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        cfg_name, weights_name = (cfg.name, weights.name) if cfg.name != weights.name else ("a.cfg", "a.weights")
        (folder / cfg_name).symlink_to(cfg.resolve())
        (folder / weights_name).symlink_to(weights.resolve())
        spec = ModelSpec("candidate", kind, ModelFile(cfg_name, "", 0, None),  # type: ignore[arg-type]
                         ModelFile(weights_name, "", 0, None), ModelFile(names.name, "", 0, None), input_size=side)
        try:
            runtime = OnnxRuntime(spec, folder, threads=1, cache=folder / "cache")
            output = runtime.forward(np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32))
        except Unsupported as error:
            raise Refused(f"{cfg.name} and {weights.name} do not make a model IRS can run: {error}") from None
        except (RuntimeError, ValueError) as error:
            raise Refused(f"the model does not load or run: {error}") from None
    classes = output.shape[1] - 5 if kind == "detector" else output.size
    if classes != count:
        raise Refused(f"the model has {classes} classes but {names.name} has {count} labels")


def spec_of(manifest: Manifest) -> ModelSpec:
    """A stored version as the worker's loader knows models: its files under their stored names, in its folder
    of the worker's cache (:mod:`irs.repository.cache`)."""
    def stored(role: Role) -> ModelFile:
        return ModelFile(FILE_NAMES[role], "", manifest.files[role].size, manifest.files[role].sha256)

    return ModelSpec(manifest.name, manifest.kind, stored("cfg"), stored("weights"), stored("names"),
                     input_size=manifest.input_size, num_labels=len(manifest.labels), release=manifest.version)
