"""Erasure: a team deletes one request's image and result; an admin erases everything of an owner. Nothing of it
is left in either bucket, the results list or the label search, its requests answer 404, and other owners keep
everything of theirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from irs.aws import clients
from irs.settings import get_settings
from tests.conftest import IMAGES, ROOT, wait_until
from tests.web.conftest import WebServer, as_
from webapp.uploads import WEB_PREFIX, owner_of


def keys(bucket: str, prefix: str) -> list[str]:
    pages = clients.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def owned(owner: str) -> list[str]:
    """Every key of ``owner``'s web uploads in either bucket."""
    settings = get_settings()
    images = [k for k in keys(settings.input_bucket, WEB_PREFIX) if owner_of(k) == owner]
    results = [k for k in keys(settings.results_bucket, f"{settings.results_prefix}{WEB_PREFIX}")
               if owner_of(k.removeprefix(settings.results_prefix).rsplit("/", 1)[0]) == owner]
    return images + results


@pytest.mark.integration
def test_a_team_erases_a_request_and_an_admin_erases_an_owner(secure: WebServer, people: dict[str, str]) -> None:
    ann, bob = (f"{name}-{os.getpid()}" for name in ("ann", "bob"))
    files = [("files", (name, (IMAGES / name).read_bytes(), "image/jpeg")) for name in ("dog.jpg", "eagle.jpg")]
    with secure.client() as client:
        mine = client.post("/api/v1/images", files=files, headers=as_(people["ann"])).json()["requests"]
        theirs = client.post("/api/v1/images", files=files[:1], headers=as_(people["bob"])).json()["requests"]
        for request, token in ((mine[0], people["ann"]), (mine[1], people["ann"]), (theirs[0], people["bob"])):
            answer = client.get(request["result_url"], params={"wait": 60}, headers=as_(token))
            assert answer.status_code == 200, answer.text
        gone = mine[0]
        assert client.delete(gone["result_url"], headers=as_(people["bob"])).status_code == 404  # not bob's
        erased = client.delete(gone["result_url"], headers=as_(people["ann"]))
        assert erased.status_code == 200 and erased.json() == {"request_id": gone["request_id"], "images": 1,
                                                               "results": 1}
        assert client.get(gone["result_url"], headers=as_(people["ann"])).status_code == 404
        assert client.get(f"/api/v1/images/{gone['image_key']}", headers=as_(people["ann"])).status_code == 404

        def listed(token: str) -> set[str]:
            return {d["task_id"] for d in client.get("/api/v1/results", headers=as_(token)).json()["results"]}

        wait_until(lambda: gone["request_id"] not in listed(people["admin"]), 30, "the erased result to be forgotten")
        assert mine[1]["request_id"] in listed(people["ann"])
        assert not any(k.startswith(gone["image_key"]) or f"/{gone['image_key']}/" in k for k in owned(ann))

        run = subprocess.run([sys.executable, "-m", "irs.cli", "web", "erase", ann, "--yes", "--json"], cwd=ROOT,
                             env=os.environ, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["images"] >= 1 and owned(ann) == []
        wait_until(lambda: not listed(people["ann"]), 30, "the owner's results to be forgotten")
        assert client.get(mine[1]["result_url"], headers=as_(people["ann"])).status_code == 404
        assert theirs[0]["request_id"] in listed(people["bob"]) and owned(bob)  # another owner keeps everything
