"""Canny parameters: one pydantic model that validates form text, says its ranges, labels
and hints to clients (GET /api/config, from which the upload page builds its controls),
describes itself in the OpenAPI document and keys the result id.

Adding a parameter is a field here and its use in canny.pipeline (docs/architecture.md,
"Adding an image parameter"): nothing else names the parameters one by one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from canny.blank_fields import without_blank_text
from canny.errors import InvalidParamsError

THRESHOLD_MIN = 0
THRESHOLD_MAX = 1000
BLUR_MIN = 1
BLUR_MAX = 15
# One optional sign, then ASCII digits only: pydantic's own int parsing (like int()) admits
# "_" separators, other scripts' digits and "2.0", none of which a form field should mean.
# The digit count is bounded because int() refuses strings over 4300 digits with a
# ValueError (https://docs.python.org/3/library/stdtypes.html#int-max-str-digits).
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")


def _ascii_integer(value: Any, info: ValidationInfo) -> Any:
    """Form and query text becomes an int only when it is a plain decimal integer."""
    if not isinstance(value, str):
        return value
    if _INTEGER.fullmatch(value.strip()) is None:
        raise ValueError(f"{info.field_name} must be an integer, got {value!r}")
    return int(value.strip())


def _odd(value: int, info: ValidationInfo) -> int:
    if value % 2 == 0:
        raise ValueError(_range_message(str(info.field_name)))
    return value


@dataclass(frozen=True)
class Control:
    """How the upload page presents a parameter: the control's label and the hint under it.

    Carried in the field's Annotated metadata: pydantic keeps it in FieldInfo.metadata and
    leaves the schema as it is for metadata it does not know (pydantic 2.14,
    _internal/_generate_schema.py `_apply_single_annotation`: `apply_known_metadata` returns
    None, the original schema is used), so it changes neither validation nor the JSON Schema.
    """

    label: str
    hint: str


# Marks a field that accepts only odd values (GaussianBlur's kernel size); param_ranges
# finds it in the field's metadata.
ODD = AfterValidator(_odd)
# The Field comes first so its bounds land in the JSON Schema as minimum/maximum; the
# BeforeValidator still runs before them (https://docs.pydantic.dev/latest/concepts/validators/,
# "Ordering of validators").
Threshold = Annotated[
    int, Field(ge=THRESHOLD_MIN, le=THRESHOLD_MAX), BeforeValidator(_ascii_integer)
]
BlurSize = Annotated[
    int,
    Field(
        ge=BLUR_MIN,
        le=BLUR_MAX,
        description="odd Gaussian kernel size",
        # JSON Schema has no "odd": the document lists the allowed sizes.
        json_schema_extra={"enum": list(range(BLUR_MIN, BLUR_MAX + 1, 2))},
    ),
    BeforeValidator(_ascii_integer),
    ODD,
]


class EdgeParams(BaseModel):
    """The edge pipeline's parameters. Frozen, so a result id made from them stays true;
    unknown names are ignored here (forms carry `file`, queries `sha256`)."""

    model_config = ConfigDict(frozen=True)

    low: Annotated[
        Threshold,
        Control("Low threshold", "Lower it to keep fainter edges that touch strong ones."),
    ] = 100
    high: Annotated[
        Threshold,
        Field(description="must be >= low"),
        Control(
            "High threshold",
            "Lower thresholds find more edges; higher ones keep only the strongest.",
        ),
    ] = 200
    blur: Annotated[
        BlurSize,
        Control("Blur", "More blur smooths away noise and texture, leaving the main outlines."),
    ] = 5

    _blank_means_default = model_validator(mode="before")(without_blank_text)

    def canny_params(self) -> SimpleNamespace:
        """These values as the pipeline takes them in a child process: plain data with the
        same attribute names, so the child never unpickles (or imports) pydantic."""
        return SimpleNamespace(**self.model_dump())

    @model_validator(mode="after")
    def _low_not_above_high(self) -> EdgeParams:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not be greater than high ({self.high})")
        return self

    def as_dict(self) -> dict[str, int]:
        return self.model_dump()


def _range(name: str) -> dict[str, int | bool | str]:
    field = EdgeParams.model_fields[name]
    control = next((item for item in field.metadata if isinstance(item, Control)), None)
    if control is None:
        raise TypeError(f"EdgeParams.{name} needs a Control(label, hint) for the upload page")
    spec: dict[str, int | bool | str] = {
        "min": next(item.ge for item in field.metadata if isinstance(item, Ge)),
        "max": next(item.le for item in field.metadata if isinstance(item, Le)),
        "default": field.default,
        "label": control.label,
        "hint": control.hint,
    }
    if ODD in field.metadata:
        spec["odd"] = True
    return spec


def param_ranges() -> dict[str, dict[str, int | bool | str]]:
    """Each parameter's allowed range, default, label and hint, read from the model's
    fields, as clients build their controls from."""
    return {name: _range(name) for name in EdgeParams.model_fields}


def param_names() -> str:
    """The parameters' names as messages list them: "low, high, blur"."""
    return ", ".join(EdgeParams.model_fields)


def _range_message(name: str) -> str:
    spec = _range(name)
    odd = "an odd integer " if spec.get("odd") else ""
    return f"{name} must be {odd}between {spec['min']} and {spec['max']}"


def _message(error: Mapping[str, Any]) -> str:
    """A bound the model's Field refused gets the range; our validators' own text otherwise."""
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        return _range_message(str(error["loc"][0]))
    return str(error["ctx"]["error"])


# Validated parameter texts a worker keeps: clients send the same few sets (the defaults,
# the page's slider positions) again and again. An entry is at most three short texts
# (a form field is at most 1 KB, a query line 4 KB in gunicorn), so the bound caps memory.
PARAMS_KEPT = 256


def parse_params(form: Mapping[str, str]) -> EdgeParams:
    """Validate the model's fields from form or query text; absent or blank means the
    default. Refusals are InvalidParamsError (400)."""
    return _validated(tuple((name, form[name]) for name in EdgeParams.model_fields if name in form))


@functools.lru_cache(maxsize=PARAMS_KEPT)
def _validated(fields: tuple[tuple[str, str], ...]) -> EdgeParams:
    """One model per distinct set of texts, built once: EdgeParams is frozen, so every
    request may share it. A refusal raises and so is never kept
    (https://docs.python.org/3/library/functools.html#functools.lru_cache)."""
    try:
        return EdgeParams.model_validate(dict(fields))
    except ValidationError as error:
        raise InvalidParamsError(_message(error.errors()[0])) from None
