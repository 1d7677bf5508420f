"""Canny parameters and their validation from form fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from canny.errors import InvalidParamsError

THRESHOLD_MIN = 0
THRESHOLD_MAX = 1000
BLUR_MIN = 1
BLUR_MAX = 15
# One optional sign, then ASCII digits only: str.isdigit() admits other scripts' digits
# and int() admits "_" separators, and stripping every sign let "+-5" reach int() (a 500).
# The digit count is bounded because int() refuses strings over 4300 digits with a
# ValueError (https://docs.python.org/3/library/stdtypes.html#int-max-str-digits).
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")


@dataclass(frozen=True)
class EdgeParams:
    low: int = 100
    high: int = 200
    blur: int = 5

    def as_dict(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high, "blur": self.blur}


def param_ranges() -> dict[str, dict[str, int | bool]]:
    """Each parameter's allowed range and default, as clients build their controls from."""
    defaults = EdgeParams()
    threshold = {"min": THRESHOLD_MIN, "max": THRESHOLD_MAX}
    return {
        "low": {**threshold, "default": defaults.low},
        "high": {**threshold, "default": defaults.high},
        "blur": {"min": BLUR_MIN, "max": BLUR_MAX, "default": defaults.blur, "odd": True},
    }


def _integer_field(form: Mapping[str, str], name: str, default: int) -> int:
    raw = form.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if _INTEGER.fullmatch(text) is None:
        raise InvalidParamsError(f"{name} must be an integer, got {raw!r}")
    return int(text)


def parse_params(form: Mapping[str, str]) -> EdgeParams:
    """Validate `low`, `high` (0-1000, low <= high) and `blur` (odd, 1-15); absent means default."""
    defaults = EdgeParams()
    low = _integer_field(form, "low", defaults.low)
    high = _integer_field(form, "high", defaults.high)
    blur = _integer_field(form, "blur", defaults.blur)
    for name, value in (("low", low), ("high", high)):
        if not THRESHOLD_MIN <= value <= THRESHOLD_MAX:
            raise InvalidParamsError(f"{name} must be between {THRESHOLD_MIN} and {THRESHOLD_MAX}")
    if low > high:
        raise InvalidParamsError(f"low ({low}) must not be greater than high ({high})")
    if not BLUR_MIN <= blur <= BLUR_MAX or blur % 2 == 0:
        raise InvalidParamsError(f"blur must be an odd integer between {BLUR_MIN} and {BLUR_MAX}")
    return EdgeParams(low=low, high=high, blur=blur)
