"""Debian chromium driven by Playwright (never `playwright install`), against a local stack."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from localrun import LocalStack

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"


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
        if message.type == "error":
            self.append(message.text)


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


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save the page as a test artifact under reports/."""

    def take(name: str) -> Path:
        REPORTS_DIR.mkdir(exist_ok=True)
        path = REPORTS_DIR / f"e2e-{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
