"""The JSON log line every process of the backend writes: gunicorn's master, its workers and
the app (canny.request_log adds the request id and the access log's fields).

python-json-logger writes the JSON (pythonjsonlogger/core.py, BaseJsonFormatter: `fmt` as a
sequence of record attributes, `rename_fields`, and every `extra={...}` key merged into the
object by merge_record_extra); this module only names the keys the logs have always had and
writes the time in UTC with milliseconds. No Flask here: gunicorn's master formats its own messages
with it.
"""

from __future__ import annotations

import logging
import time

from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

FIELDS = ("asctime", "levelname", "name", "message")
KEY_NAMES = {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"}


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per line: time, level, logger, message, then the record's extras."""

    def __init__(self) -> None:
        super().__init__(list(FIELDS), rename_fields=KEY_NAMES, json_default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """ISO 8601 in UTC with milliseconds: `2026-12-07T00:21:10.123Z`."""
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"
