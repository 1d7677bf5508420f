"""Debian chromium driven by Playwright (never `playwright install`), against a local stack."""

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    JSHandle,
    Page,
    sync_playwright,
)

from localrun import LocalStack
from tests.conftest import missing_tool
from tests.unit.backend import sample_images

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = REPO_ROOT / "reports"
# npm `axe-core`, installed by .ci/run; injected into the page under test as a script tag.
AXE_SCRIPT = REPO_ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """The app for the page tests; the upload rate limit is out of the way here (the
    paging test alone uploads 13 images) and has its own test with a throttled stack."""
    require_tool("nginx")
    with LocalStack(
        tmp_path_factory.mktemp("e2e"), upload_rate="100r/s", upload_burst=100
    ) as stack:
        yield stack


def shapes_png(seed: int, width: int = 480, height: int = 320) -> dict:
    """A file for set_input_files: a PNG of coloured shapes named shapes-<seed>.png."""
    data = sample_images.encode(sample_images.shapes(width=width, height=height, seed=seed), "png")
    return {"name": f"shapes-{seed}.png", "mimeType": "image/png", "buffer": data}


OWNER_COOKIE = "canny_owner"


def owner_key(page: Page) -> str | None:
    """The owner key the API set in this page's browser context, if any. Every test's
    context is new, so each test is a new owner with its own empty gallery."""
    keys = [c["value"] for c in page.context.cookies() if c["name"] == OWNER_COOKIE]
    assert len(keys) <= 1, f"expected at most one owner cookie, got {keys}"
    return keys[0] if keys else None


def owner_headers(page: Page) -> dict[str, str]:
    """Headers that make a request outside the browser act as the page's owner."""
    key = owner_key(page)
    assert key, "the page has no owner yet"
    return {"Authorization": f"Bearer {key}"}


def upload_through_api(site: LocalStack, page: Page, file: dict) -> dict:
    """Upload as the page's owner. A page with no owner yet gets the key the API issues as
    its cookie, so the page then shows what the test uploaded."""
    key = owner_key(page)
    answer = requests.post(
        f"{site.url}/api/images",
        files={"file": (file["name"], file["buffer"], file["mimeType"])},
        headers={"Authorization": f"Bearer {key}"} if key else {},
        timeout=30,
    )
    answer.raise_for_status()
    body = answer.json()
    if key is None:
        page.context.add_cookies(
            [{"name": OWNER_COOKIE, "value": body["owner_key"], "url": f"{site.url}/api/"}]
        )
    return body


def data_transfer(page: Page, file: dict) -> JSHandle:
    """A DataTransfer in the page holding `file`, as a drop or a paste carries it."""
    return page.evaluate_handle(
        """([name, type, base64]) => {
            const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [file["name"], file["mimeType"], base64.b64encode(file["buffer"]).decode()],
    )


def gallery_ids(site: LocalStack, page: Page) -> list[str]:
    """What the API lists for the page's owner, asked outside the browser."""
    if owner_key(page) is None:
        return []
    listed = requests.get(
        f"{site.url}/api/images?limit=100", headers=owner_headers(page), timeout=10
    ).json()
    return [item["id"] for item in listed["items"]]


IMAGE_LOADED = """(selector) => [...document.querySelectorAll(selector)]
    .every((image) => image.complete && image.naturalWidth > 0)"""


def expect_images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(IMAGE_LOADED, arg=selector, timeout=15000)


def set_slider(page: Page, name: str, value: int) -> None:
    """Playwright's fill sets a range input's value and fires its input event."""
    page.locator(f"#{name}").fill(str(value))


@pytest.fixture(scope="module")
def browser(require_tool: Callable[[str], str]) -> Iterator[Browser]:
    executable = require_tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleErrors(list):
    """Console errors and uncaught exceptions of a page, as text."""

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _is_lookup_miss(message):
            self.append(message.text)


def _is_lookup_miss(message: ConsoleMessage) -> bool:
    """Chromium logs every 4xx a script fetched; a 404 from the lookup is its normal
    "not processed yet" answer before an upload, not an error of the page."""
    path = urlsplit(message.location.get("url", "")).path
    return path == "/api/images/lookup" and "status of 404" in message.text


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(browser: Browser, console_errors: ConsoleErrors) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console_errors.watch(page)
    yield page
    context.close()


def viewport_context(browser: Browser, width: int, **options: object) -> BrowserContext:
    """A context at the given width; phones (under 600 px) get touch and a coarse pointer."""
    phone = width < 600
    return browser.new_context(
        viewport={"width": width, "height": 844 if phone else 900},
        has_touch=phone,
        is_mobile=phone,
        **options,
    )


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page on a 390 px touch screen."""
    context = viewport_context(browser, 390)
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save the page as a test artifact under reports/."""

    def take(name: str) -> Path:
        REPORTS_DIR.mkdir(exist_ok=True)
        path = REPORTS_DIR / f"e2e-{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        missing_tool(f"axe-core is not installed ({AXE_SCRIPT})")
    return AXE_SCRIPT


@pytest.fixture
def axe_violations(axe_script: Path) -> Callable[[Page], list[str]]:
    """Run axe-core (WCAG 2.x A and AA rules and best practices) on the page as it is now;
    return one line per violated rule and element. axe.run's API: github.com/dequelabs/axe-core
    doc/API.md ("axe.run", "runOnly")."""

    def run(page: Page) -> list[str]:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(axe_script))
        results = page.evaluate(
            """() => axe.run(document, {
                runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
            })"""
        )
        return [
            f"{violation['id']} ({violation['impact']}): {node['target']} {node['failureSummary']}"
            for violation in results["violations"]
            for node in violation["nodes"]
        ]

    return run


# The two screens the image tool is checked at: a laptop and a phone.
SCREENS = {"desktop": (1280, 800), "phone": (390, 844)}


def _screen_page(
    browser: Browser, name: str, console_errors: ConsoleErrors, **options: object
) -> Iterator[Page]:
    width, height = SCREENS[name]
    phone = width < 600
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=phone, is_mobile=phone, **options
    )
    page = context.new_page()
    console_errors.watch(page)
    yield page
    context.close()


@pytest.fixture(params=list(SCREENS))
def screen(
    request: pytest.FixtureRequest, browser: Browser, console_errors: ConsoleErrors
) -> Iterator[Page]:
    """A page at 1280x800 and, as a second run of the test, at 390x844 with touch."""
    yield from _screen_page(browser, request.param, console_errors)


@pytest.fixture(params=list(SCREENS))
def axe_screen(
    request: pytest.FixtureRequest, browser: Browser, console_errors: ConsoleErrors
) -> Iterator[Page]:
    """`screen` for tests that run axe, which is injected as an inline script: only these
    pages bypass the gateway's CSP (Playwright's `bypass_csp` context option,
    https://playwright.dev/python/docs/api/class-browser#browser-new-context)."""
    yield from _screen_page(browser, request.param, console_errors, bypass_csp=True)


FOCUS_RECT = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const r = e.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            what: e.id || e.textContent.trim().slice(0, 60)};
}"""


def expect_focus_in_view(page: Page) -> None:
    """Focus is on an element, and that element is on the screen (not scrolled away or
    behind the viewport's edges), once any scroll into view has happened."""
    page.wait_for_timeout(100)
    rect = page.evaluate(FOCUS_RECT)
    assert rect is not None, "focus was lost to the page body"
    size = page.viewport_size
    assert rect["bottom"] > 0 and rect["top"] < size["height"], f"focus off-screen: {rect}"
    assert rect["right"] > 0 and rect["left"] < size["width"], f"focus off-screen: {rect}"
