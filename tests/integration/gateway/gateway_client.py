"""Talking to a LocalStack's gateway the way a client does, and reading its JSON access log."""

import json
import time

import requests

from localrun import LocalStack
from tests.unit.backend import sample_images


def png(seed: int) -> bytes:
    """A small PNG with strong edges; each seed is a different image, hence a new result."""
    return sample_images.encode(sample_images.shapes(width=64, height=48, seed=seed), "png")


def upload(
    stack: LocalStack,
    data: bytes,
    filename: str = "image.png",
    session: requests.Session | None = None,
    **params: int,
) -> requests.Response:
    """POST one image; with a session its owner cookie goes along, as a browser's would."""
    return (session or requests).post(
        f"{stack.url}/api/images",
        files={"file": (filename, data, "image/png")},
        data={name: str(value) for name, value in params.items()},
        timeout=30,
    )


def access_log_entries(stack: LocalStack) -> list[dict]:
    return [json.loads(line) for line in stack.access_log.read_text().splitlines()]


def logged_request(stack: LocalStack, request_id: str, timeout: float = 5.0) -> dict:
    """nginx logs a request just after answering it: poll, bounded, for its line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in access_log_entries(stack):
            if entry["request_id"] == request_id:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} not in {stack.access_log} after {timeout}s")
