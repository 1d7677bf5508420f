"""canny.json_logs: the log line's keys and time format stay what log readers expect."""

from __future__ import annotations

import json
import logging
import re
import sys

from canny.json_logs import JsonFormatter

UTC_MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "canny.access", logging.INFO, __file__, 1, "request %s", ("x",), None
    )
    record.__dict__.update(extra)
    return record


def test_a_line_has_time_level_logger_message_and_the_extras() -> None:
    line = json.loads(JsonFormatter().format(_record(request_id="abc", status=201)))
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert UTC_MILLISECONDS.fullmatch(line["time"]), line["time"]
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "canny.access", "request x")
    assert (line["request_id"], line["status"]) == ("abc", 201)


def test_an_exception_is_one_string_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("canny").makeRecord(
            "canny", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]
    assert "exc_info" not in line


def test_values_json_cannot_encode_are_written_as_text() -> None:
    line = json.loads(JsonFormatter().format(_record(path=object())))
    assert line["path"].startswith("<object object")
