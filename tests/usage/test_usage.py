"""Usage per owner: each day's result documents rolled up into a Parquet table DuckDB reads, counts without
keys, cost from what IRS measures, and per-owner metrics whose labels stay bounded."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from irs import metrics, usage
from irs.aws import documents
from irs.results import ResultDocument, Timings, result_key
from irs.settings import get_settings
from irs.usage import Used, rows_of, totals


def test_a_days_documents_become_a_row_per_owner_pool_model_and_outcome() -> None:
    found = [Used("ann", "cloud", "yolo", "ok", 30.0, True), Used("ann", "cloud", "yolo", "ok", 20.0, True),
             Used("ann", "cloud", "yolo", "corrupt", 1.0, True), Used("bob", "edge", "tiny", "ok", 500.0, False)]
    rows = rows_of(found, "2026-12-07")
    assert [(r.owner, r.pool, r.outcome, r.images, r.cpu_ms, r.uploaded) for r in rows] == [
        ("ann", "cloud", "corrupt", 1, 1.0, 1), ("ann", "cloud", "ok", 2, 50.0, 2), ("bob", "edge", "ok", 1, 500.0, 0)]
    ann, bob = totals(rows, get_settings())
    assert (ann.owner, ann.images, ann.errors, ann.cpu_s) == ("ann", 3, {"corrupt": 1}, 0.051)
    assert ann.usd > 0 and bob.usd > 0
    # The edge's CPU is the device's own: bob pays only for his requests, ann for her cloud CPU too.
    assert bob.usd < ann.usd


def test_a_span_is_the_last_days_or_a_month_up_to_today() -> None:
    today = date(2026, 12, 7)
    assert usage.span(days=3, today=today) == [date(2026, 12, 5), date(2026, 12, 6), today]
    assert len(usage.span(month="2026-11", today=today)) == 30
    assert usage.span(month="2026-12", today=today)[-1] == today


def test_per_owner_metric_labels_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_named_owners", set())
    labels = [metrics.owner_label(f"team-{n}") for n in range(metrics.OWNER_LABELS + 5)]
    assert len(set(labels)) == metrics.OWNER_LABELS + 1 and labels[-1] == "other"
    assert metrics.owner_label("team-0") == "team-0"  # a named owner keeps its name


def put(task_id: str, owner: str, status: str = "ok") -> None:
    document = ResultDocument(image_key=task_id.split(":", 1)[1], task_id=task_id, status=status, detections=[],
                              summary="x", owner=owner, pool="cloud", timings_ms=Timings(decode=2.0, inference=8.0),
                              **({"error": "bad", "error_kind": "corrupt"} if status == "error" else {}))
    documents.put_body(result_key(task_id), document.model_dump_json(exclude_unset=True))


def test_the_janitor_rolls_today_up_into_parquet_reading_only_new_documents(mocked_aws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    from irs.aws.clients import client

    put("18ef1c08ae34ee05da570e62af277951:uploads/20261207-aaaaaaaaaaaa/000000/a.jpg", "ann")
    put("18ef1c08ae34ee05da570e62af277952:uploads/20261207-aaaaaaaaaaaa/000001/b.jpg", "ann", "error")
    roller = usage.Roller()
    now = datetime.now(UTC)
    roller.turn(now)
    put("18ef1c08ae34ee05da570e62af277953:uploads/20261207-bbbbbbbbbbbb/000000/c.jpg", "bob")
    reads = []
    original = documents.read
    documents_read = lambda key, model, belongs=None: reads.append(key) or original(key, model, belongs)  # noqa: E731
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "read", documents_read)
        roller.turn(now)
    assert len(reads) == 1  # only the new document was read

    rows = usage.read([now.date()])
    assert {(r.owner, r.outcome, r.images) for r in rows} == {("ann", "ok", 1), ("ann", "corrupt", 1), ("bob", "ok", 1)}
    local = tmp_path / "usage.parquet"
    local.write_bytes(client("s3").get_object(Bucket=get_settings().results_bucket,
                                              Key=usage.day_key(now.date()))["Body"].read())
    assert duckdb.sql(f"SELECT owner, sum(images) FROM '{local}' GROUP BY owner ORDER BY owner").fetchall() == [
        ("ann", 2), ("bob", 1)]
