"""The stack deploys on the emulator's CloudFormation, and a worker given only its outputs serves images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from irs.aws import clients
from irs.deploy.cloudformation import DeployError, deploy, env_name, teardown, write_env
from tests.conftest import IMAGES, ROOT, Worker


def test_output_keys_become_irs_settings() -> None:
    assert env_name("InputBucket") == "IRS_INPUT_BUCKET"
    assert env_name("Ec2LaunchTemplate") == "IRS_EC2_LAUNCH_TEMPLATE"


def test_deploy_then_serve_an_image_with_nothing_provisioned_by_hand_then_tear_down(emulator, tmp_path: Path
                                                                                   ) -> None:  # type: ignore[no-untyped-def]
    vpc = clients.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    values = deploy("irs-e2e", {"Prefix": "irse2e", "VpcId": vpc}, say=lambda _: None)
    assert values["IRS_QUEUE_PREFIX"] == "irse2e-" and values["IRS_EC2_LAUNCH_TEMPLATE"] == "irse2e-worker"
    env_file = write_env(values, tmp_path / "irs.env", "irs-e2e")

    worker = Worker("deployed", "cloud", concurrency=1, extra_env=values)  # the stack's settings, nothing else
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRS_") or k in ("IRS_ENDPOINT_URL",
                                                                                         "IRS_MODEL_DIR")}
        run = subprocess.run([sys.executable, "-m", "irs.cli", "classify", "--json", str(IMAGES / "dog.jpg")],
                             cwd=ROOT, env={**env, "IRS_ENV_FILE": str(env_file)}, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        document = json.loads(run.stdout)
        assert "dog" in document["summary"] and document["worker"].startswith("deployed@")
    finally:
        worker.stop()

    with pytest.raises(DeployError, match="--empty-buckets"):
        teardown("irs-e2e", empty_buckets=False, say=lambda _: None)
    teardown("irs-e2e", empty_buckets=True, say=lambda _: None)
    names = {b["Name"] for b in clients.client("s3").list_buckets()["Buckets"]}
    assert values["IRS_INPUT_BUCKET"] not in names and values["IRS_RESULTS_BUCKET"] not in names
    queues = clients.client("sqs").list_queues(QueueNamePrefix="irse2e-").get("QueueUrls", [])
    assert queues == []
