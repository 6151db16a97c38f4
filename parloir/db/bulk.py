"""Bulk inserts through each driver's fastest path.

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

from parloir.db.types import UTCDateTime

__all__ = ["insert_rows"]


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
