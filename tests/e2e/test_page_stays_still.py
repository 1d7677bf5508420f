"""The page as an image tool, at 1280x800 and 390x844: it stays still while uploads
finish, says one sentence per batch, keeps focus on screen, offers Undo for a delete,
keeps its order and settings across reloads, takes exact numbers, and draws edge
thumbnails dark on light. axe-core checks each state."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Page, expect

from localrun import LocalStack
from tests.e2e.conftest import (
    expect_focus_in_view,
    expect_images_loaded,
    gallery_ids,
    shapes_png,
)

pytestmark = pytest.mark.browser

LISTEN = """() => {
    window.heard = [];
    const region = document.getElementById("announcer");
    new MutationObserver(() => region.textContent && window.heard.push(region.textContent))
        .observe(region, {childList: true, characterData: true, subtree: true});
}"""


def card_titles(page: Page) -> list[str]:
    return page.locator("#gallery .card h3").all_inner_texts()


def test_a_batch_finishes_without_moving_the_page_and_is_announced_once(
    site: LocalStack, axe_screen: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    page = axe_screen
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to")
    # The user is at the settings, as when choosing how the batch is processed.
    page.locator("#low-number").focus()
    page.evaluate("document.getElementById('settings').scrollIntoView({block: 'start'})")
    scrolled = page.evaluate("window.scrollY")
    page.evaluate(LISTEN)
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    page.set_input_files(
        "#file-input", files=[*(shapes_png(seed) for seed in range(90, 98)), notes]
    )
    expect(page.locator("#gallery .card")).to_have_count(8, timeout=30000)
    expect(page.locator("#announcer")).to_have_text("8 done, 1 refused.")
    page.wait_for_timeout(300)
    assert page.evaluate("window.heard") == ["8 done, 1 refused."]
    assert page.evaluate("window.scrollY") == scrolled, "finished uploads scrolled the page"
    expect(page.locator("#low-number")).to_be_focused()
    expect_focus_in_view(page)
    assert axe_violations(page) == [], "after a batch"


def test_delete_offers_undo_then_deletes(
    site: LocalStack, axe_screen: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    page = axe_screen
    page.goto(site.url)
    for seed in (100, 101):
        page.set_input_files("#file-input", files=[shapes_png(seed)])
        expect(page.locator("#preview-title")).to_have_text(f"Preview on shapes-{seed}.png")
    cards = page.locator("#gallery .card")
    page.get_by_role("button", name="Delete shapes-100.png").click()
    expect(cards).to_have_count(1)
    expect(page.locator("#undo-text")).to_have_text("shapes-100.png deleted.")
    expect(page.get_by_role("button", name="Undo")).to_be_focused()
    expect_focus_in_view(page)
    assert axe_violations(page) == [], "the Undo bar"
    assert len(gallery_ids(site, page)) == 2, "deleted before Undo expired"

    page.get_by_role("button", name="Undo").click()
    expect(cards).to_have_count(2)
    assert card_titles(page) == ["shapes-101.png", "shapes-100.png"], "restored in its place"
    expect(cards.nth(1).locator("h3")).to_be_focused()
    expect_focus_in_view(page)

    page.get_by_role("button", name="Delete shapes-100.png").click()
    expect(page.locator("#undo-bar")).to_be_hidden(timeout=12000)
    expect(cards.first.locator("h3")).to_be_focused()
    expect_focus_in_view(page)
    page.wait_for_timeout(300)
    assert len(gallery_ids(site, page)) == 1


def test_a_delete_pending_when_the_page_is_left_is_sent(site: LocalStack, page: Page) -> None:
    page.goto(site.url)
    page.set_input_files("#file-input", files=[shapes_png(102)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    page.get_by_role("button", name="Delete shapes-102.png").click()
    page.reload()
    for _ in range(50):
        if not gallery_ids(site, page):
            break
        page.wait_for_timeout(100)
    assert gallery_ids(site, page) == [], "the delete pending at reload was never sent"


def test_order_and_settings_survive_a_reload(site: LocalStack, screen: Page) -> None:
    page = screen
    page.goto(site.url)
    for seed in (103, 104, 103):
        page.set_input_files("#file-input", files=[shapes_png(seed)])
        expect(page.locator(".upload-row").last).to_contain_text("Done")
    # The same file again is the same result: it stays where it was.
    assert card_titles(page) == ["shapes-104.png", "shapes-103.png"]
    page.locator("#high-number").fill("300")
    page.locator("#high-number").press("Enter")
    page.locator("#low-number").fill("70")
    page.locator("#low-number").press("Enter")
    page.get_by_role("button", name="Re-run with current settings for shapes-103.png").click()
    expect(page.locator("#gallery .card")).to_have_count(3)
    before = card_titles(page)
    assert before[0] == "shapes-103.png · low 70 / high 300", "a re-run says what differs"
    page.reload()
    expect(page.locator("#gallery .card")).to_have_count(3)
    assert card_titles(page) == before
    expect(page.locator("#low")).to_have_value("70")
    expect(page.locator("#high-number")).to_have_value("300")


def test_number_fields_and_page_keys(
    site: LocalStack, axe_screen: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    page = axe_screen
    config = requests.get(f"{site.url}/api/config", timeout=10).json()["params"]
    page.goto(site.url)
    expect(page.locator("#limits")).to_contain_text("up to")
    low, high = config["low"], config["high"]
    page_step = (low["max"] - low["min"]) // 20
    page.locator("#low").focus()
    page.keyboard.press("PageUp")
    expect(page.locator("#low-number")).to_have_value(str(low["default"] + page_step))
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")
    expect(page.locator("#low")).to_have_value(str(low["default"] - page_step))
    # A typed number moves the slider; out of range or below low, it is brought back.
    page.locator("#high-number").fill(str(high["max"] + 500))
    page.locator("#high-number").press("Enter")
    expect(page.locator("#high")).to_have_value(str(high["max"]))
    page.locator("#blur-number").fill("4")
    page.locator("#blur-number").press("Tab")
    expect(page.locator("#blur")).to_have_value("5")
    page.locator("#high-number").fill("10")
    page.locator("#high-number").press("Enter")
    expect(page.locator("#low-number")).to_have_value("10")
    expect_focus_in_view(page)
    assert axe_violations(page) == [], "number fields"


EDGE_INK = """(image) => getComputedStyle(image).filter"""


def test_edge_thumbnails_are_dark_lines_on_light(
    site: LocalStack, screen: Page, request: pytest.FixtureRequest
) -> None:
    page = screen
    page.goto(site.url)
    # Large, so its 1-px edges are scaled down several times in the thumbnail.
    page.set_input_files("#file-input", files=[shapes_png(105, 1600, 1067)])
    expect(page.locator("#gallery .card")).to_have_count(1)
    expect_images_loaded(page, "#gallery .card img")
    thumbnail = page.locator("#gallery .card .pair img").nth(1)
    assert "url" in thumbnail.evaluate(EDGE_INK)
    thumbnail.scroll_into_view_if_needed()
    shot = Path(request.config.rootpath) / "reports" / f"thumbnail-{request.node.name}.png"
    shot.parent.mkdir(exist_ok=True)
    thumbnail.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float) / 255
    assert pixels.mean() > 0.8, "the paper is light"
    assert (pixels < 0.5).mean() > 0.005, "the lines are dark enough to read"
