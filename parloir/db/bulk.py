"""Bulk inserts and hot reads through each driver's fastest path.

Batches of messages are checked (keys, sequence numbers) before they get here, so they can skip
SQLAlchemy's per-value processing: SQLite gets one ``executemany`` of plain tuples, PostgreSQL
one ``COPY``. Values are converted here exactly as the column types would store them.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, Uuid
from sqlalchemy.dialects import sqlite

from parloir.db.types import UTCDateTime

__all__ = ["fetch_rows", "insert_rows"]


def _uuid(value: uuid.UUID) -> str:
    return value.hex


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str:
    if type(value) is dict and not value:
        return "{}"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Converter = Callable[[Any], Any] | None


def _cached(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` remembering its results for one batch (a batch repeats its tenant and parent)."""
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value not in seen:
            seen[value] = fn(value)
        return seen[value]

    return convert


@functools.cache
def _sqlite_converters(table: Table, names: tuple[str, ...]) -> list[Converter]:
    """How each column's Python value is stored by SQLite, as the column type would do it."""
    out: list[Converter] = []
    for name in names:
        kind = type(table.c[name].type)
        if kind is Uuid:
            out.append(_uuid)
        elif kind is UTCDateTime:
            out.append(_timestamp)
        elif issubclass(kind, JSON):
            out.append(_json)
        else:
            out.append(None)
    return out


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column name, all with the same keys) into ``table``."""
    if not rows:
        return
    names = list(rows[0])
    if connection.dialect.name == "postgresql":
        _copy(connection, table, names, rows)
        return
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    convert = [
        (name, _cached(fn) if fn is _uuid else fn)
        for name, fn in zip(names, _sqlite_converters(table, tuple(names)), strict=True)
    ]
    values = [
        tuple(
            row[name] if fn is None or row[name] is None else fn(row[name]) for name, fn in convert
        )
        for row in rows
    ]
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})', values)


def _copy(
    connection: Connection, table: Table, names: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    from psycopg.types.json import Jsonb

    raw = connection.connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [Jsonb(v) if isinstance(v, dict | list) else v for v in (row[n] for n in names)]
            )


def _read_timestamp(value: str) -> str:
    return value + "+00:00"  # stored in UTC; pydantic parses the text


def _read_json(text: str) -> Any:
    if text == "{}":
        return {}
    return None if text == "null" else json.loads(text)


@functools.cache
def _sqlite_query(
    statement: Any,
) -> tuple[str, tuple[str, ...], dict[str, Any], list[Converter]]:
    """The SQL text, parameter order and column readers of a SELECT, compiled once."""
    compiled = statement.compile(dialect=sqlite.dialect())
    readers: list[Converter] = []
    for column in statement.selected_columns:
        kind = type(column.type)
        if kind is UTCDateTime:
            readers.append(_read_timestamp)
        elif issubclass(kind, JSON):
            readers.append(_read_json)
        else:
            readers.append(None)
    # The defaults hold the literal values SQLAlchemy bound itself (such as OFFSET 0).
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params), readers


def fetch_rows(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Run a SELECT built once at import; rows come back ready for a pydantic record.

    On SQLite the compiled text goes straight to the driver, without SQLAlchemy's per-value
    result processing (the hottest read path of a bot: its history): UUIDs stay hex text and
    timestamps ISO text with their UTC offset, which the record's validation parses in Rust;
    JSON is decoded here. Elsewhere SQLAlchemy runs the statement and returns Python values.
    """
    if connection.dialect.name != "sqlite":
        return list(connection.execute(statement, params).all())
    sql, order, defaults, readers = _sqlite_query(statement)
    given = {**defaults, **params}
    values = tuple(v.hex if isinstance(v, uuid.UUID) else v for v in (given[k] for k in order))
    raw = connection.connection.driver_connection  # same connection, same transaction
    assert raw is not None
    rows = raw.execute(sql, values).fetchall()
    pairs = [(i, fn) for i, fn in enumerate(readers) if fn is not None]
    out = []
    for row in rows:
        item = list(row)
        for index, fn in pairs:
            if item[index] is not None:
                item[index] = fn(item[index])
        out.append(item)
    return out
