"""Blank text means "not given": a form or query field left empty takes the parameter model's
default instead of failing to parse (a page's empty input). Environment variables need no
such step: pydantic-settings' env_ignore_empty does it for them (canny.settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def without_blank_text(data: Any) -> Any:
    """`data` without its blank string values when it is a mapping; anything else as is."""
    if not isinstance(data, Mapping):
        return data
    return {
        name: value
        for name, value in data.items()
        if not (isinstance(value, str) and not value.strip())
    }
