"""Bulk inserts and hot reads through each driver's fastest path.

Batches of messages are checked (keys, sequence numbers) before they get here, so they can skip
SQLAlchemy's per-value processing: SQLite gets one ``executemany`` of plain tuples, PostgreSQL
one ``INSERT ... SELECT * FROM unnest(...)`` of one array per column (``COPY`` is refused on
tables with row-level security). Values are converted here exactly as the column types would
store them.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Date, Table, Uuid, exc
from sqlalchemy.dialects import sqlite

from parloir.db.engine import execute_for_tenant, set_tenant_now
from parloir.db.types import UTCDateTime

__all__ = ["fetch_rows", "insert_rows"]


def _uuid(value: uuid.UUID) -> str:
    return value.hex


def _timestamp(value: datetime) -> str:
    if value.tzinfo is UTC:  # already UTC: drop the "+00:00" of its ISO text
        return value.isoformat(" ", "microseconds")[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_TIMESTAMPS: dict[datetime, str] = {}
_TIMESTAMPS_KEPT = 20_000


def _recent_timestamp(value: datetime) -> str:
    """:func:`_timestamp`, remembered for the last few thousand times: a batch's rows repeat
    the times of the batch before (a conversation's, then its messages')."""
    text = _TIMESTAMPS.get(value)
    if text is None:
        if len(_TIMESTAMPS) >= _TIMESTAMPS_KEPT:
            _TIMESTAMPS.clear()
        text = _TIMESTAMPS[value] = _timestamp(value)
    return text


# What ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` does, without building
# an encoder at every call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string = encode_basestring  # the encoder's own quoting of text (ensure_ascii=False)


def _json(value: Any) -> str:
    if type(value) is dict:
        if not value:
            return "{}"
        flat = _flat_json(value)
        if flat is not None:
            return flat
    return _encode(value)


def _flat_json(value: dict[Any, Any]) -> str | None:
    """The JSON text of an object of text and integers (most metadata: a source id or two),
    exactly as the encoder writes it, without its machinery; None for any other object."""
    parts = []
    for key, item in value.items():
        if type(key) is not str:
            return None
        kind = type(item)
        if kind is str:
            parts.append(f"{_string(key)}:{_string(item)}")
        elif kind is int:
            parts.append(f"{_string(key)}:{item!r}")
        else:
            return None
    return "{" + ",".join(parts) + "}"


Converter = Callable[[Any], Any] | None


def _converted(fn: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    """``fn`` of each value of ``column`` (None stays None), once per run of the same object:
    a batch repeats its tenant, and its parent and time from one row to the next."""
    out: list[Any] = []
    append = out.append
    last: Any = None
    done: Any = None
    for value in column:
        if value is not last:
            last = value
            done = None if value is None else fn(value)
        append(done)
    return out


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


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    staged: bool = False,
) -> None:
    """Insert ``rows`` (dicts keyed by column name, all with the same keys) into ``table``.

    ``columns`` limits the INSERT to those keys (the others get their column default).
    ``staged`` (SQLite, big batches into a table with triggers): the rows go to a temporary
    table first, then into ``table`` in one ``INSERT ... SELECT``, so that the full-text
    trigger runs within one statement; an FTS5 index flushes its pending terms at every
    statement's savepoint, which makes a trigger fired by each of many statements about four
    times slower. The result is the same rows, in the same order, in the same transaction.
    """
    if not rows:
        return
    names = list(columns if columns is not None else rows[0])
    if connection.dialect.name == "postgresql":
        _insert_many(connection, table, names, rows)
        return
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)

    # Rows to tuples and back to columns in C; only the columns to convert are walked in Python.
    if len(names) > 1:
        columns_values: list[Any] = list(zip(*map(itemgetter(*names), rows), strict=True))
    else:  # an itemgetter of one name gives the value, not a tuple
        columns_values = [[row[names[0]] for row in rows]]
    for index, fn in enumerate(_sqlite_converters(table, tuple(names))):
        if fn is not None:
            column = columns_values[index]
            if fn is _timestamp:
                columns_values[index] = _converted(_recent_timestamp, column)
            elif fn is _uuid and names[index] != "id":
                columns_values[index] = _converted(fn, column)
            else:
                columns_values[index] = [None if v is None else fn(v) for v in column]
    values = list(zip(*columns_values, strict=True))
    if staged:
        _insert_staged(connection, table, columns, marks, values)
        return
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})', values)


def _insert_staged(
    connection: Connection, table: Table, columns: str, marks: str, values: list[Any]
) -> None:
    """Insert ``values`` through ``temp.parloir_stage_<table>``: columns without a type, so the
    values reach ``table`` as bound, and ``table``'s own affinities apply once, as in a direct
    INSERT. The staging rows are part of the caller's transaction, and deleted before it ends.

    The temporary table lives in SQLite's temporary database, which follows the connection's
    ``temp_store``: by default a file that is only written when its page cache (2 MB) spills,
    and a batch of 1,000 messages fits. Long-lived connections keep that default (``MEMORY``
    would also hold every large sort of the connection in RAM); the importer switches to
    ``MEMORY`` for its run only. The statements go straight to the driver (five per batch).
    """
    stage = f'temp."parloir_stage_{table.name}"'
    every = ", ".join(f'"{column.name}"' for column in table.columns)
    move = f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM {stage} ORDER BY rowid'
    statements = (
        (f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({every})", None),
        (f"DELETE FROM {stage}", None),
        (f"INSERT INTO {stage} ({columns}) VALUES ({marks})", values),
        (move, None),
        (f"DELETE FROM {stage}", None),
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    for sql, rows in statements:
        try:
            if rows is None:
                raw.execute(sql)
            else:
                raw.executemany(sql, rows)
        except sqlite3.Error as error:  # the same exceptions SQLAlchemy would raise
            raise exc.DBAPIError.instance(sql, rows, error, sqlite3.Error) from error


@functools.cache
def _unnest_insert(table: Table, names: tuple[str, ...]) -> str:
    """One INSERT of whole columns: each is an array parameter, zipped back by ``unnest``."""
    from sqlalchemy.dialects.postgresql import psycopg

    dialect = psycopg.dialect()  # type: ignore[no-untyped-call]
    columns = ", ".join(f'"{name}"' for name in names)
    arrays = ", ".join(f"%b::{table.c[n].type.compile(dialect=dialect)}[]" for n in names)
    return f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({arrays})'


def _insert_many(
    connection: Connection, table: Table, names: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    # Not COPY: PostgreSQL refuses COPY FROM into a table with row-level security. One
    # statement with an array per column is the next fastest: one round trip, one plan.
    from psycopg.types.json import Jsonb

    raw = connection.connection.driver_connection
    assert raw is not None
    json_columns = {n for n in names if issubclass(type(table.c[n].type), JSON)}
    columns = []
    for name in names:
        values = [row[name] for row in rows]
        if name in json_columns:
            values = [None if v is None else Jsonb(v) for v in values]
        columns.append(values)
    set_tenant_now(connection)
    with raw.cursor() as cursor:
        cursor.execute(_unnest_insert(table, tuple(names)), columns)


def _read_timestamp(value: str) -> str:
    return value + "+00:00"  # stored in UTC; pydantic parses the text


def _read_json(text: str) -> Any:
    if text == "{}":
        return {}
    return None if text == "null" else json.loads(text)


def _date(value: date) -> str:
    return value.isoformat()


def _writer(kind: type[Any]) -> Converter:
    if kind is Uuid:
        return _uuid
    if kind is Date:
        return _date
    if kind is UTCDateTime:
        return _timestamp
    return _json if issubclass(kind, JSON) else None


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled once for SQLite: its text, its parameter names in order, how the
    non-plain ones are stored (by position), the values SQLAlchemy bound itself (such as
    OFFSET 0), and how to read the columns it returns."""

    sql: str
    names: tuple[str, ...]
    writers: tuple[tuple[int, Callable[[Any], Any]], ...]
    defaults: dict[str, Any]
    readers: tuple[tuple[int, Callable[[Any], Any]], ...]


@functools.cache
def _sqlite_statement(statement: Any) -> _Compiled:
    compiled = statement.compile(dialect=sqlite.dialect())
    names = tuple(compiled.positiontup or ())
    writers = []
    for index, name in enumerate(names):
        fn = _writer(type(compiled.binds[name].type))
        if fn is not None:
            writers.append((index, fn))
    readers: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(getattr(statement, "selected_columns", ())):
        kind = type(column.type)
        if kind is UTCDateTime:
            readers.append((index, _read_timestamp))
        elif issubclass(kind, JSON):
            readers.append((index, _read_json))
    return _Compiled(str(compiled), names, tuple(writers), dict(compiled.params), tuple(readers))


def run_sqlite(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Run a statement built once at import on SQLite, straight through the driver.

    The hottest paths of a bot (appending a message, reading its history) skip SQLAlchemy's
    per-value processing: parameters are converted as the column types would store them;
    returned UUIDs stay hex text and timestamps ISO text with their UTC offset, which the
    records' validation parses in Rust; JSON is decoded here. The connection and its
    transaction are the caller's.
    """
    compiled = _sqlite_statement(statement)
    given = {**compiled.defaults, **params} if compiled.defaults else params
    values = [given[name] for name in compiled.names]
    for index, fn in compiled.writers:
        if values[index] is not None:
            values[index] = fn(values[index])
    raw = connection.connection.driver_connection
    assert raw is not None
    try:
        rows = raw.execute(compiled.sql, values).fetchall()
    except sqlite3.Error as error:  # the same exceptions SQLAlchemy would raise
        raise exc.DBAPIError.instance(compiled.sql, values, error, sqlite3.Error) from error
    if not compiled.readers:
        return rows  # type: ignore[no-any-return]
    out = []
    for row in rows:
        item = list(row)
        for index, fn in compiled.readers:
            if item[index] is not None:
                item[index] = fn(item[index])
        out.append(item)
    return out


def fetch_rows(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Run a statement built once; the rows it returns (if any) come back ready for a
    pydantic record."""
    if connection.dialect.name == "sqlite":
        return run_sqlite(connection, statement, params)
    return run_postgres(connection, statement, params)


@functools.cache
def _postgres_statement(statement: Any) -> tuple[str, list[tuple[str, bool]], dict[str, Any]]:
    """A statement compiled once for psycopg's raw cursor: its text with ``$n`` placeholders,
    its parameters in that order (and which are JSON), and the values SQLAlchemy bound itself.

    With ``$n`` placeholders psycopg sends the text as it is: with ``%(name)s`` it would parse
    it again at every call, and it caches that parsing only for texts under 4 KiB (the append
    with its rollup upserts is longer).
    """
    from sqlalchemy.dialects.postgresql import psycopg

    compiled = statement.compile(dialect=psycopg.dialect())  # type: ignore[no-untyped-call]
    json_names = {
        name for bind, name in compiled.bind_names.items() if issubclass(type(bind.type), JSON)
    }
    # The names as the SQL text uses them (anonymous binds get generated ones there).
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", str(compiled))))
    number = {name: index for index, name in enumerate(names, start=1)}
    sql = re.sub(r"%\((\w+)\)s", lambda m: f"${number[m.group(1)]}", str(compiled))
    sql = sql.replace("%%", "%")  # no longer an escape once psycopg does not parse the text
    return sql, [(name, name in json_names) for name in names], dict(compiled.params)


def run_postgres(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Run a statement built once at import on PostgreSQL, straight through psycopg.

    For the append, a single statement whose parameters SQLAlchemy would otherwise process
    one by one at every call. psycopg adapts UUIDs and datetimes itself; JSON is wrapped.
    """
    import psycopg
    from psycopg.types.json import Jsonb

    sql, order, defaults = _postgres_statement(statement)
    given = {**defaults, **params}
    values = [
        Jsonb(given[name]) if is_json and given[name] is not None else given[name]
        for name, is_json in order
    ]
    raw = connection.connection.driver_connection
    assert raw is not None
    try:
        with psycopg.RawCursor(raw) as cursor:
            execute_for_tenant(connection, cursor, sql, values)
            rows: list[Any] = cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:  # the same exceptions SQLAlchemy would raise
        raise exc.DBAPIError.instance(sql, values, error, psycopg.Error) from error
    return rows
