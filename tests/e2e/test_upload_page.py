"""The upload page in a real browser, through the real gateway and backends."""

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from canny.image_format import ACCEPTED_FORMATS
from playwright.sync_api import Page, expect

from localrun import LocalStack
from tests.e2e.conftest import ConsoleErrors
from tests.unit.backend import sample_images

pytestmark = pytest.mark.browser

IMAGE_LOADED = """(selector) => [...document.querySelectorAll(selector)]
    .every((image) => image.complete && image.naturalWidth > 0)"""


def shapes_png(seed: int) -> dict:
    data = sample_images.encode(sample_images.shapes(width=480, height=320, seed=seed), "png")
    return {"name": f"shapes-{seed}.png", "mimeType": "image/png", "buffer": data}


def gallery_ids(site: LocalStack) -> list[str]:
    listed = requests.get(f"{site.url}/api/images?limit=100", timeout=10).json()
    return [item["id"] for item in listed["items"]]


@pytest.fixture(autouse=True)
def empty_gallery(site: LocalStack) -> None:
    for image_id in gallery_ids(site):
        requests.delete(f"{site.url}/api/images/{image_id}", timeout=10)


def expect_images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(IMAGE_LOADED, arg=selector, timeout=15000)


def test_upload_rerun_and_delete(
    site: LocalStack,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: Callable[[str], Path],
) -> None:
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to 20 MiB")
    expect(page.locator("#gallery-empty")).to_be_visible()

    page.set_input_files("#file-input", files=[shapes_png(1)])
    row = page.locator(".upload-row").first
    expect(row).to_contain_text("shapes-1.png")
    expect(row).to_contain_text("Done")
    expect(row.locator("progress")).to_have_attribute("value", "1")
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(1)
    expect_images_loaded(page, "#gallery .card img")

    page.fill("#low", "20")
    page.fill("#high", "60")
    page.select_option("#blur", "3")
    page.get_by_role("button", name=re.compile("^Re-run image")).click()
    expect(cards).to_have_count(2)
    expect(cards.first.locator(".meta")).to_contain_text("low 20, high 60, blur 3")
    expect_images_loaded(page, "#gallery .card img")
    screenshot("gallery")

    with page.expect_download() as download:
        cards.first.get_by_role("link", name=re.compile("^Download the edge map")).click()
    assert download.value.suggested_filename.endswith("-edges.png")
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")

    page.get_by_role("button", name=re.compile("^Delete image")).first.click()
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".meta")).to_contain_text("low 100, high 200, blur 5")
    page.get_by_role("button", name=re.compile("^Delete image")).click()
    expect(cards).to_have_count(0)
    expect(page.locator("#gallery-empty")).to_be_visible()
    assert gallery_ids(site) == [], "deleted in the page but still listed by the API"
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
    assert gallery_ids(site) == []
    unexpected = [e for e in console_errors if "status of 400" not in e]
    assert unexpected == [], f"console errors besides the refused upload: {unexpected}"


DROP_FILE = """([name, base64]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: "image/png" }));
    const zone = document.getElementById("drop-zone");
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}"""


def test_dropping_a_file_uploads_it(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    dropped = shapes_png(6)
    page.evaluate(DROP_FILE, [dropped["name"], base64.b64encode(dropped["buffer"]).decode()])
    expect(page.locator(".upload-row").first).to_contain_text("shapes-6.png")
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect(page.locator("#drop-zone")).not_to_have_class(re.compile("dragging"))


def test_settings_are_checked_before_upload(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.fill("#low", "300")
    page.fill("#high", "200")
    page.set_input_files("#file-input", files=[shapes_png(2)])
    expect(page.locator("#message")).to_have_text(
        "Low threshold must not be above the high threshold."
    )
    expect(page.locator("#low")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".upload-row")).to_have_count(0)


def test_gallery_is_newest_first_and_pages_with_load_more(site: LocalStack, page: Page) -> None:
    for seed in range(10, 23):
        upload = shapes_png(seed)
        requests.post(
            f"{site.url}/api/images",
            files={"file": (upload["name"], upload["buffer"], "image/png")},
            timeout=30,
        ).raise_for_status()
    newest = gallery_ids(site)[0]
    page.goto(site.url)
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
            .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
            .map((c) => c.id)"""
    )
    assert unlabeled == [], f"form controls without a label: {unlabeled}"
    assert page.locator("img:not([alt]), img[alt='']").count() == 0, "images without alt text"
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


def test_files_over_the_gateway_limit_are_refused_before_sending(
    site: LocalStack, page: Page
) -> None:
    """The page takes the limit from the gateway's /limits.json (made tiny here)."""
    page.route(
        "**/limits.json",
        lambda route: route.fulfill(json={"max_upload_bytes": 1000}),
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
