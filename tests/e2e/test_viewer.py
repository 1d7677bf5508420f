"""The full-size viewer: original and edges at their real resolution, zoom and pan by
mouse, keyboard and touch, and a before/after split."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from localrun import LocalStack
from tests.e2e.conftest import (
    expect_images_loaded,
    shapes_png,
    upload_through_api,
)

pytestmark = pytest.mark.browser

# Bigger than the viewer at 1280 px, so "fit" has to shrink it and "actual size" is 1:1.
WIDTH, HEIGHT = 1600, 1200


def transform(page: Page) -> dict:
    """The layer's scale and offset, read back from its CSS matrix."""
    return page.evaluate(
        """() => {
            const layer = document.querySelector("#viewer-stage .viewer-layer");
            const m = new DOMMatrix(getComputedStyle(layer).transform);
            return {scale: m.a, x: m.e, y: m.f};
        }"""
    )


def open_big_image(site: LocalStack, page: Page) -> dict:
    item = upload_through_api(site, page, shapes_png(70, WIDTH, HEIGHT))
    page.goto(site.url)
    expect(page.locator("#gallery .card")).to_have_count(1)
    return item


def test_viewer_by_mouse(site: LocalStack, page: Page) -> None:
    item = open_big_image(site, page)
    page.locator("#gallery .card .pair img").first.click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect_images_loaded(page, "#viewer img")
    assert page.locator("#viewer-original").get_attribute("src") == item["original_url"]
    assert page.locator("#viewer-edges").get_attribute("src") == item["edges_url"]
    natural = page.evaluate(
        "[...document.querySelectorAll('#viewer img')].map(i => i.naturalWidth)"
    )
    assert natural == [WIDTH, WIDTH], "the viewer must show the files at full resolution"

    fitted = transform(page)
    assert fitted["scale"] < 1, "a 1600 px image is fitted into a smaller window"
    page.get_by_role("button", name="Actual size").click()
    expect(page.locator("#zoom-level")).to_have_text("Zoom 100%")
    shown = page.locator("#viewer-original").bounding_box()
    assert round(shown["width"]) == WIDTH, "actual size is one image pixel per CSS pixel"

    page.get_by_role("button", name="Zoom in").click()
    assert transform(page)["scale"] == pytest.approx(1.25)
    page.get_by_role("button", name="Zoom out").click()
    assert transform(page)["scale"] == pytest.approx(1)

    stage = page.locator("#viewer-stage").bounding_box()
    centre = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.move(*centre)
    page.mouse.wheel(0, -100)
    expect(page.locator("#zoom-level")).to_have_text("Zoom 125%")

    # Away from the split line in the middle, a drag pans.
    before = transform(page)
    start = (centre[0] + 200, centre[1])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] - 120, start[1] - 80, steps=5)
    page.mouse.up()
    after = transform(page)
    assert after["x"] == pytest.approx(before["x"] - 120, abs=1)
    assert after["y"] == pytest.approx(before["y"] - 80, abs=1)

    page.get_by_role("button", name="Fit").click()
    assert transform(page)["scale"] == pytest.approx(fitted["scale"])

    # The split: at 0.25 the edges start a quarter of the way into the stage.
    page.locator("#viewer-split").fill("0.25")
    clip = page.evaluate("getComputedStyle(document.getElementById('viewer-edges-clip')).clipPath")
    assert clip == "inset(0px 0px 0px 25%)", clip
    page.get_by_role("button", name="Close").click()
    expect(viewer).to_be_hidden()


def test_viewer_by_keyboard(site: LocalStack, page: Page) -> None:
    open_big_image(site, page)
    page.get_by_role("button", name="View full size").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_be_visible()
    page.locator("#viewer-stage").focus()
    fitted = transform(page)
    # Zoomed in until the image is wider and taller than the stage, so that it can pan.
    for _ in range(3):
        page.keyboard.press("+")
    assert transform(page)["scale"] == pytest.approx(fitted["scale"] * 1.25**3, rel=1e-3)
    before = transform(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    after = transform(page)
    assert after["x"] == pytest.approx(before["x"] - 40, abs=0.5)
    assert after["y"] == pytest.approx(before["y"] - 40, abs=0.5)
    for _ in range(3):
        page.keyboard.press("-")
    assert transform(page)["scale"] == pytest.approx(fitted["scale"], rel=1e-3)
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    assert page.evaluate("document.activeElement.textContent").startswith("View full size")


def test_viewer_pinch_zooms_at_phone_width(site: LocalStack, phone: Page) -> None:
    """Two real touch points through the DevTools protocol (Input.dispatchTouchEvent,
    chromedevtools.github.io/devtools-protocol/tot/Input), which Chromium turns into
    the pointer events the viewer follows."""
    open_big_image(site, phone)
    phone.get_by_role("button", name="View full size").tap()
    expect(phone.locator("#viewer")).to_be_visible()
    box = phone.locator("#viewer").bounding_box()
    assert box["width"] <= 390, "the viewer fits the phone screen"
    stage = phone.locator("#viewer-stage").bounding_box()
    cx, cy = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
    fitted = transform(phone)
    cdp = phone.context.new_cdp_session(phone)

    def touch(kind: str, spread: float) -> None:
        points = [{"x": cx - spread, "y": cy, "id": 0}, {"x": cx + spread, "y": cy, "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 40, 50, 60):
        touch("touchMove", spread)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert transform(phone)["scale"] == pytest.approx(fitted["scale"] * 3, rel=0.05)
    phone.get_by_role("button", name="Close").tap()
    expect(phone.locator("#viewer")).to_be_hidden()


def stage_box(page: Page) -> dict:
    return page.locator("#viewer-stage").bounding_box()


def handle_x(page: Page) -> float:
    box = page.locator("#viewer-handle").bounding_box()
    return box["x"] + box["width"] / 2


def open_compare(site: LocalStack, page: Page) -> None:
    for seed in (71, 72):
        upload_through_api(site, page, shapes_png(seed, WIDTH, HEIGHT))
    page.goto(site.url)
    expect(page.locator("#gallery .card")).to_have_count(2)
    page.locator("#gallery .card").first.get_by_role("button", name="View full size").click()
    expect(page.locator("#viewer")).to_be_visible()
    expect_images_loaded(page, "#viewer img")


def test_compare_split_stays_on_the_screen_while_zooming_and_panning(
    site: LocalStack, axe_screen: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    page = axe_screen
    open_compare(site, page)
    stage = stage_box(page)
    middle = stage["x"] + stage["width"] / 2
    assert handle_x(page) == pytest.approx(middle, abs=1)
    split = page.locator("#viewer-split")
    expect(split).to_have_attribute("aria-valuetext", "50% edges")
    expect(page.locator("#zoom-level")).to_have_attribute("role", "status")
    assert axe_violations(page) == [], "the compare at Fit"

    # Zoomed in deep: the split is still in the middle of the screen, the line as thin.
    for _ in range(20):
        if transform(page)["scale"] >= 2.5:
            break
        page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-level")).to_have_text(re.compile(r"^Zoom \d+%$"))
    assert transform(page)["scale"] >= 2
    assert handle_x(page) == pytest.approx(middle, abs=1)
    assert page.locator("#viewer-handle").bounding_box()["width"] == pytest.approx(2, abs=0.5)
    rendering = page.evaluate(
        "getComputedStyle(document.getElementById('viewer-edges')).imageRendering"
    )
    assert rendering == "pixelated", "pixels are sharp squares from 200%"

    # Bounded pan: sixty presses never leave the stage empty.
    page.locator("#viewer-stage").focus()
    for _ in range(60):
        page.keyboard.press("ArrowLeft")
    image = page.locator("#viewer-original").bounding_box()
    assert (
        image["x"] <= stage["x"] + 0.5
        and image["x"] + image["width"] >= stage["x"] + stage["width"] - 0.5
    )
    assert axe_violations(page) == [], "the compare zoomed in"

    # Dragging the handle on the picture moves the split, and does not pan.
    before = transform(page)
    y = stage["y"] + stage["height"] / 3
    page.mouse.move(middle, y)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] / 4, y, steps=6)
    page.mouse.up()
    assert transform(page) == before
    assert handle_x(page) == pytest.approx(stage["x"] + stage["width"] / 4, abs=2)
    expect(split).to_have_attribute("aria-valuetext", "25% edges")


def test_double_click_zooms_and_next_previous_and_overlay(
    site: LocalStack, axe_screen: Page, axe_violations: Callable[[Page], list[str]]
) -> None:
    page = axe_screen
    open_compare(site, page)
    fitted = transform(page)["scale"]
    stage = stage_box(page)
    page.mouse.dblclick(stage["x"] + stage["width"] * 0.3, stage["y"] + stage["height"] / 2)
    assert transform(page)["scale"] == pytest.approx(fitted * 2, rel=1e-3)

    title = page.locator("#viewer-title")
    first, second = page.locator("#gallery .card h3").all_text_contents()
    expect(title).to_have_text(first)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(title).to_have_text(second)
    assert transform(page)["scale"] == pytest.approx(fitted, rel=1e-3)
    page.locator("#viewer-stage").focus()
    page.keyboard.press("PageUp")
    expect(title).to_have_text(first)

    page.get_by_label("Overlay").check()
    expect(page.locator("#viewer-overlay")).to_be_visible()
    mask = page.evaluate("getComputedStyle(document.getElementById('viewer-overlay')).maskImage")
    assert "/results/" in mask, mask
    expect(page.locator("#viewer-handle")).to_be_hidden()
    assert axe_violations(page) == [], "the overlay"
