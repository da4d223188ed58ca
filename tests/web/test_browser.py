"""A real browser (Debian's chromium, driven by Playwright) uploads a photo and sees its labels appear."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, IMAGES

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and quiet: this machine has no network beyond loopback, and chromium's background
# services would otherwise keep trying to reach theirs.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "chromium is missing: `make test` installs it (apt package chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


def test_uploading_a_photo_in_the_browser_shows_dog_with_its_box(web, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(web.url)
    page.set_input_files("#files", str(IMAGES / "dog.jpg"))
    card = page.locator("#results .card").first
    card.locator(".labels li", has_text="dog").wait_for(timeout=60_000)
    assert "served by cloud" in card.locator(".meta").inner_text()
    assert card.locator("canvas").evaluate("c => c.width > 0 && c.height > 0")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-upload.png"), full_page=True)
    page.close()


def test_a_bad_file_in_the_browser_gets_the_servers_reason(web, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    page = browser.new_page()
    page.goto(web.url)
    page.set_input_files("#files", str(notes))
    page.locator("#message", has_text="not an image").wait_for(timeout=20_000)
    page.close()


def test_the_status_page_shows_the_pools_and_a_timeline(web, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{web.url}/status")
    page.locator("#pools tbody tr", has_text="cloud").wait_for(timeout=20_000)
    page.wait_for_function("document.querySelector('#updated').textContent.startsWith('sampled at')")
    for _ in range(2):  # two more samples, so the timeline has a line to draw
        seen = page.locator("#updated").inner_text()
        page.wait_for_function(f"document.querySelector('#updated').textContent !== {seen!r}", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "web-status.png"), full_page=True)
    assert page.locator("#pools tbody tr").count() >= 2
    page.close()


def test_a_user_signs_in_with_a_token_then_uploads(secure, people, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(secure.url)
    assert page.url.endswith("/login")
    page.fill("input[name=token]", people["ann"])
    page.click("button")
    page.wait_for_url(f"{secure.url}/")
    page.set_input_files("#files", str(IMAGES / "dog.jpg"))
    page.locator("#results .card").first.locator(".labels li", has_text="dog").wait_for(timeout=60_000)
    page.close()


def test_the_status_page_shows_a_jobs_progress(web, browser) -> None:  # type: ignore[no-untyped-def]
    from irs.aws import clients
    from irs.jobs import progress
    from irs.jobs.run import start
    from tests.conftest import SOURCE_BUCKET, wait_until

    s3 = clients.client("s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.put_object(Bucket=SOURCE_BUCKET, Key="browser-job/dog.jpg", Body=(IMAGES / "dog.jpg").read_bytes())
    start(f"s3://{SOURCE_BUCKET}/browser-job/", name="browser-job")
    wait_until(lambda: progress.measure("browser-job").complete, 60, "the job's document")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{web.url}/status")
    row = page.locator("#jobs tbody tr", has_text="browser-job")
    row.wait_for(timeout=20_000)
    assert "finished" in row.inner_text() and "1 of 1" in row.inner_text()
    assert row.locator("progress").evaluate("bar => bar.value === bar.max")
    page.close()
