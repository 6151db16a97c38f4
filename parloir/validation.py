"""Checks applied to every input before anything is written.

SQLite stores NUL characters, lone surrogates and NaN without complaint; PostgreSQL rejects
the first two with a driver error and JSON has no NaN. So parloir rejects all of them up front,
the same way on both databases, with the field and the rule named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from parloir.errors import FieldError, InvalidInputError

__all__ = [
    "MAX_JSON_DEPTH",
    "Json",
    "JsonValue",
    "Text",
    "Timestamp",
    "check_text",
    "validate",
]

MAX_JSON_DEPTH = 32
"""Deepest nesting accepted in metadata and other JSON values."""

T = TypeVar("T")


def check_text(value: str) -> str:
    """Reject NUL characters and lone surrogates; return the text unchanged otherwise."""
    if "\x00" in value:
        raise PydanticCustomError("no_nul", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "no_lone_surrogates", "must not contain lone surrogate code points"
        ) from None
    return value


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise PydanticCustomError("max_depth", f"must not nest deeper than {MAX_JSON_DEPTH}")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, bool | int | None):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "must be a finite number, not NaN/Infinity")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PydanticCustomError("string_keys", "object keys must be strings")
            check_text(key)
            _check_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_json(item, depth + 1)
    else:
        raise PydanticCustomError("json_value", f"is not a JSON value ({type(value).__name__})")


def _json(value: T) -> T:
    _check_json(value)
    return value


Text = Annotated[str, AfterValidator(check_text)]
"""A string with no NUL and no lone surrogate."""

Json = Annotated[dict[str, Any], AfterValidator(_json)]
"""A JSON object (metadata), checked in depth."""

JsonValue = Annotated[Any, AfterValidator(_json)]
"""Any JSON value (prompt, response, session context), checked in depth."""

Timestamp = AwareDatetime
"""A timezone-aware datetime; naive ones are rejected."""


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def validate(
    schema: type[T], data: Mapping[str, Any], *, prefix: str = "", drop_none: bool = True
) -> T:
    """Validate ``data`` against a TypedDict ``schema``; raise ``InvalidInputError``.

    With ``drop_none`` a field given as None counts as not given (optional fields only).
    """
    adapter = _adapters.get(schema)
    if adapter is None:
        adapter = _adapters[schema] = TypeAdapter(schema)
    if not isinstance(data, Mapping):
        raise InvalidInputError.single(
            prefix.rstrip(".") or "input", "dict_type", "must be an object"
        )
    values = {k: v for k, v in data.items() if v is not None} if drop_none else dict(data)
    try:
        return adapter.validate_python(values)  # type: ignore[no-any-return]
    except ValidationError as error:
        raise InvalidInputError(_field_errors(error, prefix)) from None


# pydantic's names for the rules parloir names itself, so one rule has one name.
_RULES = {"extra_forbidden": "unknown_field", "string_unicode": "no_lone_surrogates"}
_MESSAGES = {"no_lone_surrogates": "must not contain lone surrogate code points"}


def _field_errors(error: ValidationError, prefix: str) -> list[FieldError]:
    out = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "input"
        rule = _RULES.get(item["type"], item["type"])
        message = _MESSAGES.get(rule, item["msg"])
        out.append(FieldError(field=field, rule=rule, message=message))
    return out


def require_aware(field: str, value: datetime | None) -> None:
    """Reject a naive datetime given outside a validated record."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidInputError.single(field, "timezone_aware", "must be timezone-aware")


def check_length(field: str, value: str, limit: int) -> None:
    """Reject a text longer than ``limit`` code points."""
    if len(value) > limit:
        raise InvalidInputError.single(
            field, "max_length", f"must be at most {limit} characters, got {len(value)}"
        )
