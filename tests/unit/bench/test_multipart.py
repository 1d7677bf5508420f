"""The bench's multipart envelope is what the API's parser (werkzeug) reads as an upload."""

import pytest

from bench.multipart import envelope
from tests.unit.bench.upload_receiver import parse


@pytest.mark.parametrize("fields", [{}, {"low": "50", "high": "150", "blur": "3"}])
@pytest.mark.parametrize("file_bytes", [b"\x89PNG\r\n\x1a\n....", b"--not a boundary\r\n" * 3])
def test_body_parses_to_the_file_and_fields(fields: dict, file_bytes: bytes) -> None:
    form_envelope = envelope("a.png", "image/png", fields)
    form, files = parse(form_envelope.content_type, form_envelope.body(file_bytes))
    assert files == {"file": ("a.png", file_bytes)}, "the file part must carry the bytes unchanged"
    assert form == fields


def test_head_and_tail_surround_the_file() -> None:
    form_envelope = envelope("a.jpg", "image/jpeg")
    body = form_envelope.body(b"IMAGE")
    assert body == form_envelope.head + b"IMAGE" + form_envelope.tail


@pytest.mark.parametrize("filename", ['a".png', "a\r\n.png"])
def test_a_filename_that_would_break_the_header_is_refused(filename: str) -> None:
    with pytest.raises(ValueError, match="filename"):
        envelope(filename, "image/png")
