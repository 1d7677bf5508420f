"""Live preview: the selected image's original beside its edges with the current settings,
updated while a slider moves, never stored until Keep (GET .../preview.png stores nothing),
at 1280x800 and 390x844."""

import statistics
from collections.abc import Callable

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from localrun import LocalStack
from tests.e2e.conftest import (
    SCREENS,
    expect_focus_in_view,
    gallery_ids,
    set_slider,
    shapes_png,
)

pytestmark = pytest.mark.browser

# The issue asks for a preview within a second; on a busy shared test machine this is the
# generous bound, and the measured figures are printed (run with -s).
PREVIEW_BOUND_MS = 3000

CHANGE_TO_PREVIEW_MS = """() => {
    const changed = performance.getEntriesByName("canny-setting-changed");
    const shown = performance.getEntriesByName("canny-preview-shown").at(-1);
    const first = changed.find((mark) => mark.startTime > window.lastShownAt);
    return shown.startTime - first.startTime;
}"""
SHOWN_COUNT = "() => performance.getEntriesByName('canny-preview-shown').length"
SHOWN_MORE = "(n) => performance.getEntriesByName('canny-preview-shown').length > n"
# The canvas holds edges when some of its pixels are lit (the map is white on black).
CANVAS_LIT = """() => {
    const canvas = document.getElementById("preview-edges");
    if (canvas.width < 2) return false;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 128) return true;
    return false;
}"""


def upload_and_wait(page: Page, site: LocalStack, *seeds: int) -> None:
    """Upload one file after the other, so the preview is on the last one."""
    page.goto(site.url)
    for count, seed in enumerate(seeds, start=1):
        page.set_input_files("#file-input", files=[shapes_png(seed)])
        expect(page.locator("#gallery .card")).to_have_count(count)
        expect(page.locator("#preview-title")).to_have_text(f"Preview on shapes-{seed}.png")


def preview_for(page: Page, settings: str) -> None:
    expect(page.locator("#preview-edges")).to_have_attribute("data-params", settings)


def test_no_preview_and_no_request_before_there_is_an_image(site: LocalStack, screen: Page) -> None:
    screen.goto(site.url)
    expect(screen.locator("#limits")).to_contain_text("up to")
    sent: list[str] = []
    screen.on("request", lambda r: sent.append(r.url) if "preview" in r.url else None)
    set_slider(screen, "low", 30)
    screen.wait_for_timeout(600)
    expect(screen.locator("#preview")).to_be_hidden()
    assert sent == [], "nothing to preview on, so nothing is sent"


def test_preview_has_no_empty_state_and_stores_nothing_until_keep(
    site: LocalStack,
    browser: Browser,
    axe_screen: Page,
    axe_violations: Callable[[Page], list[str]],
) -> None:
    screen = axe_screen
    upload_and_wait(screen, site, 80)
    source = gallery_ids(site, screen)
    # At once the original and its stored edges, and no disabled buttons.
    expect(screen.locator("#preview-original")).to_have_attribute("alt", "shapes-80.png, original")
    screen.wait_for_function(CANVAS_LIT)
    expect(screen.locator("#preview-actions")).to_be_hidden()
    assert screen.locator("#preview button:disabled").count() == 0
    assert axe_violations(screen) == [], "first preview"

    set_slider(screen, "low", 20)
    set_slider(screen, "high", 60)
    preview_for(screen, "low 20, high 60, blur 5")
    expect(screen.locator("#preview-actions")).to_be_visible()
    assert axe_violations(screen) == [], "preview with Keep and Discard"
    assert gallery_ids(site, screen) == source, "a preview was stored"

    # Reloaded, or closed and opened again: still one result, no card for the preview.
    screen.reload()
    expect(screen.locator("#gallery .card")).to_have_count(1)
    storage = screen.context.storage_state()
    screen.close()
    width, height = SCREENS["desktop"]
    context = browser.new_context(
        storage_state=storage, viewport={"width": width, "height": height}
    )
    again = context.new_page()
    again.goto(site.url)
    expect(again.locator("#gallery .card")).to_have_count(1)
    # The settings survived both, so the preview comes back for them.
    expect(again.locator("#low-number")).to_have_value("20")
    preview_for(again, "low 20, high 60, blur 5")
    assert gallery_ids(site, again) == source
    again.get_by_role("button", name="Keep").click()
    expect(again.locator("#gallery .card")).to_have_count(2)
    assert len(gallery_ids(site, again)) == 2
    kept = again.locator("#gallery .card").first
    expect(kept.locator("h3")).to_have_text("shapes-80.png · low 20 / high 60")
    expect(kept.locator("h3")).to_be_focused()
    expect_focus_in_view(again)
    expect(again.locator("#announcer")).to_have_text(
        "shapes-80.png kept with low 20, high 60, blur 5."
    )
    context.close()


def test_preview_names_and_shows_the_image_it_keeps(site: LocalStack, screen: Page) -> None:
    """After a re-run on another card, title, original and edges are all that card's."""
    upload_and_wait(screen, site, 81, 82)
    expect(screen.locator("#preview-title")).to_have_text("Preview on shapes-82.png")
    set_slider(screen, "low", 40)
    preview_for(screen, "low 40, high 200, blur 5")
    screen.get_by_role("button", name="Re-run with current settings for shapes-81.png").click()
    expect(screen.locator("#preview-title")).to_have_text("Preview on shapes-81.png")
    rerun = screen.locator("#gallery .card").filter(has_text="shapes-81.png · low 40")
    expect(rerun.locator("h3")).to_be_focused()
    expect_focus_in_view(screen)
    original = screen.locator("#preview-original")
    expect(original).to_have_attribute("alt", "shapes-81.png, original")
    expect(original).to_have_attribute("src", rerun.locator(".pair img").first.get_attribute("src"))
    edges = screen.locator("#preview-edges")
    expect(edges).to_have_attribute(
        "aria-label", "Edges of shapes-81.png with low 40, high 200, blur 5"
    )

    set_slider(screen, "blur", 9)
    preview_for(screen, "low 40, high 200, blur 9")
    screen.get_by_role("button", name="Keep").click()
    kept = screen.locator("#gallery .card").first
    expect(kept.locator("h3")).to_have_text("shapes-81.png · low 40 / blur 9")
    kept_original = kept.locator(".pair img").first.get_attribute("src")
    first_original = rerun.locator(".pair img").first.get_attribute("src")
    assert (
        requests.get(f"{site.url}{kept_original}", timeout=10).content
        == requests.get(f"{site.url}{first_original}", timeout=10).content
    ), "Keep stored another image than the one the preview showed"


def test_discard_puts_the_settings_back(site: LocalStack, screen: Page) -> None:
    upload_and_wait(screen, site, 83)
    set_slider(screen, "blur", 9)
    preview_for(screen, "low 100, high 200, blur 9")
    screen.get_by_role("button", name="Discard").click()
    expect(screen.locator("#blur")).to_have_value("5")
    expect(screen.locator("#low")).to_be_focused()
    expect_focus_in_view(screen)
    preview_for(screen, "low 100, high 200, blur 5")
    expect(screen.locator("#preview-actions")).to_be_hidden()
    assert len(gallery_ids(site, screen)) == 1


def test_deleting_the_previewed_image_moves_the_preview_on(site: LocalStack, page: Page) -> None:
    upload_and_wait(page, site, 84, 85)
    expect(page.locator("#preview-title")).to_have_text("Preview on shapes-85.png")
    page.get_by_role("button", name="Delete shapes-85.png").click()
    expect(page.locator("#preview-title")).to_have_text("Preview on shapes-84.png")
    page.get_by_role("button", name="Delete shapes-84.png").click()
    expect(page.locator("#gallery .card")).to_have_count(0)
    expect(page.locator("#preview")).to_be_hidden()


def test_preview_follows_a_drag_and_cancels_what_a_newer_position_supersedes(
    site: LocalStack, screen: Page
) -> None:
    upload_and_wait(screen, site, 86)
    sent: list[str] = []
    aborted: list[str] = []
    screen.on("request", lambda r: sent.append(r.url) if "preview.png" in r.url else None)
    screen.on(
        "requestfailed",
        lambda r: aborted.append(r.failure) if "preview.png" in r.url else None,
    )
    # Each preview takes 400 ms more on the way (DevTools Network.emulateNetworkConditions),
    # so positions a drag passes through supersede requests still on their way.
    cdp = screen.context.new_cdp_session(screen)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    slider = screen.locator("#low").bounding_box()
    y = slider["y"] + slider["height"] / 2
    before = screen.evaluate(SHOWN_COUNT)
    screen.mouse.move(slider["x"] + 2, y)
    screen.mouse.down()
    for step in range(1, 21):
        screen.mouse.move(slider["x"] + slider["width"] * step / 40, y)
        screen.wait_for_timeout(60)
    # Still held: the preview has already changed under the finger.
    screen.wait_for_function(SHOWN_MORE, arg=before, timeout=10000)
    screen.mouse.up()
    low, high = (screen.locator(f"#{name}").input_value() for name in ("low", "high"))
    preview_for(screen, f"low {low}, high {high}, blur 5")
    assert aborted and all(failure == "net::ERR_ABORTED" for failure in aborted), aborted
    assert len(sent) < 20, f"{len(sent)} previews for 20 positions: not throttled"


def test_preview_sits_where_the_sliders_are(site: LocalStack, screen: Page) -> None:
    upload_and_wait(screen, site, 87)
    # The last slider in use: on a phone scrolled up to the top, as far as it goes.
    screen.locator("#blur").focus()
    if screen.viewport_size["width"] < 600:
        screen.evaluate("document.getElementById('blur').scrollIntoView({block: 'start'})")
    preview = screen.locator("#preview").bounding_box()
    settings = screen.locator("#settings").bounding_box()
    height = screen.viewport_size["height"]
    if screen.viewport_size["width"] >= 600:
        assert preview["x"] > settings["x"] + settings["width"], "beside the sliders"
        assert preview["y"] < settings["y"] + settings["height"]
    else:
        assert preview["y"] == pytest.approx(0, abs=1), "stuck to the top of a phone screen"
    assert preview["y"] >= 0 and preview["y"] + preview["height"] <= height, "all on screen"
    blur = screen.locator("#blur").bounding_box()
    assert blur["y"] >= preview["y"] + preview["height"] or blur["x"] < preview["x"], (
        "the preview covers the slider being moved"
    )


def test_time_from_a_slider_move_to_the_first_updated_preview(site: LocalStack, page: Page) -> None:
    """Ten moves, each waited for: the figure the issue asks for (printed, run with -s)."""
    upload_and_wait(page, site, 88)
    timings = []
    for low in (20, 40, 60, 80, 30, 50, 70, 90, 10, 110):
        page.evaluate(
            "window.lastShownAt = performance.getEntriesByName('canny-preview-shown').at(-1)"
            "?.startTime ?? -1"
        )
        set_slider(page, "low", low)
        preview_for(page, f"low {low}, high 200, blur 5")
        timings.append(page.evaluate(CHANGE_TO_PREVIEW_MS))
    print(f"\nslider move to updated preview, ms: {[round(t) for t in timings]}")
    print(f"median {statistics.median(timings):.0f} ms, max {max(timings):.0f} ms")
    assert max(timings) < PREVIEW_BOUND_MS, timings
