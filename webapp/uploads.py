"""Accepting uploads: check every file by its content, store it under a key the server makes, enqueue it.

A request is all or nothing: if any file is bad, nothing is stored or
enqueued, and the answer names each bad file and why. Files are read from the
spooled temporary files the form parser keeps them in: only each header is
read here, and each file is streamed to S3, never held whole in memory. The
user's file name is kept only as a label (in the response and the result); the key is
``uploads/web/<time>-<random>/<owner>/<n>.<format>``, so names can neither
collide nor reach another prefix, results list in the order they were
uploaded, and each key says whose it is.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from irs.aws.clients import patiently
from irs.broker.app import app
from irs.client import enqueue, put_image
from irs.inference.imaging import BadImage, ImageInfo, inspect_stream
from irs.repository.store import pin
from irs.results import ErrorKind
from irs.settings import get_settings
from webapp.security import Caller

WEB_PREFIX = "uploads/web/"
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "bmp": "bmp", "webp": "webp", "tiff": "tif", "ppm": "ppm"}
PATIENCE_S = 15.0  # how long an upload request rides out AWS trouble before it is answered 503
#: Files of one request stored at once. Each request has threads of its own, so one owner's big uploads never
#: queue another owner's single image behind their files (a request holds one of IRS_WEB_MAX_UPLOADS slots).
STORE_THREADS = 4


@dataclass(frozen=True)
class Upload:
    filename: str
    file: BinaryIO  # rewound by the header check
    size: int


@dataclass(frozen=True)
class Accepted:
    filename: str
    request_id: str
    image_key: str
    image: ImageInfo


class Rejected(Exception):
    """Bad uploads: ``problems`` maps each file name to what is wrong with it, ``kinds`` to the kind of wrong."""

    def __init__(self, problems: dict[str, str], kinds: dict[str, ErrorKind]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))
        self.problems = problems
        self.kinds = kinds

    @property
    def too_large(self) -> bool:
        """Whether a file was refused for its size: 413, where the rest is 415."""
        return any(kind in (ErrorKind.TOO_LARGE, ErrorKind.TOO_MANY_PIXELS) for kind in self.kinds.values())


def owner_of(image_key: str) -> str | None:
    """Whose upload an image key is (the web tier's keys only)."""
    parts = image_key.split("/")
    return parts[3] if image_key.startswith(WEB_PREFIX) and len(parts) == 5 else None


def may_see(caller: Caller, image_key: str) -> bool:
    """An admin sees every image (and its results); anyone else only what they uploaded through the web tier."""
    return caller.admin or owner_of(image_key) == caller.name


def check(files: list[Upload]) -> list[ImageInfo]:
    """Every file's header, or :class:`Rejected` naming each file that is not an acceptable image."""
    settings = get_settings()
    infos, problems, kinds = [], {}, {}
    for n, upload in enumerate(files):
        try:
            infos.append(inspect_stream(upload.file, upload.size, settings.max_image_bytes, settings.max_image_pixels))
        except BadImage as error:
            name = upload.filename or f"file {n + 1}"
            problems[name], kinds[name] = str(error), error.kind
    if problems:
        raise Rejected(problems, kinds)
    return infos


def accept(files: list[Upload], owner: str, model: str | None = None) -> list[Accepted]:
    """Check, store and enqueue every file, each for ``model`` (the workers' default when None; a repository
    model is pinned to its latest version once, before anything is stored: NotFound if there is none); the
    router picks each one's pool."""
    infos = check(files)
    model = pin(model, get_settings()) if model else None
    batch = f"{WEB_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(6)}/{owner}/"
    keys = [f"{batch}{n:04d}.{_EXTENSIONS[info.format]}" for n, info in enumerate(infos)]
    deadline = time.monotonic() + PATIENCE_S

    def store(key: str, file: BinaryIO) -> float:
        def put() -> float:
            file.seek(0)  # a retried upload starts again from the beginning
            return put_image(key, file)
        return patiently(put, deadline, f"storing {key}")

    with ThreadPoolExecutor(max_workers=min(STORE_THREADS, len(files)), thread_name_prefix="irs-upload") as pool:
        upload_ms = list(pool.map(store, keys, [f.file for f in files]))
    with app.producer_or_acquire() as producer:
        results = enqueue(keys, upload_ms, producer, deadline=deadline, model=model, owner=owner,
                          filenames=[upload.filename for upload in files])
    return [Accepted(upload.filename, result.id, key, info)
            for upload, result, key, info in zip(files, results, keys, infos, strict=True)]
