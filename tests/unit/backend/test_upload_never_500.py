"""Property-based: no parameter string and no multipart body makes an upload answer 500."""

import io

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.backend import sample_images
from tests.unit.backend.answer_checks import assert_client_error_or_success
from tests.unit.backend.param_strategies import PARAM_FORMS

BOUNDARY = "hypothesis-boundary"
TINY_PNG = sample_images.encode(sample_images.shapes()[:16, :16], "png")
FILES = st.sampled_from([TINY_PNG, b"", TINY_PNG[:40]]) | st.binary(max_size=200)
# Fragments a multipart body is made of, in any order and number: broken framing,
# stray headers, missing names, duplicate parts.
BODY_PARTS = st.lists(
    st.sampled_from(
        [
            f"--{BOUNDARY}\r\n".encode(),
            f"--{BOUNDARY}--\r\n".encode(),
            b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n',
            b'Content-Disposition: form-data; name="low"\r\n',
            b"Content-Disposition: form-data\r\n",
            b"Content-Type: image/png\r\n",
            b"\r\n",
            b"+-5\r\n",
            TINY_PNG,
        ]
    )
    | st.binary(max_size=30),
    max_size=12,
)
HYPOTHESIS_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    # One app for all examples (results accumulate, as on a server); first text draws
    # build Hypothesis's Unicode tables, slow on a busy machine and not under test.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS_SETTINGS
@given(fields=PARAM_FORMS, file=FILES)
def test_any_form_fields_and_file_bytes_answer_below_500(
    client: FlaskClient, fields: dict[str, str], file: bytes
) -> None:
    form: dict = dict(fields)
    form["file"] = (io.BytesIO(file), "upload.bin")
    response = client.post("/api/images", data=form, content_type="multipart/form-data")
    assert_client_error_or_success(response.status_code, response.get_json())


@HYPOTHESIS_SETTINGS
@given(parts=BODY_PARTS)
def test_any_multipart_body_answers_below_500(client: FlaskClient, parts: list[bytes]) -> None:
    response = client.post(
        "/api/images",
        data=b"".join(parts),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert_client_error_or_success(response.status_code, response.get_json())


def test_the_properties_reach_the_pipeline(client: FlaskClient) -> None:
    """The strategies above include a body the service accepts, so they test more than
    the refusals: a plain valid upload is answered 201."""
    form = {"low": "+5", "file": (io.BytesIO(TINY_PNG), "a.png")}
    assert client.post("/api/images", data=form).status_code == 201
