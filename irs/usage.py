"""Usage per owner, from the result documents IRS already writes: images, errors by kind, worker CPU, cost.

The janitor rolls each UTC day up into one Parquet file in the results bucket,
``usage/day=YYYY-MM-DD/usage.parquet`` (Hive-style, so DuckDB and Athena read
``usage/*/*.parquet`` as one table partitioned by day), a row per owner, pool,
model and outcome (``ok`` or the error's kind), with the same conventions as
`irs job export`. It rolls today up every ``EVERY_S`` (so today's figures are
that old at most) and yesterday once more after midnight. ``irs usage``,
``GET /api/v1/usage`` and the status page read those files, never the documents.

A row keeps counts, never a key: erasing an owner (:mod:`webapp.erasure`) leaves its usage.

CPU is the worker's decode and inference time per image (what the document
times; the download waits on S3). Cost is the requests each image makes
(:data:`irs.jobs.cost.JOB_REQUESTS_PER_IMAGE`, plus the upload's PUT where it was uploaded) and, for the
cloud pool, its CPU time at ``IRS_EC2_USD_PER_HOUR`` shared by ``IRS_CONCURRENCY`` processes.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from irs.aws import documents
from irs.aws.clients import client
from irs.jobs.cost import JOB_REQUESTS_PER_IMAGE, PRICE_PER_MILLION, usd_per_million
from irs.pools import CLOUD
from irs.results import ResultDocument
from irs.settings import Settings, get_settings

PREFIX = "usage/"
EVERY_S = 600.0  # how often the janitor rolls today up
UNOWNED = "-"  # the owner of a document written before requests had one


class Row(BaseModel):
    """One day's usage of one owner, pool, model and outcome."""

    day: str = Field(description="The UTC day the results were written, YYYY-MM-DD")
    owner: str = Field(description="Whose requests: a token's name, a job's or a command's operator")
    pool: str = Field(description="Where they were served: cloud, edge or device-NAME")
    model: str = Field(description="The model's name")
    outcome: str = Field(description="ok, or the error's kind")
    images: int = Field(description="Images answered")
    cpu_ms: float = Field(description="Worker CPU: decode and inference, summed")
    uploaded: int = Field(description="Of them, images uploaded to IRS (not read where they were)")


@dataclass(frozen=True)
class Used:
    """What one result document counts for: its row's identity, its CPU, whether its image was uploaded."""

    owner: str
    pool: str
    model: str
    outcome: str
    cpu_ms: float
    uploaded: bool


def used(document: ResultDocument) -> Used:
    timings = document.timings_ms
    return Used(document.owner or UNOWNED, document.pool or "-", document.model.name if document.model else "-",
                "ok" if document.status == "ok" else str(document.error_kind or "error"),
                ((timings.decode or 0) + (timings.inference or 0)) if timings else 0.0,
                document.image_key.startswith("uploads/"))


def rows_of(found: Iterable[Used], day: str) -> list[Row]:
    """One day's usage rows."""
    totals: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for one in found:
        total = totals[(one.owner, one.pool, one.model, one.outcome)]
        total[0] += 1
        total[1] += one.cpu_ms
        total[2] += one.uploaded
    return [Row(day=day, owner=o, pool=p, model=m, outcome=out, images=int(v[0]), cpu_ms=round(v[1], 1),
                uploaded=int(v[2])) for (o, p, m, out), v in sorted(totals.items())]


def cost_usd(row: Row, settings: Settings) -> float:
    """What a row's images cost: their requests, and the cloud's CPU time."""
    requests = row.images * usd_per_million(JOB_REQUESTS_PER_IMAGE) + row.uploaded * PRICE_PER_MILLION["s3 PUT"]
    cpu = row.cpu_ms / 1000 / 3600 / settings.concurrency * settings.ec2_usd_per_hour if row.pool == CLOUD else 0
    return requests / 1e6 + cpu


def day_key(day: date) -> str:
    return f"{PREFIX}day={day.isoformat()}/usage.parquet"


def documents_of(day: date, known: set[str]) -> Iterator[tuple[str, ResultDocument]]:
    """Every result document written on ``day`` (UTC) but those in ``known``, with its key."""
    for key, modified in documents.listing(get_settings().results_prefix):
        if key not in known and modified.astimezone(UTC).date() == day:
            found = documents.read(key, ResultDocument)
            if found is not None:
                yield key, found


def write(day: date, rows: list[Row]) -> None:
    """Write ``day``'s usage file, replacing an earlier one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from irs.export import arrow_schema

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([row.model_dump() for row in rows], schema=arrow_schema(Row)), buffer)
    client("s3").put_object(Bucket=get_settings().results_bucket, Key=day_key(day), Body=buffer.getvalue(),
                            ContentType="application/vnd.apache.parquet")


class Roller:
    """The janitor's job: today every turn, and yesterday once more on the first turn of a day (its last minutes
    were written after its last roll, or the janitor was not running then). What it has read it remembers (a
    few numbers a document), so each turn reads only the documents new since the last: one GET a document."""

    def __init__(self) -> None:
        self.seen: dict[date, dict[str, Used]] = {}

    def turn(self, now: datetime | None = None) -> int:
        today = (now or datetime.now(UTC)).date()
        days = [today] if today in self.seen else [today - timedelta(days=1), today]  # a new day (or a start)
        rows = 0
        for day in days:
            mine = self.seen.setdefault(day, {})
            mine.update((key, used(document)) for key, document in documents_of(day, set(mine)))
            found = rows_of(mine.values(), day.isoformat())
            write(day, found)
            rows += len(found)
        self.seen = {day: kept for day, kept in self.seen.items() if day >= today - timedelta(days=1)}
        return rows


def read(days: Iterable[date]) -> list[Row]:
    """The rows of ``days`` as last rolled up (a day never rolled up has none)."""
    import pyarrow.parquet as pq

    s3, bucket, found = client("s3"), get_settings().results_bucket, []
    for day in days:
        try:
            body = s3.get_object(Bucket=bucket, Key=day_key(day))["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        found += [Row.model_validate(row) for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    return found


class Total(BaseModel):
    """An owner's usage over a span of days."""

    owner: str
    images: int
    errors: dict[str, int] = Field(description="Images answered with an error, by kind")
    cpu_s: float = Field(description="Worker CPU, seconds")
    usd: float = Field(description="Estimated cost: requests, and the cloud's CPU")
    by_pool: dict[str, int]
    by_model: dict[str, int]


def totals(rows: Iterable[Row], settings: Settings) -> list[Total]:
    """Each owner's totals over ``rows``, the busiest first."""
    owners: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        owners[row.owner].append(row)
    found = []
    for owner, mine in owners.items():
        errors: dict[str, int] = defaultdict(int)
        pools: dict[str, int] = defaultdict(int)
        models: dict[str, int] = defaultdict(int)
        for row in mine:
            if row.outcome != "ok":
                errors[row.outcome] += row.images
            pools[row.pool] += row.images
            models[row.model] += row.images
        found.append(Total(owner=owner, images=sum(r.images for r in mine), errors=dict(errors),
                           cpu_s=round(sum(r.cpu_ms for r in mine) / 1000, 3),
                           usd=round(sum(cost_usd(r, settings) for r in mine), 6),
                           by_pool=dict(pools), by_model=dict(models)))
    return sorted(found, key=lambda total: (-total.images, total.owner))


def span(days: int | None = None, month: str | None = None, today: date | None = None) -> list[date]:
    """The days of the last ``days`` (today included), or of ``month`` (YYYY-MM) up to today."""
    today = today or datetime.now(UTC).date()
    if month is not None:
        first = datetime.strptime(month, "%Y-%m").date()
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return [first + timedelta(days=n) for n in range((min(following, today + timedelta(days=1)) - first).days)]
    return [today - timedelta(days=n) for n in range((days or 1) - 1, -1, -1)]
