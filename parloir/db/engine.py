"""Engines, and the SQLite discipline that keeps writes safe.

On SQLite every connection gets ``journal_mode=WAL``, ``foreign_keys=ON``, a ``busy_timeout``
and ``synchronous=FULL`` (or NORMAL when asked); a new empty file also gets
``auto_vacuum=INCREMENTAL`` (so that retention runs can give free pages back). pysqlite's
own implicit ``BEGIN`` is deferred, and a deferred transaction that reads and then writes
fails at once with "database is locked" when another connection writes; so pysqlite's
transaction handling is switched off and the write engine issues ``BEGIN IMMEDIATE`` itself
(SQLAlchemy's documented recipe). All writes of a process go through one writer connection
(a pool of one): threads queue in-process instead of contending for the file lock, and no two
connections of ours write or checkpoint at once.
Readers use a separate pool and plain ``BEGIN``.

On PostgreSQL one psycopg 3 pool serves both; reads run in autocommit, and a connection that
sat idle is pinged before use.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from parloir.config import Settings
from parloir.errors import ConfigError, MissingDependencyError

__all__ = ["Engines", "create_engines"]


@dataclass(frozen=True)
class Engines:
    """The engines of one store: ``write`` and ``read`` are the same object on PostgreSQL."""

    write: Engine
    read: Engine

    @property
    def dialect(self) -> str:
        return self.write.dialect.name

    def dispose(self) -> None:
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def create_engines(settings: Settings) -> Engines:
    """Create the engines for ``settings.database_url``."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engines(settings)
    return _postgres_engines(settings)


IDLE_PING_SECONDS = 1.0
"""A pooled PostgreSQL connection idle for longer is pinged before use."""


def _postgres_engines(settings: Settings) -> Engines:
    try:
        from psycopg.types.json import set_json_loads
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise MissingDependencyError("psycopg", extra="postgres") from None

    def engine(**options: Any) -> Engine:
        made = create_engine(settings.database_url, pool_size=10, max_overflow=10, **options)
        _ping_when_idle(made)

        @event.listens_for(made, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            set_json_loads(_json_loads, dbapi_connection)
            _set_search_language(dbapi_connection, settings.search_language)

        return made

    write = engine()
    # Reads, and writes that are one statement, run in autocommit: one round trip instead of
    # BEGIN, the statement and COMMIT. A pool of their own keeps its connections in that mode.
    read = engine(isolation_level="AUTOCOMMIT")
    return Engines(write=write, read=read)


def _set_search_language(dbapi_connection: Any, language: str) -> None:
    """Tell the search trigger which text search configuration to index with (the cast
    fails at once, on connect, if the configuration does not exist)."""
    import psycopg

    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('parloir.search_language', %s::regconfig::text, false)",
                (language,),
            )
        dbapi_connection.commit()
    except psycopg.Error as error:
        raise ConfigError(f"search_language {language!r} is not usable: {error}") from None


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only if it sat idle (SQLAlchemy's pessimistic recipe).

    ``pool_pre_ping`` would spend a round trip on every transaction; a connection used less
    than a second ago is known to be alive. A dead one is replaced, and the pool with it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error


def _json_loads(text: str | bytes) -> Any:
    # Most JSON cells hold an empty object or null: skip the parser for them.
    if text in ("{}", b"{}"):
        return {}
    return None if text in ("null", b"null") else json.loads(text)


def _json_dumps(value: Any) -> str:
    if type(value) is dict and not value:
        return "{}"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sqlite_engines(settings: Settings) -> Engines:
    url = make_url(settings.database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    write = create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        json_deserializer=_json_loads,
        json_serializer=_json_dumps,
        pool_timeout=max(30.0, settings.busy_timeout_ms / 1000 * 4),
        connect_args={"check_same_thread": False, "timeout": settings.busy_timeout_ms / 1000},
    )
    read = create_engine(
        url,
        pool_size=8,
        max_overflow=8,
        json_deserializer=_json_loads,
        json_serializer=_json_dumps,
        connect_args={"check_same_thread": False, "timeout": settings.busy_timeout_ms / 1000},
    )
    _configure_sqlite(write, settings, begin="BEGIN IMMEDIATE")
    _configure_sqlite(read, settings, begin="BEGIN")
    return Engines(write=write, read=read)


def _configure_sqlite(engine: Engine, settings: Settings, *, begin: str) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from pysqlite: it would open DEFERRED transactions.
        dbapi_connection.isolation_level = None
        if dbapi_connection.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A new, empty file: free pages can be given back by retention runs
            # (PRAGMA incremental_vacuum). Only possible before the first table exists.
            dbapi_connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
        for pragma in pragmas:
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
