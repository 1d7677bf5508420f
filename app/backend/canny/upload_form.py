"""The upload's multipart/form-data body, parsed in memory by `multipart`'s push parser.

werkzeug's form parser (request.files) works in 64 KB steps with a regex per step and
spooled every file over 500 KB to a temp file; `multipart` finds the boundaries with
bytes.find over megabyte reads, several times cheaper (docs/performance.md, "Levers
kept"). Keeping the file in memory is safe: MAX_CONTENT_LENGTH bounds the body and the file
part is refused as soon as it passes the upload limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser

from canny.client_text import quoted
from canny.errors import InvalidRequestError, PayloadTooLargeError

FILE_FIELD = "file"
READ_BYTES = 1024 * 1024
# The form has `file` and a few small text fields (the edge parameters).
MAX_PARTS = 16
MAX_FIELD_BYTES = 1024


@dataclass
class ParsedUpload:
    """What the parser read: the text fields and the file. canny.api_models.UploadForm is the
    form as the API documents it."""

    fields: dict[str, str] = field(default_factory=dict)
    file: bytes | None = None


class _Collector:
    """Turns parser events into text fields and the file's bytes, enforcing sizes."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.form = ParsedUpload()
        self._name = ""
        self._chunks: list[bytes] = []
        self._size = 0

    def segment(self, segment: MultipartSegment) -> None:
        self._name = segment.name or ""
        self._chunks, self._size = [], 0
        # One rule for every repeated field, as for the re-run's JSON and form bodies:
        # refused, so no parser's choice of first or last decides what runs.
        if self._name == FILE_FIELD and self.form.file is not None:
            raise InvalidRequestError("send one `file` per request")
        if self._name in self.form.fields:
            raise InvalidRequestError(f"form field {quoted(self._name)} is given more than once")

    def payload(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._name == FILE_FIELD:
            if self._size > self.max_file_bytes:
                raise PayloadTooLargeError.over_limit(self.max_file_bytes)
        elif self._size > MAX_FIELD_BYTES:
            raise InvalidRequestError(
                f"form field {quoted(self._name)} is over {MAX_FIELD_BYTES} bytes"
            )
        self._chunks.append(chunk)

    def end(self) -> None:
        content = b"".join(self._chunks)
        if self._name == FILE_FIELD:
            self.form.file = content
            return
        try:
            self.form.fields[self._name] = content.decode()
        except UnicodeDecodeError:
            raise InvalidRequestError(
                f"form field {quoted(self._name)} is not UTF-8 text"
            ) from None


def parse_upload(
    read: Callable[[int], bytes], boundary: str, content_length: int, max_file_bytes: int
) -> ParsedUpload:
    """Read the whole body with `read` and return its text fields and `file` part."""
    if not boundary:
        raise InvalidRequestError("multipart/form-data needs a boundary parameter")
    collector = _Collector(max_file_bytes)
    try:
        with PushMultipartParser(
            boundary, content_length=content_length, max_segment_count=MAX_PARTS
        ) as parser:
            for event in parser.parse_blocking(read, READ_BYTES):
                if isinstance(event, MultipartSegment):
                    collector.segment(event)
                elif event is None:
                    collector.end()
                else:
                    collector.payload(event)
    except ParserLimitReached as error:
        raise InvalidRequestError(f"the multipart form is too large: {error}") from None
    except MultipartError as error:
        raise InvalidRequestError(f"malformed multipart body: {error}") from None
    return collector.form
