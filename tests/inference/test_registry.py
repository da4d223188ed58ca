"""Models resolve from IRS_MODEL_DIR, then the cache; fetching checks size and sha256."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from irs.inference.registry import REGISTRY, ModelError, fetch, find_dir, resolve
from irs.settings import Settings
from tests.conftest import MODELS


@pytest.fixture
def mirror(tmp_path: Path, shared: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server holding a copy of tiny-darknet's files."""
    root = tmp_path / "mirror"
    shutil.copytree(MODELS / "tiny-darknet", root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def empty_settings(tmp_path: Path) -> Settings:
    return Settings(model_dir=None, cache_dir=tmp_path / "cache")


def test_the_registry_covers_the_shared_and_the_documented_models() -> None:
    assert {"yolo-fastest-1.1-xl", "yolo-fastest-1.1", "mobilenetv2-yolov3-nano", "tiny-darknet",
            "yolov3-tiny", "yolov4-tiny"} <= REGISTRY.keys()
    assert all(spec.weights.sha256 and spec.weights.url.startswith("https://") for spec in REGISTRY.values())


def test_models_resolve_from_the_model_dir(shared: Path) -> None:
    spec, directory = resolve("yolo-fastest-1.1-xl", Settings(model_dir=MODELS))
    assert directory == MODELS / "yolo-fastest-1.1-xl"


def test_a_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"irs model fetch yolov3-tiny"):
        resolve("yolov3-tiny", empty_settings(tmp_path))


def test_an_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match="known models: yolo-fastest-1.1-xl"):
        resolve("yolo9000")


def test_fetch_downloads_into_the_cache_and_the_model_then_resolves(tmp_path: Path, mirror) -> None:  # type: ignore[no-untyped-def]
    url, _ = mirror
    settings = empty_settings(tmp_path)
    seen: list[str] = []
    target = fetch("tiny-darknet", settings, progress=lambda name, done, total: seen.append(name), url_base=url)
    assert find_dir(REGISTRY["tiny-darknet"], settings) == target
    assert {"tiny.cfg", "tiny.weights"} <= set(seen)


def test_fetch_refuses_a_file_that_fails_its_checksum(tmp_path: Path, mirror) -> None:  # type: ignore[no-untyped-def]
    url, root = mirror
    weights = root / "tiny.weights"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF  # same size, different content
    weights.write_bytes(bytes(data))
    settings = empty_settings(tmp_path)
    with pytest.raises(ModelError, match="sha256"):
        fetch("tiny-darknet", settings, url_base=url)
    assert not (settings.model_cache_dir / "tiny-darknet" / "tiny.weights").exists()


def test_fetch_reports_an_unreachable_server_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="could not download"):
        fetch("tiny-darknet", empty_settings(tmp_path), url_base="http://127.0.0.1:9")


def test_irs_model_list_shows_where_each_model_is(shared: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "irs.cli", "model", "list"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "300"}, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "yolo-fastest-1.1-xl" in run.stdout and str(MODELS / "yolo-fastest-1.1-xl") in run.stdout
    assert "yolov3-tiny" in run.stdout and "not installed" in run.stdout
