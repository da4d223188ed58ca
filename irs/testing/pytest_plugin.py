"""IRS's pytest plugin (registered through the ``pytest11`` entry point): test your code's use of IRS.

Fixtures:

- ``irs_eager``: ``classify.delay(key).get()`` runs in process on the real model, with AWS mocked
  (:class:`irs.testing.eager.EagerIrs`). Skips the test, saying how to fetch the model, when the model
  is neither in ``IRS_MODEL_DIR`` nor in the cache.
- ``irs_upload(path_or_bytes, name=None) -> key``: an image where ``classify`` finds it.
- ``irs_results``: the result documents stored during the test.

``@pytest.mark.irs_model("yolo-fastest-1.1")`` or ``--irs-model NAME`` picks another model (a smaller
one is faster); ``IRS_MODEL`` is the default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from irs.testing.eager import EagerIrs, ModelUnavailable, ResultDocuments


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("irs").addoption("--irs-model", default=None, metavar="NAME",
                                     help="the model irs_eager runs (default: IRS_MODEL)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "irs_model(name): the model the irs_eager fixture runs for this test")


@pytest.fixture
def irs_eager(request: pytest.FixtureRequest) -> Iterator[EagerIrs]:
    marker = request.node.get_closest_marker("irs_model")
    eager = EagerIrs(marker.args[0] if marker else request.config.getoption("irs_model"))
    try:
        eager.start()
    except ModelUnavailable as error:
        pytest.skip(f"IRS's model is not available: {error}")
    try:
        yield eager
    finally:
        eager.stop()


@pytest.fixture
def irs_upload(irs_eager: EagerIrs) -> Callable[..., str]:
    def upload(image: bytes | str | Path, name: str | None = None) -> str:
        return irs_eager.upload(image, name)

    return upload


@pytest.fixture
def irs_results(irs_eager: EagerIrs) -> ResultDocuments:
    return irs_eager.results
