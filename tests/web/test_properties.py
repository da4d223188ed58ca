"""Property-based: whatever a client sends, the API answers with a documented status, never a 5xx."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import images

# Every response the OpenAPI document declares for these operations, plus FastAPI's own 422.
UPLOAD_STATUSES = {202, 400, 413, 415, 422, 503}
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.text(min_size=0, max_size=80)
payloads = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from([images.png(), images.gif(), images.png_claiming(40000, 40000)]),
    st.builds(lambda head, tail: head + tail, st.sampled_from([b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"BM"]),
              st.binary(max_size=512)),  # image magic numbers followed by garbage
)


def test_the_openapi_document_lists_every_endpoint(web) -> None:  # type: ignore[no-untyped-def]
    paths = httpx.get(f"{web.url}/openapi.json").json()["paths"]
    assert {"/api/v1/images", "/api/v1/results", "/api/v1/results/{request_id}", "/api/v1/status",
            "/health/live", "/health/ready"} <= set(paths)


@quick
@given(files=st.lists(st.tuples(names, payloads), min_size=1, max_size=3))
def test_any_upload_is_accepted_or_refused_with_a_reason(web, files) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=web.url, timeout=30) as client:
        response = client.post("/api/v1/images", files=[("files", (name or "x", data, "application/octet-stream"))
                                                        for name, data in files])
    assert response.status_code in UPLOAD_STATUSES, response.text
    body = response.json()
    if response.status_code == 202:
        assert len(body["requests"]) == len(files)
        assert all(r["image_key"].startswith("uploads/web/") for r in body["requests"])  # never the user's name
    else:
        assert body["detail"]


@quick
@given(request_id=st.text(max_size=120), wait=st.floats(min_value=-5, max_value=0.2) | st.just(0.0))
def test_any_result_lookup_answers_200_404_or_422(web, request_id, wait) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=web.url, timeout=30) as client:
        response = client.get(f"/api/v1/results/{quote(request_id, safe='/:')}", params={"wait": wait})
    assert response.status_code in {200, 404, 422}, response.text


@quick
@given(label=st.text(max_size=150), limit=st.integers(min_value=-3, max_value=600))
def test_any_search_answers_200_or_422(web, label, limit) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=web.url, timeout=30) as client:
        response = client.get("/api/v1/results", params={"label": label, "limit": limit})
    assert response.status_code in {200, 422}, response.text
    if response.status_code == 200:
        assert isinstance(response.json()["results"], list)
