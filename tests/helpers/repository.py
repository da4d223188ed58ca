"""The model repository, as tests fill it."""

from __future__ import annotations

from pathlib import Path

from irs.repository import store
from irs.repository.check import check
from irs.repository.manifest import Manifest
from irs.settings import get_settings
from tests.conftest import MODELS


def add_renamed(name: str, label: str, tmp_path: Path) -> Manifest:
    """yolo-fastest-1.1 under another name, its 80 labels renamed ``<label>-<COCO index>``."""
    source = MODELS / "yolo-fastest-1.1"
    names = tmp_path / f"{name}-{label}.names"
    names.write_text("\n".join(f"{label}-{n}" for n in range(80)))
    paths = {"cfg": source / "yolo-fastest-1.1.cfg", "weights": source / "yolo-fastest-1.1.weights", "names": names}
    manifest = check(name, paths["cfg"], paths["weights"], names, get_settings())
    store.add(manifest, paths, get_settings())  # type: ignore[arg-type]
    return manifest
