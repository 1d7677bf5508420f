"""The upload page in a real browser, through the real gateway and backends."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from canny.image_format import ACCEPTED_FORMATS
from playwright.sync_api import Browser, Page, expect

from localrun import LocalStack
from tests.e2e.conftest import (
    ConsoleErrors,
    data_transfer,
    expect_images_loaded,
    gallery_ids,
    owner_key,
    set_slider,
    shapes_png,
)
from tests.unit.backend import sample_images

pytestmark = pytest.mark.browser


def test_upload_rerun_and_delete(
    site: LocalStack,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: Callable[[str], Path],
) -> None:
    config = requests.get(f"{site.url}/api/config", timeout=10).json()
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to 20 MiB")
    expect(page.locator("#gallery-empty")).to_be_visible()

    page.set_input_files("#file-input", files=[shapes_png(1)])
    row = page.locator(".upload-row").first
    expect(row).to_contain_text("shapes-1.png")
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text("100%")
    expect(row.locator("progress")).to_have_attribute("value", "1")
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(1)
    expect(cards.first.locator("h3")).to_have_text("shapes-1.png")
    defaults = {name: spec["default"] for name, spec in config["params"].items()}
    settings = f"low {defaults['low']}, high {defaults['high']}, blur {defaults['blur']}"
    expect(cards.first.locator(".meta")).to_contain_text(
        f"480 \N{MULTIPLICATION SIGN} 320 px · 7 KiB · {settings}"
    )
    expect_images_loaded(page, "#gallery .card img")

    reruns: list[str] = []
    page.on("request", lambda r: reruns.append(r.url) if r.method == "POST" else None)
    set_slider(page, "low", 20)
    set_slider(page, "high", 60)
    set_slider(page, "blur", 3)
    expect(page.locator("#preview-note")).to_contain_text("Edges with low 20, high 60, blur 3.")
    page.get_by_role("button", name="Re-run with current settings for shapes-1.png").first.click()
    expect(cards.first.locator(".meta")).to_contain_text("low 20, high 60, blur 3")
    # A re-run's title says how its settings differ from the defaults.
    expect(cards.first.locator("h3")).to_have_text("shapes-1.png · low 20 / high 60 / blur 3")
    assert all(url.endswith("/rerun") for url in reruns), f"re-run uploaded again: {reruns}"
    expect_images_loaded(page, "#gallery .card img")
    screenshot("gallery")

    with page.expect_download() as download:
        cards.first.get_by_role("link", name="Download edges of shapes-1.png").click()
    assert download.value.suggested_filename == "shapes-1-edges-low20-high60-blur3.png"
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")

    delete_buttons = page.get_by_role("button", name="Delete shapes-1.png")
    expect(cards).to_have_count(2)
    while delete_buttons.count():
        before = cards.count()
        delete_buttons.first.click()
        expect(cards).to_have_count(before - 1)
    expect(page.locator("#gallery-empty")).to_be_visible()
    # The last delete is sent when its Undo expires.
    expect(page.locator("#undo-bar")).to_be_hidden(timeout=12000)
    assert gallery_ids(site, page) == [], "deleted in the page but still listed by the API"
    assert console_errors == [], f"console errors: {console_errors}"


def test_unsupported_files_get_readable_errors(
    site: LocalStack,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: Callable[[str], Path],
) -> None:
    page.goto(site.url)
    not_image = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    fake_png = {"name": "fake.png", "mimeType": "image/png", "buffer": b"not really a png"}
    page.set_input_files("#file-input", files=[not_image, fake_png])
    rows = page.locator(".upload-row.failed")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="notes.txt")).to_contain_text("Not a supported image")
    # Checked by the backend; its JSON error message is shown as a sentence.
    expect(rows.filter(has_text="fake.png")).to_contain_text("The file is not an image.")
    screenshot("errors")
    rows.first.get_by_role("button", name="Dismiss").click()
    expect(rows).to_have_count(1)
    assert gallery_ids(site, page) == []
    unexpected = [e for e in console_errors if "status of 400" not in e]
    assert unexpected == [], f"console errors besides the refused upload: {unexpected}"


DROP = """(transfer) => {
    const zone = document.getElementById("drop-zone");
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}"""


def test_dropping_a_file_uploads_it(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.evaluate(DROP, data_transfer(page, shapes_png(6)))
    expect(page.locator(".upload-row").first).to_contain_text("shapes-6.png")
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect(page.locator("#drop-zone")).not_to_have_class(re.compile("dragging"))


def test_sliders_take_ranges_and_defaults_from_the_config(site: LocalStack, page: Page) -> None:
    params = requests.get(f"{site.url}/api/config", timeout=10).json()["params"]
    page.goto(site.url)
    for name, spec in params.items():
        slider = page.locator(f"#{name}")
        expect(slider).to_have_attribute("min", str(spec["min"]))
        expect(slider).to_have_attribute("max", str(spec["max"]))
        expect(slider).to_have_value(str(spec["default"]))
        expect(page.locator(f"#{name}-number")).to_have_value(str(spec["default"]))
        hint = page.locator(f"#{slider.get_attribute('aria-describedby')}")
        expect(hint).not_to_be_empty()
    expect(page.locator("#blur")).to_have_attribute("step", "2")
    # Thresholds push each other: low never ends above high.
    page.locator("#low").fill(str(params["high"]["default"] + 50))
    expect(page.locator("#high")).to_have_value(str(params["high"]["default"] + 50))
    page.locator("#high").fill("10")
    expect(page.locator("#low")).to_have_value("10")


def test_page_follows_a_changed_config(site: LocalStack, page: Page) -> None:
    """Nothing is baked into the page: another answer from /api/config, other controls."""
    config = requests.get(f"{site.url}/api/config", timeout=10).json()
    config["formats"] = ["png", "webp"]
    config["params"]["blur"] = {"min": 3, "max": 9, "default": 7, "odd": True}
    page.route("**/api/config", lambda route: route.fulfill(json=config))
    page.goto(site.url)
    expect(page.locator("#limits")).to_have_text("PNG or WEBP, up to 20 MiB each.")
    expect(page.locator("#file-input")).to_have_attribute("accept", "image/png,image/webp")
    expect(page.locator("#blur")).to_have_attribute("max", "9")
    expect(page.locator("#blur")).to_have_value("7")
    jpeg = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff"}
    page.set_input_files("#file-input", files=[jpeg])
    expect(page.locator(".upload-row.failed")).to_contain_text("use PNG or WEBP")


def test_gallery_is_newest_first_and_pages_with_load_more(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    expect(page.locator("#gallery-empty")).to_be_visible()
    for seed in range(10, 23):
        upload = shapes_png(seed)
        requests.post(
            f"{site.url}/api/images",
            files={"file": (upload["name"], upload["buffer"], "image/png")},
            headers={"Authorization": f"Bearer {owner_key(page)}"},
            timeout=30,
        ).raise_for_status()
    newest = gallery_ids(site, page)[0]
    page.reload()
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(12)
    assert cards.first.get_attribute("data-id") == newest
    page.get_by_role("button", name="Load more").click()
    expect(cards).to_have_count(13)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()


def test_keyboard_only_upload(site: LocalStack, page: Page, console_errors: ConsoleErrors) -> None:
    # Subscribed before the page loads, so Chromium hands the chooser to Playwright from
    # the first key press on; subscribing just before the press raced it (a flaky test).
    page.on("filechooser", lambda chooser: chooser.set_files(files=[shapes_png(3)]))
    page.goto(site.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file-input"
    page.keyboard.press("Space")
    expect(page.locator("#gallery .card")).to_have_count(1)
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select')]
            .filter((c) => c.labels.length === 0 && !c.ariaLabel)
            .filter((c) => !c.ariaLabelledByElements?.length)
            .map((c) => c.id)"""
    )
    assert unlabeled == [], f"form controls without a label: {unlabeled}"
    # Empty alt only where a labelled role="img" container (the viewer) speaks for them.
    unnamed = page.locator("img:not([alt]), img[alt='']:not([role='img'] img)")
    assert unnamed.count() == 0, "images without alt text"
    assert console_errors == []


def test_usable_at_phone_width(
    site: LocalStack, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(4)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect_images_loaded(page, "#gallery .card img")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    screenshot("phone")


def test_files_over_the_upload_limit_are_refused_before_sending(
    site: LocalStack, page: Page
) -> None:
    """The page takes the limit from /api/config (made tiny here)."""
    config = requests.get(f"{site.url}/api/config", timeout=10).json()
    page.route(
        "**/api/config", lambda route: route.fulfill(json={**config, "max_upload_bytes": 1000})
    )
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to 1000 bytes")
    page.set_input_files("#file-input", files=[shapes_png(5)])
    expect(page.locator(".upload-row.failed")).to_contain_text("the limit is 1000 bytes")
    assert uploads == [], "the page sent a file it knew was too large"


@pytest.fixture(scope="module")
def throttled_site(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """A gateway that lets one upload a second through, after a burst of two."""
    require_tool("nginx")
    with LocalStack(
        tmp_path_factory.mktemp("throttled"), upload_rate="1r/s", upload_burst=1
    ) as stack:
        yield stack


def test_rate_limited_uploads_are_retried_until_they_pass(
    throttled_site: LocalStack, page: Page, console_errors: ConsoleErrors
) -> None:
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 429 else None)
    page.goto(throttled_site.url)
    page.set_input_files("#file-input", files=[shapes_png(seed) for seed in (30, 31, 32, 33)])
    expect(page.locator("#gallery .card")).to_have_count(4, timeout=20000)
    assert refused, "the gateway never said 429, so the retry was not exercised"
    expect(page.locator(".upload-row.failed")).to_have_count(0)
    unexpected = [e for e in console_errors if "status of 429" not in e]
    assert unexpected == [], f"console errors besides the 429s: {unexpected}"


def test_two_browsers_have_separate_galleries(
    site: LocalStack, browser: Browser, page: Page, console_errors: ConsoleErrors
) -> None:
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(40)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    cookie = next(c for c in page.context.cookies() if c["name"] == "canny_owner")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Lax", "/api/")
    assert "canny_owner" not in page.evaluate("document.cookie"), "page scripts see the key"

    other = browser.new_context()
    try:
        stranger = other.new_page()
        stranger.goto(site.url)
        expect(stranger.locator("#gallery-empty")).to_be_visible()
        expect(stranger.locator("#gallery .card")).to_have_count(0)
    finally:
        other.close()
    page.reload()
    expect(page.locator("#gallery .card")).to_have_count(1)
    assert console_errors == [], f"console errors: {console_errors}"


def test_files_sent_at_once_from_a_fresh_browser_share_one_owner(
    site: LocalStack, page: Page
) -> None:
    """Even when the gallery's first listing (which would set the cookie) never arrives,
    the uploads wait for an owner cookie instead of each getting a key of its own."""
    page.route(lambda url: "limit=12" in url, lambda route: route.abort())
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(seed) for seed in (41, 42, 43)])
    expect(page.locator(".upload-row.done")).to_have_count(3)
    page.unroute_all()
    page.reload()
    expect(page.locator("#gallery .card")).to_have_count(3)


def test_every_accepted_format_shows_in_the_gallery(
    site: LocalStack, page: Page, console_errors: ConsoleErrors
) -> None:
    """One upload per accepted format; every <img> of the gallery renders, TIFF included
    (Chromium cannot decode TIFF, so the gallery shows the stored PNG rendition)."""
    files = [
        {
            "name": f"shapes.{image_format.extension}",
            "mimeType": image_format.media_type,
            "buffer": sample_images.encode(
                sample_images.shapes(width=240, height=160, seed=40 + n), image_format.name
            ),
        }
        for n, image_format in enumerate(ACCEPTED_FORMATS)
    ]
    page.goto(site.url)
    page.set_input_files("#file-input", files=files)
    expect(page.locator("#gallery .card")).to_have_count(len(ACCEPTED_FORMATS))
    expect(page.locator("#gallery .card img")).to_have_count(2 * len(ACCEPTED_FORMATS))
    expect_images_loaded(page, "#gallery .card img")
    sources = page.eval_on_selector_all("#gallery .card img", "(images) => images.map(i => i.src)")
    assert any(source.endswith(".view.png") for source in sources), "TIFF shows its PNG view"
