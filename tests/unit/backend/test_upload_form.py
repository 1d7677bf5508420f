"""canny.upload_form: the multipart body parsed in memory, with clear errors for bad bodies."""

import io
import random

import pytest
from canny.errors import InvalidRequestError, PayloadTooLargeError
from canny.upload_form import MAX_FIELD_BYTES, MAX_PARTS, READ_BYTES, parse_upload
from flask.testing import FlaskClient

BOUNDARY = "test-boundary-4Fq9"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
FILE_BYTES = bytes(range(256)) * 64 + b"\r\n--test-boundary-4Fq8 almost a boundary\r\n"


def part(name: str, content: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n"
    return head.encode() + content + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def parse(data: bytes, max_file_bytes: int = 1 << 20, boundary: str = BOUNDARY):
    return parse_upload(io.BytesIO(data).read, boundary, len(data), max_file_bytes)


def test_fields_and_file_are_returned_byte_for_byte() -> None:
    form = parse(body(part("low", b"50"), part("file", FILE_BYTES, "a.png"), part("high", b"90")))
    assert form.file == FILE_BYTES
    assert form.fields == {"low": "50", "high": "90"}


def test_a_body_read_in_small_random_pieces_parses_the_same() -> None:
    data = body(part("blur", b"3"), part("file", FILE_BYTES, "a.png"))
    stream = io.BytesIO(data)
    pieces = random.Random(4)

    def trickle(size: int) -> bytes:
        return stream.read(min(size, pieces.randint(1, 700)))

    form = parse_upload(trickle, BOUNDARY, len(data), 1 << 20)
    assert (form.file, form.fields) == (FILE_BYTES, {"blur": "3"})


def test_the_body_is_read_in_large_steps() -> None:
    data = body(part("file", FILE_BYTES * 40, "a.png"))
    stream = io.BytesIO(data)
    sizes: list[int] = []

    def recording(size: int) -> bytes:
        sizes.append(size)
        return stream.read(size)

    parse_upload(recording, BOUNDARY, len(data), 1 << 22)
    assert sizes[0] == min(READ_BYTES, len(data)), "small reads cost a Python step per chunk"


def test_a_form_without_a_file_part_has_no_file() -> None:
    assert parse(body(part("low", b"1"))).file is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(body(part("file", b"x", "a.png"))[:-8], "malformed", id="no-closing-boundary"),
        pytest.param(b"no multipart here at all", "malformed", id="not-multipart"),
        pytest.param(
            body(part("file", b"x", "a"), part("file", b"y", "b")), "one `file`", id="two-files"
        ),
        pytest.param(
            body(*(part(f"f{n}", b"1") for n in range(MAX_PARTS + 1))), "too large", id="many-parts"
        ),
        pytest.param(
            body(part("low", b"1" * (MAX_FIELD_BYTES + 1))), "over 1024 bytes", id="long-field"
        ),
        pytest.param(body(part("low", b"\xff\xfe")), "not UTF-8", id="binary-field"),
        pytest.param(
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
            "malformed",
            id="no-content-disposition",
        ),
    ],
)
def test_bad_bodies_are_invalid_requests_that_say_why(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse(data)


def test_missing_boundary_is_named() -> None:
    with pytest.raises(InvalidRequestError, match="boundary"):
        parse(body(part("file", b"x", "a")), boundary="")


def test_a_file_over_the_limit_is_refused_before_the_rest_is_read() -> None:
    data = body(part("file", b"z" * 5000, "a.png"))
    stream = io.BytesIO(data)

    def small_reads(size: int) -> bytes:
        return stream.read(min(size, 1000))

    with pytest.raises(PayloadTooLargeError, match="limit of 2000 bytes"):
        parse_upload(small_reads, BOUNDARY, len(data), 2000)
    assert stream.tell() < len(data), "the parser kept reading after the limit was passed"


def test_malformed_multipart_is_a_json_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/images", data=body(part("file", b"x", "a.png"))[:-8], content_type=CONTENT_TYPE
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert "malformed multipart body" in response.get_json()["error"]["message"]


def test_a_repeated_text_field_is_refused_not_first_wins() -> None:
    """Multipart kept the first `low`, JSON the last: one rule now, a refusal."""
    with pytest.raises(InvalidRequestError, match="'low' is given more than once"):
        parse(body(part("low", b"10"), part("low", b"90"), part("file", b"x", "a.png")))


def test_a_long_field_name_is_cut_in_the_error() -> None:
    name = "n" * 3000
    with pytest.raises(InvalidRequestError) as refused:
        parse(body(part(name, b"x" * (MAX_FIELD_BYTES + 1))))
    assert len(refused.value.message) < 200, refused.value.message
