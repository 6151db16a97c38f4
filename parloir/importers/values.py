"""Turning source values into parloir values: times, JSON, text checks, deterministic ids."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "Invalid",
    "as_bool",
    "as_int",
    "as_json",
    "as_object",
    "as_text",
    "as_time",
    "check_json",
    "check_text",
    "is_uuid",
    "stable_id",
]

INT32 = 2**31 - 1
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


class Invalid(Exception):
    """A source row parloir cannot store; ``reason`` is its count key in the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stable_id(tenant_id: uuid.UUID, when: datetime | None, *parts: object) -> uuid.UUID:
    """A UUIDv7-shaped id that is the same at every import of the same source row.

    Its time field is the row's creation time (0 when unknown), so imported rows sort in time
    like live ones; its 74 random bits are a keyed BLAKE2b hash of the tenant and ``parts``
    (the layout, the source table and the row's source key).
    """
    return stable_id_with(tenant_hasher(tenant_id), when, parts)


def stable_id_with(
    tenant_hasher: Any, when: datetime | None, parts: tuple[object, ...]
) -> uuid.UUID:
    """:func:`stable_id` with the tenant's keyed hasher (``tenant_hasher(tenant_id)``) given."""
    try:
        text = "\x1f".join(parts)  # type: ignore[arg-type]  # mostly text already
    except TypeError:
        text = "\x1f".join([str(p) for p in parts])
    key = text.encode("utf-8", "surrogatepass")
    hasher = tenant_hasher.copy()
    hasher.update(key)
    bits = int.from_bytes(hasher.digest())
    ms = (when - _EPOCH) // _MS if when is not None else 0
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((bits >> 62) & 0xFFF) << 64
    value |= 0b10 << 62 | (bits & ((1 << 62) - 1))
    return _make_uuid(value)


def _make_uuid(value: int) -> uuid.UUID:
    """``uuid.UUID(int=value)`` without its argument checks (``value`` is built valid)."""
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", _UNKNOWN)
    return made


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNKNOWN = uuid.SafeUUID.unknown
_MS = timedelta(milliseconds=1)


@functools.lru_cache(maxsize=16)
def tenant_hasher(tenant_id: uuid.UUID) -> Any:
    return hashlib.blake2b(digest_size=10, key=tenant_id.bytes)


def is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


def as_time(value: Any) -> datetime | None:
    """A source timestamp as an aware UTC datetime (naive ones are read as UTC); None if
    missing or unreadable."""
    if type(value) is str:  # the common case first
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def as_json(value: Any) -> Any:
    """JSON kept as text (SQLite) parsed; text that is not JSON stays a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, Decimal):
        return float(value)
    return value


def as_object(value: Any, key: str = "value") -> dict[str, Any]:
    """A JSON object for a ``metadata`` column: non-objects are wrapped as ``{key: value}``."""
    parsed = as_json(value)
    if parsed is None:
        return {}
    return parsed if isinstance(parsed, dict) else {key: parsed}


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_int(value: Any) -> int | None:
    """An integer that fits a 32-bit column, or None."""
    if value is None or isinstance(value, bool):
        return int(value) if isinstance(value, bool) else None
    try:
        number = int(value)
    except (TypeError, ValueError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None
    return number if -INT32 <= number <= INT32 else None


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")
    return bool(value)


def check_text(value: str | None, limit: int | None = None, what: str = "content") -> None:
    """Refuse NUL characters, lone surrogates (and invalid UTF-8) and text over ``limit``."""
    if value is None:
        return
    if _BAD_TEXT.search(value) is not None:
        raise Invalid(f"invalid_{what}")
    if limit is not None and len(value) > limit:
        raise Invalid(f"{what}_too_long")


def check_json(value: Any, what: str = "metadata") -> Any:
    """Refuse JSON that PostgreSQL could not store (NUL, lone surrogates, NaN)."""
    if value is None or value == {} or _clean(value):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        raise Invalid(f"invalid_{what}") from None
    if "\\u0000" in text or _BAD_TEXT.search(text) is not None:
        raise Invalid(f"invalid_{what}")
    return json.loads(text) if not _plain(value) else value


def _clean(value: Any, depth: int = 0) -> bool:
    """True if ``value`` is plain JSON with nothing to refuse (checked without encoding it)."""
    kind = type(value)
    if kind is str:
        return _BAD_TEXT.search(value) is None
    if kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if depth > 50:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or _BAD_TEXT.search(key) is not None:
                return False
            kind = type(item)
            if kind is str:
                if _BAD_TEXT.search(item) is not None:
                    return False
            elif not (kind is int or kind is bool or item is None or _clean(item, depth + 1)):
                return False
        return True
    if kind is list:
        return all(_clean(v, depth + 1) for v in value)
    return False


def _plain(value: Any) -> bool:
    """True if ``value`` holds only JSON types (nothing ``default=str`` had to convert)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)
