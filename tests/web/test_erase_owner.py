"""Erasing an owner, over an in-process emulation: what the web tier cannot know by key (`irs classify`'s
uploads, jobs) is found by each document's owner."""

from __future__ import annotations

from irs.aws import clients, documents
from irs.jobs import record
from irs.results import ResultDocument, result_key
from irs.settings import get_settings
from webapp.erasure import erase_owner


def keys(bucket: str, prefix: str) -> list[str]:
    pages = clients.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def result(task_id: str, image_key: str, owner: str) -> str:
    return ResultDocument(image_key=image_key, task_id=task_id, status="ok", detections=[], summary="x",
                          owner=owner).model_dump_json(exclude_unset=True)


def test_erasing_an_owner_removes_its_results_uploads_and_jobs_and_leaves_others(mocked_aws) -> None:  # type: ignore[no-untyped-def]
    settings, s3 = get_settings(), clients.client("s3")
    sent = {"ann": "18ef1c08ae34ee05da570e62af277951:uploads/20261207-aaaaaaaaaaaa/000000/a.jpg",
            "bob": "18ef1c08ae34ee05da570e62af277952:uploads/20261207-bbbbbbbbbbbb/000000/b.jpg"}
    for owner, task_id in sent.items():  # sent by irs classify: the owner is only in the document
        image_key = task_id.split(":", 1)[1]
        s3.put_object(Bucket=settings.input_bucket, Key=image_key, Body=b"jpeg")
        documents.put_body(result_key(task_id), result(task_id, image_key, owner))
    spec = record.Spec(source="s3://irs-test-camera/x/", suffixes=(".jpg",), max_bytes=1000)
    record.write(record.new("anns-job", spec, owner="ann"))
    record.write_part("anns-job", 0, [])
    record.write(record.new("bobs-job", spec, owner="bob"))

    report = erase_owner("ann")

    assert (report.images, report.results, report.jobs, report.job_files) == (1, 1, ["anns-job"], 2)
    assert documents.get(result_key(sent["ann"])) is None and documents.get(result_key(sent["bob"])) is not None
    assert keys(settings.input_bucket, "uploads/") == [sent["bob"].split(":", 1)[1]]
    assert record.names() == ["bobs-job"]
