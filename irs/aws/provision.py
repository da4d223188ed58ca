"""Create what IRS needs in an AWS account (or the emulator): idempotent, safe to rerun.

For each pool (and, on an edge device, its own queue) a queue and its
dead-letter queue, with a redrive policy and a visibility timeout above the
task's hard time limit; the input and results buckets, private, with
lifecycle rules so uploads and results do not pile up.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from botocore.exceptions import ClientError

from irs.aws import events, feeds, queues
from irs.aws.clients import client, error_code
from irs.aws.queues import queue_names
from irs.settings import Settings, get_settings

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look at poison messages


def provision(settings: Settings | None = None, say: Callable[[str], None] = print, device_only: bool = False
              ) -> None:
    """Everything, or with ``device_only`` just an edge device's own queue (``irs edge add-device`` makes it)."""
    settings = settings or get_settings()
    sqs = client("sqs")
    for names in queue_names(settings):
        if device_only and names.pool != settings.device_queue:
            continue
        dlq_url = sqs.create_queue(QueueName=names.dead_letter, Attributes={
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})["QueueUrl"]
        dlq_arn = queues.arn(dlq_url)
        attributes = {
            "VisibilityTimeout": str(settings.visibility_timeout),
            "ReceiveMessageWaitTimeSeconds": "10",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": str(settings.redrive_receives)}),
        }
        try:
            url = sqs.create_queue(QueueName=names.queue, Attributes=attributes)["QueueUrl"]
        except ClientError as error:
            if error_code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # bring an older queue up to date
        say(f"queue {names.queue} -> dead letters to {names.dead_letter}")
    if device_only:
        return
    _bucket(settings.input_bucket, "uploads/", settings.upload_ttl_days, settings)
    say(f"bucket {settings.input_bucket} (uploads expire after {settings.upload_ttl_days} days)")
    _bucket(settings.results_bucket, settings.results_prefix, settings.result_ttl_days, settings)
    say(f"bucket {settings.results_bucket} (results expire after {settings.result_ttl_days} days)")
    _results_topic(settings)
    say(f"topic {feeds.topic_name()} <- a notice of every new result document")
    events.topic_arn()
    say(f"topic {events.topic_name()} <- jobs' notices (started, finished, failed)")
    say(f"queue {_watch_queue(settings)} <- the watched buckets' notices (irs watch)")


def _watch_queue(settings: Settings) -> str:
    """The watch queue (and its dead-letter queue), which S3 of this account may send to; its name."""
    sqs, names = client("sqs"), queues.named(queues.WATCH, settings.queue_prefix)
    dead = sqs.create_queue(QueueName=names.dead_letter, Attributes={
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})["QueueUrl"]
    url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    arn = queues.arn(url)
    account = arn.split(":")[4]  # the queue's own account: S3 of this account may send to it, no other
    sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": queues.arn(dead), "maxReceiveCount": str(
            settings.max_receives)}),
        "Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})})
    return names.queue


class BucketTaken(Exception):
    """The results bucket already announces its documents to another IRS's topic."""


def _results_topic(settings: Settings) -> str:
    """Have the results bucket announce each new result document on an SNS topic, which every
    listening process (each web server) subscribes a queue of its own to (:mod:`irs.aws.feeds`).

    A bucket announces to one topic: provisioning a second IRS (another queue prefix) on the same
    bucket would silence the first one's web tier, so that is refused, saying what to do instead."""
    sns = client("sns")
    arn = feeds.topic_arn()  # creates it the first time
    current = client("s3").get_bucket_notification_configuration(Bucket=settings.results_bucket)
    others = {c["TopicArn"] for c in current.get("TopicConfigurations", ())} - {arn}
    if others:
        raise BucketTaken(
            f"the bucket {settings.results_bucket} already announces its results to {sorted(others)[0]}, another "
            f"IRS's topic; give this one (queue prefix {settings.queue_prefix!r}) buckets of its own with "
            "IRS_INPUT_BUCKET and IRS_RESULTS_BUCKET, or remove that notification first")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sns:Publish",
            "Resource": arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{settings.results_bucket}"}}}]}))
    client("s3").put_bucket_notification_configuration(
        Bucket=settings.results_bucket, NotificationConfiguration={"TopicConfigurations": [{
            "Id": "irs-results", "TopicArn": arn, "Events": list(feeds.RESULT_EVENTS),
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": settings.results_prefix}]}}}]})
    return arn


def _bucket(name: str, prefix: str, days: int, settings: Settings) -> None:
    s3 = client("s3")
    try:
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": settings.region})
    except ClientError as error:
        if error_code(error) != "BucketAlreadyOwnedByYou":
            raise
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
        "ID": f"irs-expire-{prefix.strip('/') or 'all'}",
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }]})
