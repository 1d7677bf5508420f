"""The re-run body: no JSON or form body answers 500, and hostile ones get a reasoned 400.

Found by the hostile probe of issue 28: a body nested 1,000 deep was a 500, a latin-1 form
ran silently with the defaults, `1e2` came back as `100.0`, a 100 KB name was echoed whole.
"""

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.unit.backend.answer_checks import assert_client_error_or_success

Rerun = Callable[..., TestResponse]

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
# Any JSON value, nesting included; names from the real fields and others.
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["low", "high", "blur", "x"]), children, max_size=3)
    ),
    max_leaves=12,
)
# Raw bodies: broken JSON, deep nesting, stray bytes, duplicate keys.
RAW_BODIES = (
    st.builds(lambda depth, bracket: bracket * depth, st.integers(0, 3000), st.sampled_from("[{"))
    | st.binary(max_size=64)
    | st.sampled_from([b'{"low": 1, "low": 2}', b'{"low": 1e999}', b"NaN", b'{"low": "\\ud800"}'])
)
HYPOTHESIS_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def rerun(client: FlaskClient, upload: Callable[..., TestResponse], shapes_png: bytes) -> Rerun:
    """POST a raw body with a content type to the re-run of one stored upload."""
    source = upload(shapes_png).get_json()

    def post(body: bytes, content_type: str) -> TestResponse:
        return client.post(
            f"/api/images/{source['id']}/rerun", data=body, content_type=content_type
        )

    return post


@HYPOTHESIS_SETTINGS
@given(value=JSON_VALUES)
def test_any_json_value_answers_below_500(rerun: Rerun, value: object) -> None:
    response = rerun(json.dumps(value).encode(), "application/json")
    assert_client_error_or_success(response.status_code, response.get_json())


@HYPOTHESIS_SETTINGS
@given(
    body=RAW_BODIES,
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
        ]
    ),
)
def test_any_raw_body_answers_below_500(rerun: Rerun, body: bytes, content_type: str) -> None:
    response = rerun(body, content_type)
    assert_client_error_or_success(response.status_code, response.get_json())


def test_json_nested_1000_deep_is_400_invalid_request(rerun: Rerun) -> None:
    response = rerun(b"[" * 1000 + b"]" * 1000, "application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert "deeper" in response.get_json()["error"]["message"]


def test_a_body_over_the_limit_is_400(rerun: Rerun) -> None:
    response = rerun(b'{"low": 1' + b" " * 5000 + b"}", "application/json")
    assert response.status_code == 400
    assert "over 4096 bytes" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"low": 10, "low": 20}', "application/json"),
        (b"low=10&low=20", "application/x-www-form-urlencoded"),
    ],
)
def test_a_duplicate_field_is_refused_in_json_and_form(
    rerun: Rerun, body: bytes, content_type: str
) -> None:
    response = rerun(body, content_type)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "field 'low' is given more than once"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"low=\xe920", "application/x-www-form-urlencoded", 400),
        (b"l\xf6w=20", "application/x-www-form-urlencoded", 400),
        (b"low=%E920", "application/x-www-form-urlencoded", 400),
        (b"low=20", "application/x-www-form-urlencoded; charset=latin-1", 415),
        (b'{"low": 20}', "application/json; charset=iso-8859-1", 415),
    ],
)
def test_a_body_not_in_utf8_is_refused_not_run_with_defaults(
    rerun: Rerun, body: bytes, content_type: str, status: int
) -> None:
    response = rerun(body, content_type)
    assert response.status_code == status, response.get_json()


def test_numbers_are_quoted_as_sent(rerun: Rerun) -> None:
    response = rerun(b'{"low": 1e2}', "application/json")
    assert response.status_code == 400
    assert "'1e2'" in response.get_json()["error"]["message"]


def test_a_long_field_name_is_not_echoed_whole(rerun: Rerun) -> None:
    name = "n" * 3_000
    response = rerun(f"{name}=1".encode(), "application/x-www-form-urlencoded")
    message = response.get_json()["error"]["message"]
    assert response.status_code == 400
    assert len(message) < 200, message


def test_a_long_json_name_is_not_echoed_whole(rerun: Rerun) -> None:
    response = rerun(json.dumps({"n" * 3000: 1}).encode(), "application/json")
    assert response.status_code == 400
    assert len(response.get_json()["error"]["message"]) < 200
