"""Choosing a model through the REST API, and the models the web tier shows, with what each has answered."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import IMAGES
from tests.helpers.repository import add_renamed


def test_an_upload_names_a_repository_model_and_the_model_list_counts_what_it_answered(
        web, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = add_renamed("web-things", "web", tmp_path)
    dog = ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(), "image/jpeg")
    with web.client() as client:
        accepted = client.post("/api/v1/images", files=[("files", dog)], data={"model": "web-things"})
        assert accepted.status_code == 202, accepted.text
        document = client.get(accepted.json()["requests"][0]["result_url"], params={"wait": 60}).json()
        assert document["status"] == "ok" and "web-16" in {d["label"] for d in document["detections"]}
        assert document["model"]["version"] == manifest.short
        listed = client.get("/api/v1/models").json()
        refused = client.post("/api/v1/images", files=[("files", dog)], data={"model": "no-such-model"})
    (entry,) = [m for m in listed["models"] if m["name"] == "web-things"]
    assert entry["ref"] == manifest.ref and entry["latest"] and entry["source"] == "repository"
    assert entry["served"] == 1 and entry["labels"] == 80
    assert any(m["name"] == listed["default"] and m["source"] == "built-in" for m in listed["models"])
    assert refused.status_code == 400 and "no model 'no-such-model'" in refused.json()["detail"]
