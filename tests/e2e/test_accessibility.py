"""axe-core finds nothing, focus is never lost, status changes are said once, and focus
rings and control borders reach 3:1 (WCAG 1.4.11), at desktop and phone width."""

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from localrun import LocalStack
from tests.e2e.conftest import (
    expect_images_loaded,
    shapes_png,
    upload_through_api,
    viewport_context,
)

pytestmark = pytest.mark.browser

WIDTHS = [1280, 390]


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def axe_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """axe is injected as an inline script, which the gateway's CSP forbids (rightly):
    only these contexts bypass it (Playwright's `bypass_csp` context option,
    https://playwright.dev/python/docs/api/class-browser#browser-new-context)."""
    context = viewport_context(browser, request.param, bypass_csp=True)
    yield context.new_page()
    context.close()


def assert_no_violations(page: Page, run_axe: Callable[[Page], list[str]], state: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"axe on {state}:\n" + "\n".join(violations)


def test_axe_empty_page(
    site: LocalStack, axe_page: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    axe_page.goto(site.url)
    expect(axe_page.locator("#gallery-empty")).to_be_visible()
    expect(axe_page.locator("#limits")).to_contain_text("up to")
    assert_no_violations(axe_page, axe_violations, "the empty page")


def test_axe_gallery_of_three_and_open_viewer(
    site: LocalStack, axe_page: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    for seed in (40, 41, 42):
        upload_through_api(site, axe_page, shapes_png(seed))
    axe_page.goto(site.url)
    expect(axe_page.locator("#gallery .card")).to_have_count(3)
    expect_images_loaded(axe_page, "#gallery .card img")
    assert_no_violations(axe_page, axe_violations, "a gallery of 3")

    axe_page.locator("#gallery .card").first.get_by_role("button", name="View full size").click()
    expect(axe_page.locator("#viewer")).to_be_visible()
    expect_images_loaded(axe_page, "#viewer img")
    assert_no_violations(axe_page, axe_violations, "the open viewer")


def test_axe_error(
    site: LocalStack, axe_page: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    axe_page.goto(site.url)
    fake_png = {"name": "fake.png", "mimeType": "image/png", "buffer": b"not really a png"}
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    axe_page.set_input_files("#file-input", files=[fake_png, notes])
    expect(axe_page.locator(".upload-row.failed")).to_have_count(2)
    assert_no_violations(axe_page, axe_violations, "failed uploads")


def active(page: Page) -> str:
    """What has focus, as tag#id or tag.text; 'body' means focus was lost."""
    return page.evaluate(
        """() => {
            const e = document.activeElement;
            if (!e || e === document.body) return "body";
            return `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}:${e.textContent.trim()}`;
        }"""
    )


def test_focus_survives_load_more(site: LocalStack, page: Page) -> None:
    for seed in range(50, 63):
        upload_through_api(site, page, shapes_png(seed))
    page.goto(site.url)
    expect(page.locator("#gallery .card")).to_have_count(12)
    page.locator("#load-more").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#gallery .card")).to_have_count(13)
    expect(page.locator("#load-more")).to_be_hidden()
    # The button hid with the last page: focus is on the first image it brought.
    assert active(page) == "h3:" + page.locator("#gallery .card h3").nth(12).inner_text()


def test_focus_survives_rerun_delete_and_viewer(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(64), shapes_png(65)])
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(2)

    # Re-run with unchanged settings: the same result; focus goes to its card.
    rerun = page.get_by_role("button", name="Re-run with current settings for shapes-64.png")
    rerun.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#announcer")).to_have_text(re.compile(r"^Re-run of shapes-64\.png ready"))
    assert active(page) == "h3:shapes-64.png"
    expect(cards).to_have_count(2)

    # The viewer: Enter opens it, Escape closes it, focus returns to the opener.
    view = page.get_by_role("button", name="View full size shapes-65.png")
    view.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_be_visible()
    assert page.evaluate("document.getElementById('viewer').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    assert active(page) == "button:View full size shapes-65.png"

    # Space on the download link downloads, as on a button.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download edges of shapes-65.png").focus()
        page.keyboard.press(" ")
    assert download.value.suggested_filename == "shapes-65-edges-low100-high200-blur5.png"

    # Delete moves focus to its Undo; when that expires, to the neighbouring card, or
    # to the gallery heading when none is left.
    page.get_by_role("button", name="Delete shapes-64.png").focus()
    page.keyboard.press("Enter")
    expect(cards).to_have_count(1)
    assert active(page) == "button#undo-button:Undo"
    page.get_by_role("button", name="Delete shapes-65.png").focus()
    page.keyboard.press("Space")
    expect(cards).to_have_count(0)
    assert active(page) == "button#undo-button:Undo"
    expect(page.locator("#undo-bar")).to_be_hidden(timeout=12000)
    assert active(page) == "h2#gallery-title:Gallery"


def test_focus_survives_dismiss(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    notes = [{"name": f"notes-{n}.txt", "mimeType": "text/plain", "buffer": b"x"} for n in (1, 2)]
    page.set_input_files("#file-input", files=notes)
    rows = page.locator(".upload-row.failed")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Dismiss notes-1.txt").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    assert active(page) == "button:Dismiss notes-2.txt"
    page.keyboard.press("Enter")
    expect(rows).to_have_count(0)
    assert page.evaluate("document.activeElement.id") == "file-input"


def test_one_live_region_announces_each_change_once(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    # The modal viewer makes the rest of the page inert, its live region included
    # (https://html.spec.whatwg.org/multipage/interaction.html#modal-dialogs-and-inert-subtrees):
    # the viewer has its own, for the zoom level, and is never open with the page's.
    live = page.evaluate(
        """() => [...document.querySelectorAll(
            '[aria-live]:not([aria-live="off"]), [role=status], [role=alert], [role=log], output'
        )].map((region) => region.id)"""
    )
    assert live == ["zoom-level", "announcer"], f"{live}: screen readers would hear changes twice"
    said: list[str] = []
    page.expose_function("heard", lambda text: said.append(text))
    page.evaluate(
        """() => {
            const region = document.getElementById("announcer");
            new MutationObserver(() => region.textContent && window.heard(region.textContent))
                .observe(region, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.set_input_files("#file-input", files=[shapes_png(66)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect(page.locator("#announcer")).to_have_text("1 done.")
    page.wait_for_timeout(300)
    assert said == ["1 done."], said


def luminance(rgb: str) -> float:
    """Relative luminance of a CSS rgb()/rgba() colour (WCAG 2.x definition)."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", rgb)[:3])

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


STYLE = """([selector, property]) =>
    getComputedStyle(document.querySelector(selector)).getPropertyValue(property)"""


def test_focus_ring_and_control_borders_reach_3_to_1(site: LocalStack, page: Page) -> None:
    upload_through_api(site, page, shapes_png(67))
    page.goto(site.url)
    expect(page.locator("#gallery .card")).to_have_count(1)
    white = page.evaluate(STYLE, ["section", "background-color"])
    wash = page.evaluate(STYLE, ["body", "background-color"])
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the first slider: a :focus-visible ring from the keyboard
    ring = page.evaluate(STYLE, [":focus-visible", "outline-color"])
    checks = {
        "focus ring": ring,
        "button border": page.evaluate(STYLE, [".card .button", "border-top-color"]),
        "drop zone border": page.evaluate(STYLE, ["#drop-zone", "border-top-color"]),
    }
    for name, colour in checks.items():
        for background in (white, wash):
            ratio = contrast(colour, background)
            assert ratio >= 3, f"{name} {colour} on {background}: {ratio:.2f}:1"
