"""Uploads a user can follow and stop: name, size, percentage and Cancel per row; paste
from the clipboard; the drop hint only where dragging files is possible."""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from localrun import LocalStack
from tests.e2e.conftest import data_transfer, gallery_ids, shapes_png
from tests.unit.backend import sample_images

pytestmark = pytest.mark.browser

# Slow enough that a 3 MB upload is still under way when Cancel is pressed.
UPLOAD_BYTES_PER_SECOND = 256 * 1024


def noise_png() -> dict:
    data = sample_images.encode(sample_images.noise(1000, 1000, seed=7), "png")
    return {"name": "noise.png", "mimeType": "image/png", "buffer": data}


def stored_files(site: LocalStack) -> list[str]:
    return sorted(path.name for path in site.results_dir.iterdir())


def test_cancel_stops_an_upload_and_nothing_is_stored(site: LocalStack, page: Page) -> None:
    """Throttled with DevTools' Network.emulateNetworkConditions (uploadThroughput,
    chromedevtools.github.io/devtools-protocol/tot/Network) so the upload is still
    running when Cancel is pressed."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": UPLOAD_BYTES_PER_SECOND,
        },
    )
    upload = noise_png()
    page.set_input_files("#file-input", files=[upload])
    row = page.locator(".upload-row").first
    expect(row.locator(".upload-name")).to_have_text("noise.png")
    expect(row.locator(".upload-size")).to_have_text(re.compile(r"^\d\.\d MiB$"))
    expect(row.locator(".upload-percent")).to_have_text(re.compile(r"^([1-9]|[1-8]\d)%$"))
    row.get_by_role("button", name="Cancel noise.png").click()
    expect(page.locator(".upload-row")).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("Upload of noise.png cancelled.")
    assert page.evaluate("document.activeElement.id") == "file-input", "focus was lost"
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    time.sleep(2)  # were anything on its way to the backend, it would have landed by now
    assert gallery_ids(site, page) == []
    assert stored_files(site) == [], "a cancelled upload left files behind"
    expect(page.locator("#gallery .card")).to_have_count(0)


PASTE = """(clipboard) => document.dispatchEvent(
    new ClipboardEvent("paste", { clipboardData: clipboard, bubbles: true })
)"""


def test_pasting_an_image_uploads_it(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.evaluate(PASTE, data_transfer(page, shapes_png(90)))
    expect(page.locator(".upload-row").first).to_contain_text("shapes-90.png")
    expect(page.locator("#gallery .card h3")).to_have_text(["shapes-90.png"])


def test_drop_hint_only_where_files_can_be_dragged(
    site: LocalStack, page: Page, phone: Page
) -> None:
    page.goto(site.url)
    expect(page.locator(".drop-hint")).to_be_visible()
    phone.goto(site.url)
    assert phone.evaluate("matchMedia('(pointer: coarse)').matches"), "not a touch screen"
    expect(phone.locator(".drop-hint")).to_be_hidden()
    expect(phone.get_by_text("Choose images")).to_be_visible()
