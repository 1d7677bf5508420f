"""The fixed Python cost of a request, cut (issue 31; docs/performance-levers.md): each cut
is held here by what it avoids, not by timing: the upload hashed once, no pydantic model
built where nothing needs validating, an owner key's HMAC and digest computed once, a
metric's labelled child looked up once, log records without caller, thread or process."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from canny import images_api, request_log, request_metrics
from canny.api_models import ImageRecord
from canny.edge_params import EdgeParams, parse_params
from canny.errors import InvalidParamsError
from canny.metrics import REQUEST_SECONDS, REQUESTS
from canny.owner_keys import OwnerKeys
from canny.settings import Settings
from flask import Flask
from prometheus_client import REGISTRY
from werkzeug.test import TestResponse

Upload = Callable[..., TestResponse]
SECRET = "s" * 32


def test_a_new_upload_hashes_its_bytes_once(
    upload: Upload, shapes_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[bytes] = []

    def sha256(data: bytes) -> Any:
        hashed.append(data)
        return hashlib.sha256(data)

    monkeypatch.setattr(images_api, "hashlib", SimpleNamespace(sha256=sha256))
    assert upload(shapes_png).status_code == 201
    assert hashed == [shapes_png]


def test_a_new_upload_builds_no_image_record_and_stores_one(
    upload: Upload, shapes_png: bytes, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an ImageRecord was built on the upload path")

    monkeypatch.setattr(ImageRecord, "__init__", refuse)
    response = upload(shapes_png, low=10, high=20, blur=3)
    assert response.status_code == 201
    monkeypatch.undo()
    stored = json.loads((settings.results_dir / f"{response.get_json()['id']}.json").read_text())
    # The plain dict is the record the model would have dumped, key for key and in order.
    assert list(stored) == [*ImageRecord.model_fields, "owner"]
    record = ImageRecord.model_validate({k: v for k, v in stored.items() if k != "owner"})
    assert record.model_dump() == {k: v for k, v in stored.items() if k != "owner"}
    assert record.params == EdgeParams(low=10, high=20, blur=3)


def test_the_same_params_text_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {"low": "17", "high": "171", "blur": "7"}
    first = parse_params(texts)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("EdgeParams validated the same texts again")

    monkeypatch.setattr(EdgeParams, "model_validate", refuse)
    assert parse_params(dict(texts)) is first


def test_refused_params_are_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidParamsError, match="blur must be an odd integer"):
            parse_params({"blur": "4"})


def test_an_owner_keys_signature_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = OwnerKeys((SECRET, "t" * 32))
    key = keys.new_owner().key
    signed: list[str] = []
    signature = OwnerKeys._signature

    def counted(self: OwnerKeys, secret: bytes, owner_id: str) -> str:
        signed.append(owner_id)
        return signature(self, secret, owner_id)

    monkeypatch.setattr(OwnerKeys, "_signature", counted)
    assert keys.verifies(key) and keys.verifies(key)
    assert len(signed) == 1  # the first secret signed it
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert not keys.verifies(forged) and not keys.verifies(forged)
    assert not OwnerKeys(("u" * 32,)).verifies(key), "another set of secrets kept a verdict"


def test_an_owners_digest_is_computed_once() -> None:
    owner = OwnerKeys((SECRET,)).new_owner()
    assert owner.digest is owner.digest


def _requests_counted(route: str) -> float:
    labels = {"route": route, "method": "GET", "status": "200"}
    return REGISTRY.get_sample_value("canny_http_requests_total", labels) or 0.0


def test_a_routes_metric_children_are_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Flask(__name__)
    app.add_url_rule("/children/<name>", "probe", lambda **_: "ok")
    request_metrics.init_app(app)
    client = app.test_client()
    before = _requests_counted("/children/<name>")
    assert client.get("/children/a").status_code == 200

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("labels() was called again for the same label set")

    monkeypatch.setattr(REQUESTS, "labels", refuse)
    monkeypatch.setattr(REQUEST_SECONDS, "labels", refuse)
    assert client.get("/children/b").status_code == 200
    assert _requests_counted("/children/<name>") == before + 2


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_log_records_gather_no_caller_thread_or_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for switch in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, getattr(logging, switch))
    logger = logging.getLogger("canny")
    for kept in ("handlers", "level", "propagate"):
        monkeypatch.setattr(logger, kept, getattr(logger, kept))
    request_log.configure_logging("INFO")
    records = _Records()
    logger.addHandler(records)
    request_log.access_log.info("request", extra={"status": 200})
    (record,) = records.records
    assert (record.funcName, record.thread, record.process, record.processName) == (
        "(unknown function)",
        None,
        None,
        None,
    )
