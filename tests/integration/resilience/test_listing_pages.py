"""After 1000 uploads, paging through the listing returns every id exactly once."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from localrun import LocalStack
from tests.integration.resilience.load_client import (
    CLIENT_TIMEOUT_SECONDS,
    OWNER,
    unique_png,
    upload,
)

UPLOADS = 1000
PAGE_SIZE = 100  # the API's largest page


def test_paging_after_1000_uploads_lists_each_id_once(local_stack: LocalStack) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: upload(local_stack, unique_png(i)), range(UPLOADS)))
    assert [a.status_code for a in answers] == [201] * UPLOADS, "some uploads failed"
    uploaded = {answer.json()["id"] for answer in answers}
    assert len(uploaded) == UPLOADS, "the test images must all be different"

    listed: list[str] = []
    cursor = None
    for _ in range(UPLOADS // PAGE_SIZE + 2):
        query = {"limit": PAGE_SIZE, **({"before": cursor} if cursor else {})}
        page = requests.get(
            f"{local_stack.url}/api/images",
            params=query,
            headers=OWNER,
            timeout=CLIENT_TIMEOUT_SECONDS,
        ).json()
        listed += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    repeated = [image_id for image_id, count in Counter(listed).items() if count > 1]
    assert not repeated, f"{len(repeated)} ids listed more than once"
    assert set(listed) == uploaded, (
        f"{len(uploaded - set(listed))} uploaded ids missing, {len(set(listed) - uploaded)} extra"
    )
