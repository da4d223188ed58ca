"""Result documents as a table: a row per detection, or per image, written as CSV, JSON Lines or Parquet.

The columns are the fields of :class:`DetectionRow` and :class:`ImageRow`, the same in every format, so
an export opens as one table in DuckDB, pandas or Athena (the reference lists them). An image with no
detection, or answered with an error, still has its one row in a per-detection table, with no label.
Rows are written as they come, so an export of any size holds one chunk in memory at a time.
"""

from __future__ import annotations

import csv
import json
import types
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field

from irs.results import ResultDocument

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = get_args(Format)
Per = Literal["detection", "image"]
CHUNK_ROWS = 10_000  # rows a Parquet row group holds; what one chunk of an export keeps in memory


class _ImagePart(BaseModel):
    image_key: str = Field(description="The image's S3 key in the input bucket, or s3://BUCKET/KEY for one "
                           "read where it was (a job's, a watch's)")
    task_id: str = Field(description="The request id")
    status: str = Field(description="ok or error")
    error_kind: str | None = Field(default=None, description="Why an image was not classified (see the result "
                                   "document's error_kind)")
    model: str | None = Field(default=None, description="The model's name")
    model_version: str | None = Field(default=None, description="The model's version")
    pool: str | None = Field(default=None, description="Where it was served: cloud, edge or device-NAME")
    image_width: int | None = Field(default=None, description="The original image's width, pixels")
    image_height: int | None = Field(default=None, description="The original image's height, pixels")
    finished_at: str | None = Field(default=None, description="When the worker finished, UTC, ISO 8601")
    queue_wait_ms: float | None = Field(default=None, description="From sending to a worker starting it")
    download_ms: float | None = Field(default=None, description="Reading the image from S3")
    decode_ms: float | None = Field(default=None, description="Decoding the image")
    inference_ms: float | None = Field(default=None, description="Running the model")


class DetectionRow(_ImagePart):
    """One object found in one image (or an image's one row when nothing was found)."""

    rank: int | None = Field(default=None, description="0 for the image's most confident detection, then 1, ...")
    label: str | None = Field(default=None, description="What was found")
    confidence: float | None = Field(default=None, description="0 to 1")
    x: int | None = Field(default=None, description="The box's left edge, pixels of the original image")
    y: int | None = Field(default=None, description="The box's top edge")
    width: int | None = Field(default=None, description="The box's width")
    height: int | None = Field(default=None, description="The box's height")


class ImageRow(_ImagePart):
    """One image, its detections summed up."""

    detections: int = Field(description="How many objects the document lists")
    labels: str = Field(description="The distinct labels, most confident first, comma-separated")


ROWS: dict[Per, type[_ImagePart]] = {"detection": DetectionRow, "image": ImageRow}


def _image_part(document: ResultDocument) -> dict[str, Any]:
    timings = document.timings_ms
    return {
        "image_key": document.image_key, "task_id": document.task_id, "status": document.status,
        "error_kind": str(document.error_kind) if document.error_kind else None, "pool": document.pool,
        "finished_at": document.finished_at,
        "model": document.model.name if document.model else None,
        "model_version": document.model.version if document.model else None,
        "image_width": document.image.width if document.image else None,
        "image_height": document.image.height if document.image else None,
        **{f"{stage}_ms": getattr(timings, stage) if timings else None
           for stage in ("queue_wait", "download", "decode", "inference")},
    }


def rows(documents: Iterable[ResultDocument], per: Per = "detection") -> Iterator[_ImagePart]:
    """The table's rows for ``documents``, in their order."""
    for document in documents:
        image = _image_part(document)
        ranked = sorted(document.detections, key=lambda d: -d.confidence)
        if per == "image":
            yield ImageRow(**image, detections=len(ranked), labels=",".join(dict.fromkeys(d.label for d in ranked)))
            continue
        if not ranked:
            yield DetectionRow(**image)
        for rank, found in enumerate(ranked):
            box = found.box
            yield DetectionRow(**image, rank=rank, label=found.label, confidence=found.confidence,
                               x=box.x if box else None, y=box.y if box else None,
                               width=box.w if box else None, height=box.h if box else None)


def format_of(path: Path, given: str | None) -> Format:
    """The format asked for, or the one the file's suffix names."""
    name = given or path.suffix.lstrip(".").lower()
    for known in FORMATS:
        if name == known:
            return known
    raise ValueError(f"say --format ({', '.join(FORMATS)}): the suffix of {path.name!r} names none of them")


def write(table: Iterable[_ImagePart], path: Path, fmt: Format, per: Per = "detection") -> int:
    """Write the rows to ``path`` in ``fmt``, a chunk at a time; returns how many were written."""
    columns, pending = list(ROWS[per].model_fields), iter(table)
    chunks = iter(lambda: [row.model_dump() for row in islice(pending, CHUNK_ROWS)], [])
    written = 0
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema(ROWS[per])
        with pq.ParquetWriter(path, schema) as parquet:
            for chunk in chunks:
                parquet.write_table(pa.Table.from_pylist(chunk, schema=schema))
                written += len(chunk)
        return written
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for chunk in chunks:
            for row in chunk:
                if writer:
                    writer.writerow(row)
                else:
                    out.write(json.dumps(row) + "\n")
            written += len(chunk)
    return written


def arrow_schema(model: type[BaseModel]) -> Any:
    """Arrow's schema for a table of ``model``'s rows: a column per field, in order (every IRS table's)."""
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(field.annotation)) for name, field in model.model_fields.items()])


def _arrow_type(annotation: Any) -> Any:
    """Arrow's type for a column's annotation (its type, or that type or None)."""
    import pyarrow as pa

    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not type(None)]
    return {str: pa.string(), int: pa.int64(), float: pa.float64()}[annotation]
