"""What a job will cost before it starts, from the figures IRS measures (BENCHMARKS.md, the throughput
benchmark): the AWS requests each image makes, and the worker CPU each image takes."""

from __future__ import annotations

from dataclasses import dataclass

from irs.pools import CLOUD_SERVICE_S
from irs.settings import Settings

#: Public request prices, US East (N. Virginia), in USD per million requests.
PRICE_PER_MILLION = {
    "sqs": 0.40,  # standard queue, per 64 KiB chunk
    "s3 PUT": 5.00, "s3 POST": 5.00, "s3 LIST": 5.00,  # PUT, COPY, POST, LIST
    "s3 GET": 0.40, "s3 HEAD": 0.40,  # GET, SELECT and all other requests
}
#: Requests per image of a job: the throughput benchmark's count on a 2-process worker (SQS 0.75: receive 0.50,
#: delete 0.15, send 0.10; S3 GET 2.08 and PUT 2.00), less what a job does not make (the upload's PUT and the
#: client's GET of each result), plus the listing (a LIST per 1,000 objects). Bigger hosts receive ten at a time
#: and make fewer SQS requests.
JOB_REQUESTS_PER_IMAGE = {"sqs": 0.75, "s3 GET": 1.08, "s3 PUT": 1.00, "s3 LIST": 0.001}


def usd_per_million(per_image: dict[str, float]) -> float:
    """The request cost of a million images that each make ``per_image`` requests (by operation)."""
    total = 0.0
    for operation, count in per_image.items():
        price = PRICE_PER_MILLION.get(operation) or PRICE_PER_MILLION.get(operation.split()[0], 0.0)
        total += count * price
    return total


@dataclass(frozen=True)
class Estimate:
    images: int
    requests_usd: float
    instance_hours: float
    instance_usd: float
    hours_at_cap: float  # how long the work takes on the fleet at its cap, once booted

    @property
    def total_usd(self) -> float:
        return self.requests_usd + self.instance_usd


def estimate(images: int, settings: Settings, max_hosts: int) -> Estimate:
    """The cost of ``images`` images: requests at :data:`JOB_REQUESTS_PER_IMAGE`, host time at the cloud's CPU
    per image (:data:`~irs.pools.CLOUD_SERVICE_S`) on hosts of ``IRS_CONCURRENCY`` processes at
    ``IRS_EC2_USD_PER_HOUR``. Boot time and idle tails are not counted."""
    host_hours = images * CLOUD_SERVICE_S / settings.concurrency / 3600
    return Estimate(images=images, requests_usd=images * usd_per_million(JOB_REQUESTS_PER_IMAGE) / 1e6,
                    instance_hours=host_hours, instance_usd=host_hours * settings.ec2_usd_per_hour,
                    hours_at_cap=host_hours / max_hosts)
