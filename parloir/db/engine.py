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

On PostgreSQL the store's connections act as the application role ``parloir_app`` (``SET ROLE``
when a connection is made), which row-level security confines to one tenant; the tenant of
every transaction is set with ``set_config('parloir.tenant_id', ..., true)``, sent in the same
psycopg pipeline as the transaction's first statement, so it costs no round trip of its own
(see :func:`execute_for_tenant`). Cross-tenant operations use a third engine acting as
``parloir_admin``, and migrations a fourth with the login's own rights. A connection that sat
idle is pinged before use. docs/security.md tells the whole design.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parloir.config import Settings
from parloir.errors import ConfigError, MissingDependencyError

__all__ = [
    "ADMIN_ROLE",
    "APP_ROLE",
    "TENANT_OPTION",
    "TENANT_SETTING",
    "Engines",
    "create_engines",
    "execute_for_tenant",
    "set_tenant_now",
]

APP_ROLE = "parloir_app"
"""The role the store's tenant-bound connections act as on PostgreSQL."""
ADMIN_ROLE = "parloir_admin"
"""The role of the few operations that span tenants (tenants, API key lookup, webhooks)."""
TENANT_SETTING = "parloir.tenant_id"
"""The setting the row-level security policies read."""
TENANT_OPTION = "parloir_tenant_id"
"""The execution option that carries a connection's tenant id to :func:`execute_for_tenant`."""

_SET_TENANT = f"SELECT set_config('{TENANT_SETTING}', %s, true)"
_SET_TENANT_RAW = _SET_TENANT.replace("%s", "$1")  # for psycopg's RawCursor


@dataclass(frozen=True)
class Engines:
    """The engines of one store.

    ``write`` and ``read`` carry tenant work (``read`` is in autocommit on PostgreSQL);
    ``admin`` spans tenants; ``owner`` runs migrations and schema checks. On SQLite ``admin``
    and ``owner`` are the ``write`` engine.
    """

    write: Engine
    read: Engine
    admin: Engine
    owner: Engine

    @property
    def dialect(self) -> str:
        return self.write.dialect.name

    def dispose(self) -> None:
        seen: set[int] = set()
        for engine in (self.write, self.read, self.admin, self.owner):
            if id(engine) not in seen:
                seen.add(id(engine))
                engine.dispose()


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
        import psycopg
        from psycopg.types.json import set_json_loads
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise MissingDependencyError("psycopg", extra="postgres") from None
    if not psycopg.Pipeline.is_supported():  # pragma: no cover - depends on the libpq
        raise ConfigError("PostgreSQL needs psycopg with libpq >= 14 (pipeline mode)")

    def engine(role: str | None, **options: Any) -> Engine:
        if "poolclass" not in options:
            options.setdefault("pool_size", 10)
            options.setdefault("max_overflow", 10)
        made = create_engine(settings.database_url, **options)
        _ping_when_idle(made)

        @event.listens_for(made, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            set_json_loads(_json_loads, dbapi_connection)
            # UTC sessions: timestamps read straight through psycopg (parloir.db.bulk) come
            # back in UTC, as UTCDateTime gives them everywhere else.
            setup = "SET TIME ZONE 'UTC'" + (f"; SET ROLE {role}" if role else "")
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            dbapi_connection.execute(setup)
            _set_search_language(dbapi_connection, settings.search_language)
            dbapi_connection.autocommit = autocommit

        if role == APP_ROLE:
            _set_tenant_per_transaction(made)
        return made

    write = engine(APP_ROLE)
    # Reads, and writes that are one statement, run in autocommit: one round trip (the tenant
    # and the statement pipelined) instead of BEGIN, the statement and COMMIT. A pool of their
    # own keeps its connections in that mode.
    read = engine(APP_ROLE, isolation_level="AUTOCOMMIT")
    admin = engine(ADMIN_ROLE, pool_size=2, max_overflow=8)
    owner = engine(None, poolclass=NullPool)  # migrations and schema checks: rare
    return Engines(write=write, read=read, admin=admin, owner=owner)


def _set_tenant_per_transaction(engine: Engine) -> None:
    """Route every statement of ``engine`` through :func:`_run_for_tenant`."""

    @event.listens_for(engine, "do_execute")
    def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        tenant = context.execution_options.get(TENANT_OPTION)
        return _run_for_tenant(cursor, tenant, statement, parameters)

    @event.listens_for(engine, "do_execute_no_params")
    def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
        tenant = context.execution_options.get(TENANT_OPTION)
        return _run_for_tenant(cursor, tenant, statement, None)

    @event.listens_for(engine, "do_executemany")
    def _do_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        tenant = context.execution_options.get(TENANT_OPTION)
        if tenant is not None and _starts_transaction(cursor.connection):
            cursor.connection.execute(_SET_TENANT, (tenant,))
        return False


def _starts_transaction(raw: Any) -> bool:
    """True if the next statement on ``raw`` opens a transaction (autocommit: each one does)."""
    from psycopg.pq import TransactionStatus

    return bool(raw.autocommit) or raw.info.transaction_status == TransactionStatus.IDLE


def _run_for_tenant(cursor: Any, tenant: str | None, statement: str, parameters: Any) -> bool:
    """Run a statement that opens a transaction with the tenant set first, in one round trip.

    The ``set_config`` (local to the transaction) and the statement go in one psycopg pipeline:
    in autocommit they share the implicit transaction the final Sync commits; otherwise
    psycopg queues its ``BEGIN`` in front of them. Inside a transaction the tenant is already
    set and the statement runs as usual. Returns False when the caller should execute it.
    """
    raw = cursor.connection
    if tenant is None or not _starts_transaction(raw):
        return False
    with raw.pipeline():
        # The same cursor for both (cheaper than a second one): it keeps the last results.
        from psycopg import RawCursor

        set_tenant = _SET_TENANT_RAW if isinstance(cursor, RawCursor) else _SET_TENANT
        cursor.execute(set_tenant, (tenant,))
        cursor.execute(statement, parameters)
    return True


def set_tenant_now(connection: Connection) -> None:
    """Set ``connection``'s tenant at once if its next statement would open a transaction.

    For an ``executemany`` in a write transaction (psycopg pipelines it on its own).
    """
    raw = connection.connection.driver_connection
    tenant = connection.get_execution_options().get(TENANT_OPTION)
    if tenant is not None and _starts_transaction(raw):
        assert raw is not None and not raw.autocommit
        raw.execute(_SET_TENANT, (tenant,))


def execute_for_tenant(connection: Connection, cursor: Any, statement: str, values: Any) -> None:
    """Execute ``statement`` on a raw psycopg ``cursor`` of ``connection`` with its tenant set.

    For the paths that call psycopg directly (see :mod:`parloir.db.bulk`).
    """
    tenant = connection.get_execution_options().get(TENANT_OPTION)
    if not _run_for_tenant(cursor, tenant, statement, values):
        cursor.execute(statement, values)


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
    return Engines(write=write, read=read, admin=write, owner=write)


def _configure_sqlite(engine: Engine, settings: Settings, *, begin: str) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
        # Some builds (Debian's) turn it on by default: set here, everyday deletes behave alike
        # everywhere, and only an erasure zeroes what it frees (parloir.store_erasure).
        "PRAGMA secure_delete=OFF",
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
