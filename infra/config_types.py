"""Field types for `canny:` config values: Pulumi hands every value over as a string.

Pydantic's lax mode would take "yes" or "on" for a bool and 1.0 for a whole number; stack
config is stricter, so each type parses the string itself and fails with a message meant for
the person editing Pulumi.<stack>.yaml (raised as PydanticCustomError, whose message pydantic
reports as written: https://docs.pydantic.dev/latest/errors/errors/#custom-errors).
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Annotated, Any

import pulumi
from pydantic import BeforeValidator, SecretStr
from pydantic_core import PydanticCustomError

PLACEHOLDERS = frozenset(
    {"", "changethis", "changeme", "change-me", "secret", "password", "todo", "xxx"}
)


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A config problem; `key` names the setting when the check is not on that field itself
    ("" for a problem of the stack as a whole)."""
    return PydanticCustomError("canny_config", "{message}", {"message": message, "key": key})


class Secret(SecretStr):
    """A config secret that never shows up in a repr, a log line or a plain output."""

    def __repr__(self) -> str:
        return "Secret('[secret]')"

    def __str__(self) -> str:
        return "[secret]"

    def output(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.get_secret_value())


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _optional_text(value: Any) -> Any:
    """An empty value means "not set" (`pulumi config set canny:<key> ""`)."""
    return _text(value) or None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise problem(f"{str(value).strip()!r} is not true or false")
    return text == "true"


def _whole_number(low: int, high: int, value: Any) -> int:
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise problem(f"{text!r} is not a whole number from {low} to {high}")
    return int(text)


def _string_list(value: Any) -> tuple[str, ...]:
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise problem("must be a list of strings")
    return tuple(items)


def _required(pattern: re.Pattern[str], hint: str, value: Any) -> str:
    text = _text(value)
    if text is None or text == "":
        raise problem(f"missing; {hint}")
    if not pattern.match(text):
        raise problem(f"{text!r} is invalid; {hint}")
    return text


def _secret(required_hint: str | None, value: Any) -> str | None:
    text = value.get_secret_value() if isinstance(value, SecretStr) else _text(value)
    if text is None:
        if required_hint:
            raise problem(f"missing secret; {required_hint}")
        return None
    if text.lower() in PLACEHOLDERS:
        raise problem("is a placeholder; set the real value with `pulumi config set --secret`")
    return text


Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]
ConfigBool = Annotated[bool, BeforeValidator(_boolean)]
StringList = Annotated[tuple[str, ...], BeforeValidator(_string_list)]
OptionalSecret = Annotated[Secret | None, BeforeValidator(partial(_secret, None))]


def whole_number(low: int, high: int) -> Any:
    """An int field given as a string of digits, from low to high inclusive."""
    return Annotated[int, BeforeValidator(partial(_whole_number, low, high))]


def required_text(pattern: re.Pattern[str], hint: str) -> Any:
    """A string that must be set and match `pattern`; `hint` says what a good value looks like."""
    return Annotated[str, BeforeValidator(partial(_required, pattern, hint))]


def required_secret(hint: str) -> Any:
    """A secret that must be set; `hint` says why it is needed."""
    return Annotated[Secret, BeforeValidator(partial(_secret, hint))]
