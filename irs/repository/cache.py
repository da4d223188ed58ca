"""A repository model's files on a worker: fetched on first use, checked by sha256, kept within a size cap.

Each version has a folder ``IRS_CACHE_DIR/repository/NAME/<version>/``; a file is checked against the
manifest's size and sha256 before it takes its name there, and the folder counts as complete only when
its ``manifest.json`` is written, last. Past ``IRS_MODEL_CACHE_BYTES``, the least recently used
versions' folders are deleted (never the one just fetched).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from irs.aws.clients import client
from irs.inference.registry import ModelError, sha256_of
from irs.repository.manifest import FILE_NAMES, ROLES, Manifest, folder
from irs.settings import Settings

logger = logging.getLogger(__name__)


def installed(manifest: Manifest, settings: Settings) -> Path:
    """The folder holding this version's files, fetched and checked the first time."""
    root = settings.cache_dir / "repository"
    target = root / manifest.name / manifest.version
    done = target / "manifest.json"
    if done.exists():
        done.touch()  # recently used
        return target
    target.mkdir(parents=True, exist_ok=True)
    s3 = client("s3")
    for role in ROLES:
        expected = manifest.files[role]
        with tempfile.NamedTemporaryFile(dir=target, suffix=".part", delete=False) as part:
            s3.download_fileobj(settings.results_bucket, folder(manifest.name, manifest.version) + FILE_NAMES[role],
                                part)
        got = Path(part.name)
        if got.stat().st_size != expected.size or sha256_of(got) != expected.sha256:
            got.unlink()
            raise ModelError(f"{manifest.ref}: the stored {role} file does not match its manifest "
                             "(size or sha256); it was not used")
        got.replace(target / FILE_NAMES[role])
    done.write_text(manifest.model_dump_json())
    _trim(root, settings.model_cache_bytes, keep=target)
    return target


def _trim(root: Path, cap: int, keep: Path) -> None:
    """Delete the least recently used complete versions until the cache holds at most ``cap`` bytes."""
    versions = [m.parent for m in root.glob("*/*/manifest.json")]
    sizes = {v: sum(f.stat().st_size for f in v.iterdir() if f.is_file()) for v in versions}
    total = sum(sizes.values())
    for version in sorted(versions, key=lambda v: (v / "manifest.json").stat().st_mtime):
        if total <= cap:
            break
        if version != keep:
            shutil.rmtree(version, ignore_errors=True)
            total -= sizes[version]
            logger.info("model cache over %d bytes: removed %s", cap, version)
