"""IRS in one process, for tests: ``classify.delay(key).get()`` runs the real task on the real model, now.

Celery's eager mode runs the task in the caller's process; moto's ``mock_aws``
stands in for S3 and SQS, with the buckets and queues provisioned as
``irs provision`` makes them, and the result document is stored as a worker
stores it. Everything is undone on exit: the mock, the app's configuration,
the environment, and every cached setting and client.

What it does not exercise: the broker (messages, acknowledgements, dead
letters), routing between pools, retries with backoff, workers' lifecycle.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

#: The Celery settings eager mode changes, restored on exit.
EAGER_CONF = {"task_always_eager": True, "task_store_eager_result": True}
#: Environment variables set for the duration: fake credentials that moto accepts, and no endpoint or env file.
ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "IRS_ENV_FILE": os.devnull}
CLEARED = ("IRS_ENDPOINT_URL", "IRS_BROKER_URL", "AWS_PROFILE")


class ModelUnavailable(RuntimeError):
    """The model is not installed; the message says how to fetch it."""


class ResultDocuments(Sequence[dict[str, Any]]):
    """The result documents stored so far, oldest request first; read afresh at every use."""

    def _all(self) -> list[dict[str, Any]]:
        from irs.aws import documents
        from irs.settings import get_settings

        found = [documents.get(key) for key, _ in documents.listing(get_settings().results_prefix)]
        return sorted((d for d in found if isinstance(d, dict)), key=lambda d: str(d.get("task_id", "")))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._all())


class MockedAws:
    """A context manager: S3, SQS and SNS mocked in this process (moto) and provisioned as ``irs provision``
    does, with fake credentials, no endpoint and no env file; all undone on exit."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.environment = {**ENVIRONMENT, **(environment or {})}
        self._saved_env: dict[str, str | None] = {}
        self._mock: Any = None

    def __enter__(self) -> MockedAws:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, before_mocking: Callable[[], None] | None = None) -> None:
        """Set the environment; run ``before_mocking`` (it may raise, and then all is undone); mock; provision."""
        from moto import mock_aws

        from irs.aws.provision import provision

        self._saved_env = {name: os.environ.get(name) for name in (*self.environment, *CLEARED)}
        os.environ.update(self.environment)
        for name in CLEARED:
            os.environ.pop(name, None)
        _forget_cached_state()
        try:
            if before_mocking is not None:
                before_mocking()
            self._mock = mock_aws()
            self._mock.start()
            provision(say=lambda _: None)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        _forget_cached_state()


class EagerIrs:
    """A context manager: IRS in this process until it exits. ``model`` overrides ``IRS_MODEL``."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.results = ResultDocuments()
        self.aws = MockedAws({"IRS_MODEL": model} if model else None)
        self._saved_conf: dict[str, Any] = {}
        self._saved_store: bool | None = None

    def __enter__(self) -> EagerIrs:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Mock AWS, provision it, and switch the app to eager mode; ModelUnavailable if the model is not here."""
        from irs.broker.app import app
        from irs.tasks import classify

        self.aws.start(before_mocking=_check_model)
        self._saved_conf = {name: app.conf[name] for name in EAGER_CONF}
        app.conf.update(EAGER_CONF)
        # A task reads task_store_eager_result when it is bound to the app, which classify already is.
        self._saved_store, classify.store_eager_result = classify.store_eager_result, True

    def stop(self) -> None:
        from irs.broker.app import app
        from irs.tasks import classify

        app.conf.update(self._saved_conf)
        if self._saved_store is not None:
            classify.store_eager_result, self._saved_store = self._saved_store, None
        self.aws.stop()

    def upload(self, image: bytes | str | Path, name: str | None = None) -> str:
        """Put an image (its bytes, or a file) where ``classify`` finds it; returns its key."""
        from irs.client import put_image

        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        name = name or (Path(image).name if not isinstance(image, bytes) else "image.jpg")
        key = f"uploads/test-{uuid.uuid4().hex[:12]}/{name}"
        put_image(key, data)
        return key


def _check_model() -> None:
    from irs.inference.registry import ModelError, resolve
    from irs.settings import get_settings

    try:
        resolve(get_settings().model)
    except ModelError as error:
        raise ModelUnavailable(str(error)) from None


def _forget_cached_state() -> None:
    """Settings, clients, queue URLs and loaded networks made for one environment must not serve another."""
    from irs.aws import clients, queues
    from irs.settings import get_settings
    from irs.worker.networks import networks

    get_settings.cache_clear()
    networks.cache_clear()
    clients.forget()
    queues.url.cache_clear()
