"""Watching a prefix: S3 announces each new object under it to IRS's watch queue, and the janitor (which runs
beside the autoscaler) sends each on as a request to the cloud's queue, or to the later lane once the watched
bucket (the requests' owner) is past its share of the interactive queues (:mod:`irs.routing.fairness`).

Adding a watch merges one queue configuration into the bucket's notifications and leaves every other one as it
was; where S3 refuses the merge (another configuration already covers the same keys and events), the watch is
refused with S3's reason and the bucket's notifications are unchanged. Each notice is validated like every other
input: one that is not an S3 notice of a new object in a source bucket is skipped with its reason, and an object
that is not an image gets an error document from the worker, like any request for one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irs.aws import queues
from irs.aws.clients import client, error_code
from irs.aws.queues import SQS_BATCH, WATCH, named
from irs.jobs.listing import source_of
from irs.jobs.record import BadJob
from irs.results import MAX_IMAGE_KEY_BYTES
from irs.settings import get_settings
from irs.sources import BUCKET, Location, allowed

logger = logging.getLogger(__name__)
ID_PREFIX = "irs-watch-"
EVENTS = ["s3:ObjectCreated:*"]
EVERY_S = 2.0  # how often the janitor takes the notices: the most a new object waits before it is sent on
TURN_MESSAGES = 100  # notices one janitor turn takes at most, so the janitor's other jobs keep their turns


def queue_name() -> str:
    return named(WATCH, get_settings().queue_prefix).queue


@dataclass(frozen=True)
class Watch:
    bucket: str
    prefix: str
    suffix: str

    @property
    def id(self) -> str:
        """The notification configuration's id: the same watch asked twice is one configuration."""
        digest = hashlib.sha256(f"{get_settings().queue_prefix}\n{self.prefix}\n{self.suffix}".encode()).hexdigest()
        return f"{ID_PREFIX}{digest[:16]}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" (*{self.suffix})" if self.suffix else "")


def _watch(url: str, suffix: str = "") -> Watch:
    location = source_of(url)
    return Watch(location.bucket, location.key, suffix)


def _configuration(bucket: str) -> dict[str, Any]:
    found = client("s3").get_bucket_notification_configuration(Bucket=bucket)
    return {key: value for key, value in found.items() if key != "ResponseMetadata"}


def _put(bucket: str, configuration: dict[str, Any]) -> None:
    try:
        client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    except Exception as error:
        if error_code(error) in ("InvalidArgument", "InvalidRequest"):
            raise BadJob(f"S3 refused the change to {bucket}'s notifications ({error}); they are as they "
                         "were") from None
        raise


def add(url: str, suffix: str = "") -> tuple[Watch, bool]:
    """Watch ``s3://BUCKET/PREFIX`` for new objects (ending in ``suffix``); whether it was new."""
    watch = _watch(url, suffix)
    arn = queues.arn(queues.url(queue_name()))
    current = _configuration(watch.bucket)
    present = current.get("QueueConfigurations", [])
    if any(c.get("Id") == watch.id for c in present):
        return watch, False
    rules = [{"Name": "prefix", "Value": watch.prefix}] if watch.prefix else []
    rules += [{"Name": "suffix", "Value": suffix}] if suffix else []
    ours = {"Id": watch.id, "QueueArn": arn, "Events": EVENTS, **({"Filter": {"Key": {"FilterRules": rules}}}
                                                                  if rules else {})}
    _put(watch.bucket, {**current, "QueueConfigurations": [*present, ours]})
    return watch, True


def remove(url: str, suffix: str = "") -> bool:
    """Stop watching; the bucket's other notifications stay. Whether there was such a watch."""
    watch = _watch(url, suffix)
    current = _configuration(watch.bucket)
    present = current.get("QueueConfigurations", [])
    kept = [c for c in present if c.get("Id") != watch.id]
    if len(kept) == len(present):
        return False
    _put(watch.bucket, {**current, "QueueConfigurations": kept})
    return True


def watches() -> list[Watch]:
    """This deployment's watches on its source buckets (those sending to its watch queue), with their filters as
    S3 has them."""
    arn, found = queues.arn(queues.url(queue_name())), []
    for bucket in sorted({source.bucket for source in get_settings().sources}):
        for c in _configuration(bucket).get("QueueConfigurations", []):
            if str(c.get("Id", "")).startswith(ID_PREFIX) and c.get("QueueArn") == arn:
                rules = {r["Name"].lower(): r["Value"] for r in c.get("Filter", {}).get("Key", {}).get(
                    "FilterRules", [])}
                found.append(Watch(bucket, rules.get("prefix", ""), rules.get("suffix", "")))
    return found


# --- the notices ------------------------------------------------------------------------------------------
class _Object(BaseModel):
    key: str = Field(min_length=1, max_length=3 * 1024)  # URL-encoded: up to three characters for one
    size: int = Field(default=0, ge=0)


class _Bucket(BaseModel):
    name: str = Field(pattern=f"^{BUCKET.pattern}$")


class _S3(BaseModel):
    bucket: _Bucket
    object: _Object


class _Record(BaseModel):
    eventSource: Literal["aws:s3"]  # noqa: N815 - S3's names
    eventName: str = Field(pattern=r"^ObjectCreated:[A-Za-z]{1,40}$")  # noqa: N815
    s3: _S3


class Notice(BaseModel):
    model_config = ConfigDict(extra="ignore")  # S3 adds fields over time

    Records: list[_Record] = Field(min_length=1, max_length=100)  # noqa: N815


def requests_of(body: str) -> tuple[list[Location], str | None]:
    """The objects a notice announces, or why it is skipped (S3's test event, or not an S3 notice)."""
    try:
        raw = json.loads(body)
    except ValueError:
        return [], "not JSON"
    if isinstance(raw, dict) and raw.get("Event") == "s3:TestEvent":
        return [], "S3's test event"
    try:
        notice = Notice.model_validate(raw)
    except ValidationError as error:
        return [], f"not an S3 notice of a new object: {error.errors()[0]['msg']}"
    found = [Location(r.s3.bucket.name, unquote_plus(r.s3.object.key)) for r in notice.Records]
    long = [str(f) for f in found if len(str(f).encode()) > MAX_IMAGE_KEY_BYTES]
    if long:
        return [], f"{long[0][:100]}... is too long for a request's image key"
    sources = get_settings().sources
    outside = [str(f) for f in found if not allowed(f, sources)]
    if outside:
        return [], f"{outside[0]} is not in a source this deployment reads"
    return found, None


def take_notices() -> int:
    """The janitor's job: take the notices waiting (up to TURN_MESSAGES) and send their requests; how many."""
    from irs.broker.app import app
    from irs.contract import OWNER, arguments, owner_name
    from irs.routing.router import cloud_lane
    from irs.tasks import classify

    sqs, url = client("sqs"), queues.url(queue_name())
    sent = 0
    for _ in range(TURN_MESSAGES // SQS_BATCH):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=SQS_BATCH,
                                       WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        wanted: list[Location] = []
        for message in messages:
            found, skipped = requests_of(message.get("Body", ""))
            if skipped:
                logger.warning("watch: skipped a notice: %s", skipped)
            wanted += found
        with app.producer_or_acquire() as producer, producer.channel.batched_sends():
            for location in wanted:
                owner = owner_name(location.bucket)  # a watched bucket is one owner's, for fair shares and usage
                classify.apply_async(arguments(str(location)), producer=producer, queue=cloud_lane(owner),
                                     headers={OWNER: owner})
        sent += len(wanted)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
    return sent
