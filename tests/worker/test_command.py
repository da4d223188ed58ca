"""One worker command line: what `irs worker` runs on an EC2 host or a Pi is what the local stack runs."""

from __future__ import annotations

import shlex

from click.testing import CliRunner

from irs.cli.main import main
from irs.settings import Settings
from irs.worker import command


def test_a_cloud_host_runs_celery_on_the_cloud_and_jobs_queues_with_its_concurrency() -> None:
    argv = command.from_settings(Settings(pool_name="cloud", concurrency=2, instance_id="i-123"))
    assert "celery -A irs worker -Q cloud,jobs -c 2 -n i-123@%h" in shlex.join(argv)


def test_a_pi_serves_the_shared_edge_queue_and_its_own() -> None:
    argv = command.from_settings(Settings(pool_name="edge", device_id="kitchen", concurrency=1))
    assert "-Q edge,device-kitchen -c 1" in shlex.join(argv)


def test_irs_worker_prints_the_command_its_settings_describe(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IRS_POOL_NAME", "edge")
    monkeypatch.setenv("IRS_DEVICE_ID", "porch")
    monkeypatch.setenv("IRS_CONCURRENCY", "3")
    from irs.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["worker", "--print", "--without-mingle"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "celery -A irs worker -Q edge,device-porch -c 3" in result.output
    assert result.output.strip().endswith("--without-mingle")  # extra arguments go to celery
