"""Provisioning creates queues with dead-letter queues and private, self-cleaning buckets, and can be rerun."""

from __future__ import annotations

import json

from irs.aws import clients
from irs.aws.provision import provision
from irs.aws.queues import queue_names
from irs.settings import get_settings


def test_provisioning_twice_changes_nothing_and_every_queue_dead_letters(emulator) -> None:  # type: ignore[no-untyped-def]
    provision(say=lambda _: None)  # the emulator fixture provisioned once already
    sqs, settings = clients.client("sqs"), get_settings()
    for names in queue_names():
        url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        policy = json.loads(attributes["RedrivePolicy"])
        assert policy["deadLetterTargetArn"].endswith(f":{names.dead_letter}")
        assert int(policy["maxReceiveCount"]) == settings.redrive_receives == settings.max_receives + 1
        assert int(attributes["VisibilityTimeout"]) > settings.task_time_limit
        assert attributes["ReceiveMessageWaitTimeSeconds"] == "10"


def test_buckets_are_private_and_expire_what_they_hold(emulator) -> None:  # type: ignore[no-untyped-def]
    s3, settings = clients.client("s3"), get_settings()
    for bucket, prefix, days in ((settings.input_bucket, "uploads/", settings.upload_ttl_days),
                                 (settings.results_bucket, settings.results_prefix, settings.result_ttl_days)):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rule["Filter"]["Prefix"] == prefix and rule["Expiration"]["Days"] == days


def test_a_second_irs_on_the_same_buckets_is_refused_and_the_first_keeps_its_notices(emulator) -> None:  # type: ignore[no-untyped-def]
    """A bucket announces to one topic: provisioning another queue prefix on it would silence the first IRS."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    s3, bucket = clients.client("s3"), get_settings().results_bucket
    before = s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"]
    env = {**os.environ, "IRS_QUEUE_PREFIX": "irs-second-"}
    run = subprocess.run([sys.executable, "-m", "irs.cli", "provision"], env=env, cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 1 and "another IRS's topic" in run.stderr and "IRS_RESULTS_BUCKET" in run.stderr
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"] == before
