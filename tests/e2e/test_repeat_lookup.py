"""A file the owner has already processed is found by its SHA-256 and never sent again."""

import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from localrun import LocalStack
from tests.e2e.conftest import ConsoleErrors, data_transfer, shapes_png

pytestmark = pytest.mark.browser

DROP = """(transfer) => {
    const zone = document.getElementById("drop-zone");
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}"""


class ApiCalls:
    """Uploads and lookups the page sends, counted with page.on("request")."""

    def __init__(self, page: Page) -> None:
        self.uploads = 0
        self.lookups: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        path = urlsplit(request.url).path
        if request.method == "POST" and path == "/api/images":
            self.uploads += 1
        if request.method == "GET" and path == "/api/images/lookup":
            self.lookups.append(parse_qs(urlsplit(request.url).query)["sha256"][0])


def drop(page: Page, file: dict) -> None:
    page.evaluate(DROP, data_transfer(page, file))


def test_a_second_drop_of_the_same_file_sends_no_upload(
    site: LocalStack, page: Page, console_errors: ConsoleErrors
) -> None:
    calls = ApiCalls(page)
    page.goto(site.url)
    file = shapes_png(31)
    cards = page.locator("#gallery .card")
    rows = page.locator(".upload-row")

    drop(page, file)
    expect(rows.first).to_contain_text("Done")
    expect(cards).to_have_count(1)
    assert calls.uploads == 1, "an unknown file must be uploaded"
    assert calls.lookups == [hashlib.sha256(file["buffer"]).hexdigest()], "no lookup first"

    drop(page, file)
    expect(page.locator("#announcer")).to_have_text("1 already done.")
    expect(rows.last).to_contain_text("Done (already computed)")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_class(re.compile(r"\bhighlight\b"))
    assert len(calls.lookups) == 2
    assert calls.uploads == 1, "the same file with the same settings was uploaded again"

    drop(page, shapes_png(32))
    expect(cards).to_have_count(2)
    assert calls.uploads == 2, "another file must still be uploaded"
    assert console_errors == [], f"console errors: {console_errors}"


def test_without_crypto_subtle_the_page_just_uploads(
    site: LocalStack, page: Page, console_errors: ConsoleErrors
) -> None:
    # What a plain-HTTP origin other than localhost gets: no crypto.subtle at all
    # (https://developer.mozilla.org/en-US/docs/Web/API/Crypto/subtle).
    page.add_init_script(
        "Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })"
    )
    calls = ApiCalls(page)
    page.goto(site.url)
    assert page.evaluate("crypto.subtle") is None
    file = shapes_png(33)
    drop(page, file)
    expect(page.locator(".upload-row").first).to_contain_text("Done")
    drop(page, file)
    expect(page.locator(".upload-row").last).to_contain_text("Done (already computed)")
    assert calls.uploads == 2
    assert calls.lookups == []
    assert console_errors == [], f"console errors: {console_errors}"
