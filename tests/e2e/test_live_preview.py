"""Live preview: a moved slider shows its result on the selected image, via the server's
re-run, and the user keeps it or discards it."""

import statistics
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from localrun import LocalStack
from tests.e2e.conftest import gallery_ids, owner_headers, set_slider, shapes_png

pytestmark = pytest.mark.browser

# The issue asks for a preview "within a second"; on a busy shared test machine this is
# the generous bound, and the measured figures are printed (run with -s).
PREVIEW_BOUND_MS = 3000

SETTLED = """(id) => {
    const image = document.getElementById("preview-image");
    return !image.hidden && image.dataset.id !== id && image.complete && image.naturalWidth > 0;
}"""

CHANGE_TO_PREVIEW_MS = """() => {
    const changed = performance.getEntriesByName("canny-setting-changed").at(-1);
    const shown = performance.getEntriesByName("canny-preview-shown").at(-1);
    return shown.startTime - changed.startTime;
}"""


def upload_first(page: Page, site: LocalStack) -> str:
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(80)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#preview-title")).to_have_text("Preview on shapes-80.png")
    return page.locator("#gallery .card").first.get_attribute("data-id")


def test_preview_is_hidden_until_there_is_an_image(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    set_slider(page, "low", 30)
    page.wait_for_timeout(600)
    expect(page.locator("#preview")).to_be_hidden()
    assert posts == [], "nothing to preview on, so nothing is sent"


def test_setting_change_shows_its_preview_then_keep(site: LocalStack, page: Page) -> None:
    source_id = upload_first(page, site)
    timings = []
    for low, high in ((20, 60), (40, 120), (60, 180), (10, 30), (80, 240)):
        previous = page.locator("#preview-image").get_attribute("data-id") or ""
        set_slider(page, "high", high)
        set_slider(page, "low", low)
        page.wait_for_function(SETTLED, arg=previous, timeout=15000)
        expect(page.locator("#preview-note")).to_have_text(
            f"Edges with low {low}, high {high}, blur 5."
        )
        timings.append(page.evaluate(CHANGE_TO_PREVIEW_MS))
    print(f"\nsetting change to preview shown, ms: {[round(t) for t in timings]}")
    print(f"median {statistics.median(timings):.0f} ms, max {max(timings):.0f} ms")
    assert max(timings) < PREVIEW_BOUND_MS, timings

    # Superseded previews were deleted again: only the source and the last preview exist.
    preview_id = page.locator("#preview-image").get_attribute("data-id")
    assert sorted(gallery_ids(site, page)) == sorted([source_id, preview_id])
    assert requests.get(
        f"{site.url}/api/images/{preview_id}", headers=owner_headers(page), timeout=10
    ).json()["params"] == {
        "low": 80,
        "high": 240,
        "blur": 5,
    }

    page.get_by_role("button", name="Keep").click()
    card = page.locator("#gallery .card").first
    expect(card).to_have_attribute("data-id", preview_id)
    expect(card.locator("h3")).to_be_focused()
    expect(card).to_have_class("card highlight")
    expect(page.locator("#announcer")).to_have_text(
        "shapes-80.png kept with low 80, high 240, blur 5."
    )
    expect(page.locator("#preview-image")).to_be_hidden()


def test_discard_restores_settings_and_forgets_the_preview(site: LocalStack, page: Page) -> None:
    source_id = upload_first(page, site)
    set_slider(page, "blur", 9)
    page.wait_for_function(SETTLED, arg="", timeout=15000)
    preview_id = page.locator("#preview-image").get_attribute("data-id")
    assert preview_id != source_id
    page.get_by_role("button", name="Discard").click()
    expect(page.locator("#blur")).to_have_value("5")
    expect(page.locator("#low")).to_be_focused()
    expect(page.locator("#preview-image")).to_be_hidden()
    expect(page.locator("#gallery .card")).to_have_count(1)
    deadline = time.monotonic() + 10
    while preview_id in gallery_ids(site, page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gallery_ids(site, page) == [source_id], "the discarded preview is still stored"


def test_deleting_the_previewed_image_moves_the_preview_on(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(81)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    page.set_input_files("#file-input", files=[shapes_png(82)])
    expect(page.locator("#gallery .card")).to_have_count(2)
    expect(page.locator("#preview-title")).to_have_text("Preview on shapes-82.png")
    set_slider(page, "low", 40)
    page.wait_for_function(SETTLED, arg="", timeout=15000)
    unkept = page.locator("#preview-image").get_attribute("data-id")

    page.get_by_role("button", name="Delete shapes-82.png").click()
    expect(page.locator("#preview-title")).to_have_text("Preview on shapes-81.png")
    expect(page.locator("#preview-image")).to_be_hidden()
    deadline = time.monotonic() + 10
    while unkept in gallery_ids(site, page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unkept not in gallery_ids(site, page), "the unkept preview of a deleted image stayed"

    page.get_by_role("button", name="Delete shapes-81.png").click()
    expect(page.locator("#gallery .card")).to_have_count(0)
    expect(page.locator("#preview")).to_be_hidden()
