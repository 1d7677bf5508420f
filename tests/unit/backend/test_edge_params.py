import pytest
from canny.edge_params import BLUR_MAX, BLUR_MIN, THRESHOLD_MAX, EdgeParams, parse_params
from canny.errors import InvalidParamsError
from hypothesis import HealthCheck, given, settings

from tests.unit.backend.param_strategies import PARAM_FORMS


def test_absent_fields_take_the_design_defaults() -> None:
    assert parse_params({}) == EdgeParams(low=100, high=200, blur=5)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"low": "0", "high": "0", "blur": "1"}, EdgeParams(low=0, high=0, blur=1)),
        ({"low": "1000", "high": "1000", "blur": "15"}, EdgeParams(low=1000, high=1000, blur=15)),
        ({"low": " 50 ", "high": "", "blur": "3"}, EdgeParams(low=50, high=200, blur=3)),
    ],
)
def test_valid_values_are_accepted(form: dict[str, str], expected: EdgeParams) -> None:
    assert parse_params(form) == expected


@pytest.mark.parametrize(
    ("form", "message_part"),
    [
        ({"low": "-1"}, "low must be between"),
        ({"low": "1001", "high": "1001"}, "low must be between"),
        ({"high": "1001"}, "high must be between"),
        ({"low": "300", "high": "200"}, "must not be greater"),
        ({"blur": "4"}, "blur must be an odd"),
        ({"blur": "0"}, "blur must be an odd"),
        ({"blur": "17"}, "blur must be an odd"),
        ({"low": "abc"}, "low must be an integer"),
        ({"high": "2.5"}, "high must be an integer"),
        ({"blur": "٣"}, "blur must be an integer"),
        ({"low": "+-5"}, "low must be an integer"),
        ({"low": "--5"}, "low must be an integer"),
        ({"high": "++5"}, "high must be an integer"),
        ({"blur": "+-3"}, "blur must be an integer"),
        ({"low": "1_0"}, "low must be an integer"),
        ({"low": "9" * 5000}, "low must be an integer"),
    ],
)
def test_invalid_values_are_refused(form: dict[str, str], message_part: str) -> None:
    with pytest.raises(InvalidParamsError, match=message_part):
        parse_params(form)


# The first st.text() draw builds Hypothesis's Unicode tables (seconds on a busy machine):
# slow generation is not what this test is about.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PARAM_FORMS)
def test_any_form_text_gives_valid_params_or_invalid_params(form: dict[str, str]) -> None:
    """Parsing either refuses with InvalidParamsError (a 400) or yields params in range:
    never another exception, which the API would answer with a 500."""
    try:
        params = parse_params(form)
    except InvalidParamsError:
        return
    assert 0 <= params.low <= params.high <= THRESHOLD_MAX
    assert BLUR_MIN <= params.blur <= BLUR_MAX and params.blur % 2 == 1
