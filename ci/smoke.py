"""Smoke test of a running deployment: `python -m ci.smoke URL`.

Checks what a user and an attacker would see: the gateway is alive, monitoring and
readiness endpoints are not public, uploads come back as exactly the edge map the
documented pipeline gives, and they belong to the uploader: another client (without the
owner cookie the first upload set) can neither list, read nor delete them, and result
files are private to caches. Several uploads are sent back to back: nginx's least_conn
falls back to round-robin between idle backends, so each backend answers some of them.
Exits 1 with one line per failed check; the uploads are deleted again at the end.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from urllib.parse import urljoin

import numpy as np
import requests

from ci import edge_reference

# /api/metrics and /api/readyz would appear if the proxy stripped the /api prefix.
PRIVATE_PATHS = ("/metrics", "/readyz", "/stub_status", "/api/metrics", "/api/readyz")
NOT_PUBLIC = (403, 404)
TIMEOUT_SECONDS = 15
# Sent with each upload, so the check holds whatever the service's defaults are; the answer
# is compared on these names only, so a parameter added later (left at its default, which
# must leave the edges unchanged) needs no edit here (docs/architecture.md).
SENT_PARAMS = {
    "low": edge_reference.LOW,
    "high": edge_reference.HIGH,
    "blur": edge_reference.BLUR,
}


class SmokeError(Exception):
    """One failed check; the message is the reason shown to whoever reads the job log."""


def _get(session: requests.Session, url: str) -> requests.Response:
    try:
        return session.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as error:
        raise SmokeError(f"GET {url} failed: {error}") from error


def wait_until_healthy(session: requests.Session, base: str, wait_seconds: float) -> None:
    """Poll the gateway's /healthz until it answers 200 or the wait is over (at least once)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            response = _get(session, urljoin(base, "/healthz"))
            if response.status_code == 200:
                return
            problem = f"gateway /healthz answered {response.status_code}, expected 200"
        except SmokeError as error:
            problem = str(error)
        if time.monotonic() >= deadline:
            raise SmokeError(problem)
        time.sleep(2)


def check_private(session: requests.Session, base: str, path: str) -> None:
    status = _get(session, urljoin(base, path)).status_code
    if status not in NOT_PUBLIC:
        raise SmokeError(f"{path} is reachable from outside (HTTP {status}); it must be 403/404")


def _upload(session: requests.Session, base: str, name: str, data: bytes) -> dict:
    url = urljoin(base, "/api/images")
    try:
        response = session.post(
            url,
            files={"file": (name, data, "image/png")},
            data={param: str(value) for param, value in SENT_PARAMS.items()},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise SmokeError(f"POST {url} failed: {error}") from error
    if response.status_code != 201:
        raise SmokeError(f"POST /api/images answered {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError as error:
        raise SmokeError("POST /api/images did not answer JSON") from error
    missing = {"id", "edges_url", "width", "height", "params"} - set(body)
    if missing:
        raise SmokeError(f"POST /api/images answer lacks {sorted(missing)}")
    return body


def compare_edges(expected: np.ndarray, actual: np.ndarray | None) -> None:
    if actual is None:
        raise SmokeError("the edge map is not a decodable image")
    if actual.shape != expected.shape:
        got, want = actual.shape[::-1], expected.shape[::-1]
        raise SmokeError(f"edge map is {got} pixels, expected {want}")
    differing = int(np.count_nonzero(actual != expected))
    if differing:
        raise SmokeError(
            f"edge map differs from the reference pipeline in {differing} of {expected.size} pixels"
        )


def check_private_caching(response: requests.Response, url: str) -> None:
    """Result files are capability URLs of one owner: shared caches must not keep them."""
    directives = {
        part.strip().lower() for part in response.headers.get("Cache-Control", "").split(",")
    }
    if "private" not in directives:
        raise SmokeError(f"GET {url} is cacheable by shared caches (Cache-Control lacks private)")


def check_upload(session: requests.Session, base: str, seed: int, uploaded: list[str]) -> None:
    """Upload a fresh sample and compare its edge map pixel by pixel with the reference.

    Ids go to `uploaded` for deletion at the end: deleting at once would put a DELETE
    between two uploads, and round-robin would then send every upload to the same backend."""
    data = edge_reference.sample_png(seed)
    expected = edge_reference.expected_edges(data)
    body = _upload(session, base, f"smoke-{seed}.png", data)
    uploaded.append(body["id"])
    used = {name: body["params"].get(name) for name in SENT_PARAMS}
    if used != SENT_PARAMS:
        raise SmokeError(f"backend used params {body['params']}, sent {SENT_PARAMS}")
    if (body["width"], body["height"]) != expected.shape[::-1]:
        raise SmokeError(f"size {body['width']}x{body['height']} is not the upload's")
    response = _get(session, urljoin(base, body["edges_url"]))
    if response.status_code != 200:
        raise SmokeError(f"GET {body['edges_url']} answered {response.status_code}")
    check_private_caching(response, body["edges_url"])
    compare_edges(expected, edge_reference.decode_edges(response.content))


def _listed_ids(session: requests.Session, base: str) -> set[str]:
    url = urljoin(base, "/api/images?limit=100")
    response = _get(session, url)
    if response.status_code != 200:
        raise SmokeError(f"GET /api/images answered {response.status_code}")
    try:
        return {item["id"] for item in response.json()["items"]}
    except (ValueError, KeyError, TypeError) as error:
        raise SmokeError("GET /api/images did not answer {items: [...]}") from error


def check_hidden_from_others(base: str, uploaded: list[str]) -> None:
    """A client without the uploader's owner key sees none of the uploads."""
    with requests.Session() as stranger:
        seen = _listed_ids(stranger, base) & set(uploaded)
        if seen:
            raise SmokeError(f"another client lists {len(seen)} of the uploads")
        for image_id in uploaded:
            url = urljoin(base, f"/api/images/{image_id}")
            status = _get(stranger, url).status_code
            if status != 404:
                raise SmokeError(f"another client got GET /api/images/{image_id}: {status}")
            status = _delete_status(stranger, url)
            if status != 404:
                raise SmokeError(f"another client's DELETE /api/images/{image_id}: {status}")


def check_unlisted(session: requests.Session, base: str, deleted: list[str]) -> None:
    left = _listed_ids(session, base) & set(deleted)
    if left:
        raise SmokeError(f"{len(left)} deleted uploads are still listed")


def _delete_status(session: requests.Session, url: str) -> int:
    try:
        return session.delete(url, timeout=TIMEOUT_SECONDS).status_code
    except requests.RequestException as error:
        raise SmokeError(f"DELETE {url} failed: {error}") from error


def _delete(session: requests.Session, base: str, image_id: str) -> None:
    status = _delete_status(session, urljoin(base, f"/api/images/{image_id}"))
    if status != 204:
        raise SmokeError(f"DELETE /api/images/{image_id} answered {status}, expected 204")


def _record(failures: list[str], label: str, check: Callable[[], None]) -> None:
    try:
        check()
        print(f"ok: {label}")
    except SmokeError as error:
        failures.append(f"{label}: {error}")


def run(base: str, uploads: int, seed: int, wait_seconds: float) -> list[str]:
    """Run every check and return the reasons of those that failed."""
    failures: list[str] = []
    with requests.Session() as session:
        try:
            wait_until_healthy(session, base, wait_seconds)
        except SmokeError as error:
            return [str(error)]
        print("ok: gateway /healthz")
        for path in PRIVATE_PATHS:
            _record(failures, f"{path} not public", partial(check_private, session, base, path))
        # The session keeps the owner cookie the first upload sets: every later call of this
        # run acts as that one owner.
        uploaded: list[str] = []
        for n in range(uploads):
            check = partial(check_upload, session, base, seed + n, uploaded)
            _record(failures, f"upload {n + 1} of {uploads}", check)
        if uploaded:
            check = partial(check_hidden_from_others, base, uploaded)
            _record(failures, "uploads hidden from other clients", check)
        for image_id in uploaded:
            _record(failures, f"delete {image_id}", partial(_delete, session, base, image_id))
        if uploaded:
            check = partial(check_unlisted, session, base, uploaded)
            _record(failures, "deleted uploads unlisted", check)
    return failures


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.smoke", description=__doc__)
    parser.add_argument("url", help="the deployment's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--seed", type=int, help="seed of the first sample image (default random)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for /healthz")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"URL must start with http:// or https://, got {args.url!r}")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    base = args.url.rstrip("/") + "/"
    print(f"smoke test of {base} (sample seed {seed})")
    failures = run(base, args.uploads, seed, args.wait)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if failures:
        print(f"smoke test failed: {len(failures)} check(s)", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
