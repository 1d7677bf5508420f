"""Blank text means "not given": a form field or environment variable left empty takes the
model's default instead of failing to parse. Shared by the parameter and settings models
(this module imports nothing, so the gunicorn master may load it with the settings)."""

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
