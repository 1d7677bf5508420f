"""Two droplets on one bucket: the page of either gateway shows the images stored through
the other, loaded by the browser from that gateway's /results/ (proxying the bucket)."""

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import OWNER_COOKIE, expect_images_loaded, shapes_png
from tests.integration.storage.conftest import (  # noqa: F401 - fixtures used by name
    bucket,
    moto_server,
    s3_credentials,
    s3_stack_factory,
)

pytestmark = pytest.mark.browser


def test_either_gateway_shows_the_images_of_a_shared_bucket(
    browser: Browser,
    moto_server,  # noqa: F811
    bucket: str,  # noqa: F811
    s3_stack_factory,  # noqa: F811
) -> None:
    droplets = [s3_stack_factory(name, moto_server, bucket) for name in ("d1", "d2")]
    file = shapes_png(7)
    stored = requests.post(
        f"{droplets[0].url}/api/images",
        files={"file": (file["name"], file["buffer"], file["mimeType"])},
        timeout=30,
    ).json()
    for droplet in droplets:
        loaded, names = result_urls_loaded(browser, droplet.url, stored["owner_key"])
        assert any(url.startswith(f"{droplet.url}/results/{stored['id']}") for url in loaded)
        # Uploaded elsewhere, so named after its id, with the extension of the URL's path
        # (not of its signed query).
        assert f"image-{stored['id'][:8]}.png, original" in names


def result_urls_loaded(
    browser: Browser, site_url: str, owner_key: str
) -> tuple[list[str], list[str]]:
    """Open the page as the owner; once every gallery image has loaded, the /results/
    URLs the browser fetched and the images' alt texts."""
    context = browser.new_context()
    try:
        context.add_cookies([{"name": OWNER_COOKIE, "value": owner_key, "url": f"{site_url}/api/"}])
        page = context.new_page()
        loaded: list[str] = []
        page.on("response", lambda response: loaded.append(response.url))
        page.goto(site_url)
        page.wait_for_selector("#gallery img")
        expect_images_loaded(page, "#gallery img")
        names = page.locator("#gallery img").evaluate_all("images => images.map(i => i.alt)")
        return [url for url in loaded if "/results/" in url], names
    finally:
        context.close()
