"""The model repository in S3: add a checked version, list the versions, remove one.

Files first, the manifest last and only if absent (a conditional write), so a reader sees a whole
version or none; removal deletes the manifest first, for the same reason. Manifests read back are
validated (:class:`Manifest`); one that does not validate is skipped with a warning, never served.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from irs.aws import documents
from irs.aws.clients import client
from irs.contract import MODEL_REF, split_ref
from irs.inference.registry import REGISTRY
from irs.repository.manifest import (
    FILE_NAMES,
    PREFIX,
    ROLES,
    Manifest,
    Role,
    folder,
    manifest_key,
)
from irs.settings import Settings

logger = logging.getLogger(__name__)
MANIFEST_MAX_BYTES = 4 * 1024 * 1024  # labels come from a names file of at most 1 MiB: a manifest stays far below


class NotFound(LookupError):
    """No such model or version in the repository."""


def add(manifest: Manifest, paths: dict[Role, Path], settings: Settings,
        progress: Callable[[str], None] = lambda _: None) -> bool:
    """Store a checked version; False if this very version was there already."""
    s3, bucket = client("s3"), settings.results_bucket
    if documents.get_bytes(manifest_key(manifest.name, manifest.version)) is not None:
        return False
    base = folder(manifest.name, manifest.version)
    for role in ROLES:
        progress(f"uploading {paths[role].name} ({manifest.files[role].size:,} bytes)")
        s3.upload_file(str(paths[role]), bucket, base + FILE_NAMES[role],
                       ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    # False when someone added the same files at the same moment: the same version.
    return documents.create(manifest_key(manifest.name, manifest.version), manifest.model_dump_json(indent=1))


def versions(settings: Settings, name: str | None = None) -> list[Manifest]:
    """Every stored version (of ``name``, when given), oldest first."""
    s3, bucket = client("s3"), settings.results_bucket
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{PREFIX}{name}/" if name else PREFIX):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/manifest.json") and item["Size"] <= MANIFEST_MAX_BYTES:
                manifest = _read(item["Key"])
                if manifest is not None:
                    found.append(manifest)
    return sorted(found, key=lambda m: (m.name, m.added_at))


def latest(stored: list[Manifest]) -> dict[str, str]:
    """Each name's latest version, the one a bare ``NAME`` means, among what :func:`versions` listed."""
    return {m.name: m.version for m in stored}  # oldest first: a name's newest is written last


def find(ref: str, settings: Settings) -> Manifest:
    """The version ``NAME`` (the latest) or ``NAME@<version prefix>`` names, or :class:`NotFound`.

    The name's versions are listed, a whole version too: on AWS, a GET of a missing key under a prefix one may
    list only by condition answers AccessDenied, not NoSuchKey, and a removed version must read as removed."""
    name, prefix = split_ref(ref)
    if prefix is not None and len(prefix) == 64:
        whole = [m for m in versions(settings, name) if m.version == prefix]
        if not whole:
            raise NotFound(f"{name}@{prefix[:12]} is not in the repository (removed, or never added)")
        return whole[0]
    stored = versions(settings, name) if name else []
    if not stored:
        raise NotFound(f"no model {name!r} in the repository (irs model list shows what there is)")
    if prefix is None:
        return stored[-1]  # versions() lists oldest first
    matches = [m for m in stored if m.version.startswith(prefix.lower())]
    if len(matches) != 1:
        known = ", ".join(m.short for m in stored)
        raise NotFound(f"{ref}: {'no' if not matches else 'more than one'} version of {name} starts with "
                       f"{prefix!r} (versions: {known})")
    return matches[0]


def pin(ref: str, settings: Settings) -> str:
    """``ref`` with the whole version it means now: a request pinned at submission keeps that version while
    it waits, whatever is added meanwhile. A built-in's name, or a whole version, is returned as it is."""
    if not re.fullmatch(MODEL_REF, ref):
        raise NotFound(f"{ref!r} is not a model IRS accepts: NAME or NAME@VERSION, lowercase, no '/'")
    name, version = split_ref(ref)
    if (name in REGISTRY and version is None) or (version is not None and len(version) == 64):
        return ref
    return f"{name}@{find(ref, settings).version}"


def remove(manifest: Manifest, settings: Settings) -> None:
    s3, bucket = client("s3"), settings.results_bucket
    s3.delete_object(Bucket=bucket, Key=manifest_key(manifest.name, manifest.version))  # gone for readers now
    base = folder(manifest.name, manifest.version)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": base + FILE_NAMES[r]} for r in ROLES]})


def _read(key: str) -> Manifest | None:
    body = documents.get_bytes(key)
    if body is None:
        return None  # removed since it was listed
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as error:
        logger.warning("skipping %s: not a valid model manifest (%d errors)", key, error.error_count())
        return None
    if manifest_key(manifest.name, manifest.version) != key:
        logger.warning("skipping %s: it names another place (%s@%s)", key, manifest.name, manifest.short)
        return None
    return manifest
