"""One identity per edge device: ``irs edge add-device NAME`` and ``irs edge remove-device NAME``.

A device is an IAM user of its own whose policy names only the device's own
things: its queue (made here, by the administrator: no device creates or
configures a queue), its uploads under ``uploads/devices/NAME/``, its report
``fleet/edge/NAME.json``. Besides those it serves the shared edge queue, so it
reads the uploads of web and CLI users, but never another device's: a device's
own images go to its own queue or to the cloud, never to the shared edge queue
(SECURITY.md says why). One stolen SD card opens one device, and
``remove-device`` closes it.

The policy is built from concrete names, not templates, so that the test of
enforced least privilege and a reader see exactly what AWS evaluates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from irs.aws.clients import client, error_code
from irs.aws.provision import provision
from irs.aws.queues import named, names
from irs.deploy.template import WORKER_QUEUE_ACTIONS, allow
from irs.pools import CLOUD, EDGE, POOLS, device_queue
from irs.repository.manifest import PREFIX as MODELS
from irs.settings import Settings, get_settings
from irs.sources import Location

Json = dict[str, Any]
Say = Callable[[str], None]
#: A device's name: short, and valid in a queue name, an IAM user name and an S3 key alike.
DEVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
POLICY_NAME = "irs-edge-device"
UPLOADS = "uploads/"
DEVICE_UPLOADS = "uploads/devices/"


class DeviceError(RuntimeError):
    """A device can't be added or removed; the message says why."""


@dataclass(frozen=True)
class Place:
    """Where a deployment lives: what a device's policy names."""

    partition: str
    region: str
    account: str
    queue_prefix: str
    input_bucket: str
    results_bucket: str
    results_prefix: str
    sources: tuple[Location, ...] = ()  # IRS_SOURCE_BUCKETS: read, as the workers' role reads them

    def queue(self, name: str) -> str:
        """A queue by its full name (``<prefix><pool>``, see :func:`irs.aws.queues.named`)."""
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{name}"

    def objects(self, bucket: str, key: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}/{key}"


def user_name(queue_prefix: str, device: str) -> str:
    return f"{queue_prefix}{device_queue(device)}"


def check_name(device: str) -> str:
    if not DEVICE_NAME.match(device):
        raise DeviceError(f"{device!r} is not a device name: up to 32 lower-case letters, digits and dashes, "
                          "starting with a letter or digit")
    return device


def device_statements(place: Place, device: str) -> list[Json]:
    """Everything one device may do, and nothing of another device's."""
    own = named(device_queue(device) or "", place.queue_prefix)
    edge = named(EDGE, place.queue_prefix)
    results = place.results_bucket
    return [
        allow(WORKER_QUEUE_ACTIONS, [place.queue(own.queue), place.queue(edge.queue)]),
        allow(["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
               [place.queue(own.dead_letter), place.queue(edge.dead_letter)]),
        # Its images that the router sends to the cloud; the router reads every pool's depth.
        allow(["sqs:SendMessage"], [place.queue(named(CLOUD, place.queue_prefix).queue)]),
        allow(["sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
               [place.queue(named(pool, place.queue_prefix).queue) for pool in POOLS]),
        allow(["sqs:ListQueues"], ["*"]),  # kombu finds its queues by prefix; ListQueues has no resource
        # Uploads: its own, written under its prefix; the shared edge queue's, read; another device's, never.
        allow(["s3:PutObject"], [place.objects(place.input_bucket, f"{DEVICE_UPLOADS}{device}/*")]),
        allow(["s3:GetObject"], [place.objects(place.input_bucket, f"{UPLOADS}*")]),
        _deny(["s3:GetObject"], [place.objects(place.input_bucket, f"{DEVICE_UPLOADS}*")]),
        # Results: the documents of what it serves (written once, by IRS's conditional writes) and of its images.
        allow(["s3:GetObject", "s3:PutObject"], [place.objects(results, f"{place.results_prefix}*")]),
        # Its own report, and what the router reads of the others' and of the autoscaler's.
        allow(["s3:PutObject", "s3:DeleteObject"], [place.objects(results, f"fleet/{EDGE}/{device}.json")]),
        allow(["s3:GetObject"], [place.objects(results, "fleet/*"), place.objects(results, "autoscaler/*")]),
        allow(["s3:ListBucket"], [f"arn:{place.partition}:s3:::{results}"],
               {"StringLike": {"s3:prefix": [f"{place.results_prefix}*", "fleet/*", f"{MODELS}*"]}}),
        # The model repository, read only: requests it sends or serves may name a repository model.
        allow(["s3:GetObject"], [place.objects(results, f"{MODELS}*")]),
        *([allow(["s3:GetObject"], [place.objects(s.bucket, f"{s.key}*") for s in place.sources])]
          if place.sources else []),
    ]


def _deny(actions: list[str], resources: list[str]) -> Json:
    return {"Effect": "Deny", "Action": actions, "Resource": resources}


def here(settings: Settings | None = None) -> Place:
    """The deployment the caller's settings and credentials point at."""
    settings = settings or get_settings()
    caller = client("sts").get_caller_identity()
    return Place(partition=caller["Arn"].split(":")[1], region=settings.region, account=caller["Account"],
                 queue_prefix=settings.queue_prefix, input_bucket=settings.input_bucket,
                 results_bucket=settings.results_bucket, results_prefix=settings.results_prefix,
                 sources=settings.sources)


def add(device: str, say: Say = print) -> dict[str, str]:
    """Make the device's queue and identity; returns the settings of its ``/etc/irs/irs.env``."""
    settings = get_settings()
    place = here(settings)
    user = user_name(settings.queue_prefix, check_name(device))
    iam = client("iam")
    try:
        iam.create_user(UserName=user, Tags=[{"Key": "irs:device", "Value": device}])
    except ClientError as error:
        if error_code(error) == "EntityAlreadyExists":
            raise DeviceError(f"device {device} exists already (IAM user {user}); to give it new keys, "
                              f"`irs edge remove-device {device}` first") from None
        raise
    iam.put_user_policy(UserName=user, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": device_statements(place, device)}))
    provision(settings.model_copy(update={"device_id": device}), say=say, device_only=True)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    say(f"IAM user {user}: rights on device {device}'s own queue, uploads and report only")
    return {"IRS_REGION": settings.region, "IRS_QUEUE_PREFIX": settings.queue_prefix,
            "IRS_INPUT_BUCKET": settings.input_bucket, "IRS_RESULTS_BUCKET": settings.results_bucket,
            "IRS_DEVICE_ID": device, "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def remove(device: str, say: Say = print) -> None:
    """Revoke the device: its keys, its policy and its user, then its queue and dead-letter queue."""
    settings = get_settings()
    user = user_name(settings.queue_prefix, check_name(device))
    iam = client("iam")
    try:
        for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            raise DeviceError(f"no device {device} (no IAM user {user})") from None
        raise
    for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=policy)
    iam.delete_user(UserName=user)
    say(f"IAM user {user} deleted: its keys no longer work")
    sqs = client("sqs")
    queues = names(device_queue(device) or "", settings)
    for queue in (queues.queue, queues.dead_letter):
        try:
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"])
            say(f"queue {queue} deleted")
        except ClientError as error:
            if error_code(error) != "AWS.SimpleQueueService.NonExistentQueue":
                raise
