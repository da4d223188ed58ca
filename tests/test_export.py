"""Result documents as a table: one row per detection (or per image), the same columns in CSV, JSON Lines and
Parquet, read back by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import cast, get_args

import click
import duckdb
import pytest

from irs import export
from irs.results import ErrorKind, ResultDocument, error_document, fitted

KEY = "uploads/20261205-0123456789ab/000000/dog.jpg"


def classified(key: str, found: list[tuple[str, float]]) -> ResultDocument:
    return fitted({
        "image_key": key, "task_id": f"{'a' * 32}:{key}", "status": "ok", "summary": f"{key}: ...",
        "detections": [{"label": label, "confidence": confidence, "box": {"x": 1, "y": 2, "w": 30, "h": 40}}
                       for label, confidence in found],
        "model": {"name": "yolo-fastest-1.1-xl", "version": "1", "kind": "detector", "input_size": 320},
        "image": {"format": "jpeg", "width": 768, "height": 576, "bytes": 163759}, "pool": "cloud",
        "finished_at": "2026-12-05T00:00:01.000Z", "timings_ms": {"queue_wait": 5.0, "inference": 14.0}})


DOCUMENTS = [classified(KEY, [("bicycle", 0.6), ("dog", 0.9), ("car", 0.5)]),
             classified(KEY.replace("dog", "sky"), []),
             error_document(KEY.replace("dog", "late"), f"{'b' * 32}:late", "the deadline passed", ErrorKind.EXPIRED)]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_every_format_gives_duckdb_the_same_table_a_row_per_detection(tmp_path: Path, fmt: export.Format) -> None:
    path = tmp_path / f"results.{fmt}"
    assert export.write(export.rows(DOCUMENTS), path, export.format_of(path, None)) == 5
    table = duckdb.sql(f"SELECT * FROM '{path}' ORDER BY image_key, rank")
    assert table.columns == list(export.DetectionRow.model_fields)
    by_key: dict[str, list[dict[str, object]]] = {}
    for row in table.fetchall():
        by_key.setdefault(row[0], []).append(dict(zip(table.columns, row, strict=True)))
    dog = by_key[KEY]
    assert [(r["rank"], r["label"]) for r in dog] == [(0, "dog"), (1, "bicycle"), (2, "car")]  # most confident first
    assert dog[0]["confidence"] == pytest.approx(0.9) and dog[0]["width"] == 30
    assert dog[0]["model"] == "yolo-fastest-1.1-xl" and dog[0]["image_width"] == 768
    assert dog[0]["inference_ms"] == pytest.approx(14.0) and dog[0]["download_ms"] is None
    (sky,) = by_key[KEY.replace("dog", "sky")]  # nothing found: still its row, with no label
    assert sky["status"] == "ok" and sky["label"] is None
    (late,) = by_key[KEY.replace("dog", "late")]
    assert late["status"] == "error" and late["error_kind"] == "expired" and late["label"] is None


def test_a_row_per_image_sums_up_its_detections(tmp_path: Path) -> None:
    path = tmp_path / "images.parquet"
    assert export.write(export.rows(DOCUMENTS, "image"), path, "parquet", "image") == 3
    counted = dict(duckdb.sql(f"SELECT labels, detections FROM '{path}'").fetchall())
    assert counted == {"dog,bicycle,car": 3, "": 0}


def test_a_large_export_is_written_a_chunk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "CHUNK_ROWS", 2)
    many = [classified(f"{KEY}-{n}", [("dog", 0.9)]) for n in range(7)]
    path = tmp_path / "many.parquet"
    assert export.write(export.rows(iter(many)), path, "parquet") == 7
    assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall() == [(7,)]
    groups = duckdb.sql(f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{path}')").fetchall()
    assert groups == [(4,)]  # 2 + 2 + 2 + 1


def test_the_format_comes_from_the_suffix_unless_given(tmp_path: Path) -> None:
    assert export.format_of(tmp_path / "a.CSV", None) == "csv"
    assert export.format_of(tmp_path / "a.out", "jsonl") == "jsonl"
    with pytest.raises(ValueError, match="say --format"):
        export.format_of(tmp_path / "a.xlsx", None)


@pytest.mark.parametrize("command", ["results", "job export"])
def test_the_commands_that_write_a_table_offer_exactly_the_formats_and_rows_the_export_writes(command: str) -> None:
    """The CLI spells the choices out (importing the export would slow every command's start): they must agree."""
    from irs.cli.main import main

    found: click.Command = main
    for name in command.split():
        found = cast(click.Group, found).commands[name]
    choices = {param.name: getattr(param.type, "choices", None) for param in found.params}
    assert tuple(choices["fmt"]) == export.FORMATS and tuple(choices["per"]) == get_args(export.Per)
