"""The value conversions and deterministic ids of the importer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from parloir.importers.values import (
    Invalid,
    as_bool,
    as_int,
    as_json,
    as_object,
    as_time,
    check_json,
    check_text,
    is_uuid,
    stable_id,
)

TENANT = uuid.UUID("00000000-0000-7000-8000-000000000001")
T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_stable_ids_are_deterministic_time_ordered_uuid7s() -> None:
    first = stable_id(TENANT, T0, "layout", "table", 1)
    assert first == stable_id(TENANT, T0, "layout", "table", 1)
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert first.int >> 80 == int(T0.timestamp() * 1000)
    assert str(first) == str(uuid.UUID(str(first)))
    assert stable_id(TENANT, T0, "layout", "table", 2) != first
    other = uuid.UUID("00000000-0000-7000-8000-000000000002")
    assert stable_id(other, T0, "layout", "table", 1) != first
    assert stable_id(TENANT, T0 + timedelta(seconds=1), "x") > stable_id(TENANT, T0, "x")
    assert stable_id(TENANT, None, "x").int >> 80 == 0
    assert stable_id(TENANT, None, "\ud800") == stable_id(TENANT, None, "\ud800")


def test_stable_ids_do_not_change_from_one_version_to_the_next() -> None:
    # Importing again after an upgrade must find the same ids: these values are fixed.
    made = stable_id(TENANT, T0, "legacy-qa", "message", "abc", "question")
    assert made == uuid.UUID("019424f8-632e-71eb-9b60-5ab315e1c6f7")
    # Parts that are not text are written as str() writes them.
    made = stable_id(TENANT, None, "telegram", "contact", 42, None)
    assert made == uuid.UUID("00000000-0000-7cb4-bfe8-382c25767901")
    assert made == stable_id(TENANT, None, "telegram", "contact", "42", "None")
    assert stable_id(TENANT, T0, "x", "\ud800") == uuid.UUID("019424f8-632e-7dd8-9d62-97c120fe55dd")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (" 2025-01-02 03:04:05.678\n", T0),
        ("2025-01-02 03:04:05.678", T0),
        ("2025-01-02T04:04:05.678+01:00", T0),
        ("2025-01-02T03:04:05.678Z", T0),
        (T0.replace(tzinfo=None), T0),
        (T0.astimezone(timezone(timedelta(hours=5))), T0),
        (T0.timestamp(), T0),
        (Decimal("1735787045.678"), T0),
        ("yesterday", None),
        (1e30, None),
    ],
)
def test_times(value: object, expected: datetime | None) -> None:
    assert as_time(value) == expected


def test_times_are_stored_as_utc_text_whatever_their_zone() -> None:
    from parloir.db.bulk import _recent_timestamp, _timestamp

    plus_five = T0.astimezone(timezone(timedelta(hours=5)))
    assert _timestamp(T0) == _timestamp(plus_five) == "2025-01-02 03:04:05.678000"
    for _ in range(2):  # computed, then remembered
        assert _recent_timestamp(T0) == _recent_timestamp(plus_five) == _timestamp(T0)
    later = T0 + timedelta(microseconds=1)
    assert _recent_timestamp(later) == "2025-01-02 03:04:05.678001"


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"legacy_id": "42"},
        {"session_id": "s1", "feedback": 3, "language": "fr"},
        {"quote": 'a"b\\c\n\t\u0001', "accent": "é👋🏽", "big": 2**70, "negative": -1},
        {"flag": True, "n": None, "x": 1.5, "list": [1, "a"], "nested": {"a": "b"}},
        {1: "not text keys"},
        [1, 2],
        "text",
    ],
)
def test_json_is_stored_as_the_encoder_writes_it(value: object) -> None:
    import json

    from parloir.db.bulk import _json

    assert _json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_numbers_booleans_and_json() -> None:
    assert [as_int(v) for v in (None, True, "12", "12.7", 3.9, "x", 2**40, [1])] == [
        None,
        1,
        12,
        12,
        3,
        None,
        None,
        None,
    ]
    assert [as_bool(v) for v in (None, "yes", "0", "t", 1, 0)] == [
        False,
        True,
        False,
        True,
        True,
        False,
    ]
    assert as_bool(None, True) is True
    assert as_json('{"a": 1}') == {"a": 1} and as_json("not json") == "not json"
    assert as_json(Decimal("1.5")) == 1.5 and as_json([1]) == [1]
    assert as_object(None) == {} and as_object("[1]") == {"value": [1]}
    assert as_object({"a": 1}) == {"a": 1}
    assert is_uuid("0191d3c4-aaaa-7bbb-8ccc-000000000001") and not is_uuid("conv_1")


def test_checks() -> None:
    check_text(None)
    check_text("ok 👍", 10)
    with pytest.raises(Invalid, match="invalid_content"):
        check_text("a\x00b")
    with pytest.raises(Invalid, match="invalid_content"):
        check_text("\udc80")
    with pytest.raises(Invalid, match="content_too_long"):
        check_text("abc", 2)
    assert check_json({"a": [1, 2.5, None, True, {"b": "c"}]}) == {
        "a": [1, 2.5, None, True, {"b": "c"}]
    }
    assert check_json({"when": T0}) == {"when": str(T0)}
    assert check_json([Decimal("2")]) == ["2"]
    for bad in ({"a": float("nan")}, {"a": "\x00"}, {"\x00": 1}, ["\ud800"], {"a": float("inf")}):
        with pytest.raises(Invalid, match="invalid_metadata"):
            check_json(bad)
    deep: object = "x"
    for _ in range(60):
        deep = [deep]
    assert check_json(deep) == deep
