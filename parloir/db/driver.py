"""Write transactions straight on the SQLite driver, for the hottest write: one append.

``engine.begin()`` costs about 40 µs per transaction in SQLAlchemy's bookkeeping (a
``Connection``, its transaction object, events, the pool's return); a single append on a
warm file costs not much more than that in SQLite itself. :func:`driver_transaction` takes
the write engine's one pooled connection (the same one, so the one-writer discipline of
:mod:`parloir.db.engine` holds), issues ``BEGIN IMMEDIATE`` and ``COMMIT`` (or ``ROLLBACK``)
itself, and hands the services a :class:`DriverConnection`: it carries only what
:func:`parloir.db.bulk.run_sqlite` reads, so it serves services whose statements all go
through that function, and nothing else. :func:`driver_reads` does the same for the hottest
reads, without a transaction: each of their statements reads one consistent snapshot; on
PostgreSQL it also carries the single-statement append (its pool is in autocommit).
:class:`ThreadReaders` keeps one such SQLite read connection per thread, out of the pool, for
the reads every request makes (its API key): taking a pooled connection and giving it back
costs more than the read.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Engine, exc

__all__ = ["DriverConnection", "ThreadReaders", "driver_reads", "driver_transaction"]


class DriverConnection:
    """What :mod:`parloir.db.bulk`'s ``run_sqlite`` and ``run_postgres`` need of a connection:
    the dialect, the pooled connection whose ``driver_connection`` is the driver's, and (on
    PostgreSQL) the execution options that carry the tenant."""

    def __init__(self, pooled: Any, dialect: Any, options: dict[str, Any] | None = None) -> None:
        self.connection = pooled
        self.dialect = dialect
        self._options = options or {}

    def get_execution_options(self) -> dict[str, Any]:
        return self._options

    def execute(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("a driver transaction runs only statements of parloir.db.bulk")


def _run(raw: sqlite3.Connection, sql: str) -> None:
    try:
        raw.execute(sql)
    except sqlite3.Error as error:  # the same exceptions SQLAlchemy would raise
        raise exc.DBAPIError.instance(sql, (), error, sqlite3.Error) from error


@contextmanager
def driver_transaction(engine: Engine) -> Iterator[Connection]:
    """A ``BEGIN IMMEDIATE`` transaction on ``engine``'s pooled SQLite connection; commits
    when the block ends, rolls back if it raises."""
    pooled = engine.raw_connection()
    try:
        raw = pooled.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        _run(raw, "BEGIN IMMEDIATE")
        try:
            yield cast(Connection, DriverConnection(pooled, engine.dialect))
            _run(raw, "COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.rollback()
            raise
    finally:
        pooled.close()


@contextmanager
def driver_reads(engine: Engine, **options: Any) -> Iterator[Connection]:
    """A pooled connection of ``engine`` in autocommit (no ``BEGIN``), for reads, and on
    PostgreSQL for writes that are one statement; ``options`` as execution options."""
    pooled = engine.raw_connection()
    try:
        yield cast(Connection, DriverConnection(pooled, engine.dialect, options))
    finally:
        pooled.close()


class _Kept:
    """A detached connection's driver connection, where a pooled one offers it."""

    def __init__(self, pooled: Any) -> None:
        self.driver_connection = pooled.dbapi_connection


class ThreadReaders:
    """One SQLite read connection per thread, taken from ``engine`` once and kept (detached
    from its pool) until :meth:`close`.

    Each is used by its own thread only, in autocommit: no transaction stays open between
    statements, so a kept connection holds back no checkpoint.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: list[Any] = []
        self._closed = False

    def connection(self, **options: Any) -> Connection:
        """This thread's read connection, with ``options`` as execution options."""
        kept = getattr(self._local, "kept", None)
        if kept is None:
            pooled = self._engine.raw_connection()  # connected and configured by the engine
            pooled.detach()
            kept = _Kept(pooled)
            with self._lock:
                if self._closed:
                    pooled.close()
                    raise exc.InvalidRequestError("the store is closed")
                self._kept.append(pooled)
            self._local.kept = kept
        return cast(Connection, DriverConnection(kept, self._engine.dialect, options))

    def close(self) -> None:
        """Close every kept connection; later calls of :meth:`connection` fail."""
        with self._lock:
            self._closed = True
            kept, self._kept = self._kept, []
        for pooled in kept:
            pooled.close()
