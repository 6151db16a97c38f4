"""The core of :class:`parloir.Store`: engines, transactions, tenants and the schema check."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self, Unpack

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from parloir import accounts, rollups_fold
from parloir.config import Settings
from parloir.db import migrate as migrate_module
from parloir.db.driver import ThreadReaders, driver_reads, driver_transaction
from parloir.db.engine import TENANT_OPTION, Engines, create_engines
from parloir.db.errors import translate_db_errors
from parloir.db.group_commit import GroupCommitter
from parloir.db.models import DEFAULT_TENANT_ID
from parloir.inputs import TenantFields
from parloir.key_cache import KeyCache
from parloir.schemas import TenantRead
from parloir.scope import Scope
from parloir.validation import validate

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class _Shared:
    """What every tenant view of one store shares: engines, session factories, settings."""

    def __init__(self, engines: Engines, settings: Settings, clock: Clock) -> None:
        self.engines = engines
        self.settings = settings
        self.clock = clock
        self.write_sessions = sessionmaker(bind=engines.write, expire_on_commit=False)
        self.group_commit = (
            GroupCommitter(engines.write, translate_db_errors)
            if engines.dialect == "sqlite"
            else None
        )
        """The writer thread of grouped appends (SQLite only; started at first use)."""
        self.readers = ThreadReaders(engines.read) if engines.dialect == "sqlite" else None
        """Each thread's kept read connection for quick reads (SQLite only)."""
        self.key_cache = KeyCache(settings.api_key_cache_ms / 1000)
        """API keys found by ``peek_api_key``, kept for a moment (:mod:`parloir.key_cache`)."""


class StoreBase:
    """Opening, closing, transactions and tenant binding (see :class:`parloir.Store`)."""

    def __init__(self, shared: _Shared, tenant_id: uuid.UUID, *, owner: bool) -> None:
        self._shared = shared
        self._tenant_id = tenant_id
        self._owner = owner

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        migrate: bool | None = None,
        tenant_id: uuid.UUID | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """Open the database at ``url`` (or ``settings.database_url``).

        Args:
            url: a SQLAlchemy URL; ``postgresql://`` URLs use psycopg 3.
            settings: every other option; defaults need no configuration.
            migrate: upgrade the schema to head if needed. The default does so on SQLite and
                refuses (``SchemaError``) on PostgreSQL, where ``parloir db upgrade`` does it.
            tenant_id: the tenant this store acts for (default: the default tenant).
            clock: a function returning the current aware time (tests pass a fake one).
        """
        settings = settings or Settings()
        if url is not None:
            settings = settings.with_url(url)
        engines = create_engines(settings)
        try:
            auto = migrate if migrate is not None else engines.dialect == "sqlite"
            migrate_module.check_schema(engines.owner, auto_upgrade=auto)
        except BaseException:
            engines.dispose()
            raise
        shared = _Shared(engines, settings, clock or utc_now)
        return cls(shared, tenant_id or DEFAULT_TENANT_ID, owner=True)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Self:
        """Open the database named by ``PARLOIR_DATABASE_URL`` / ``DATABASE_URL``."""
        return cls.open(settings=Settings.from_env(), **kwargs)

    def for_tenant(self, tenant_id: uuid.UUID) -> Self:
        """A view of this store acting for another tenant (same engines, nothing to close)."""
        return type(self)(self._shared, tenant_id, owner=False)

    @property
    def tenant_id(self) -> uuid.UUID:
        """The tenant every call of this store reads and writes."""
        return self._tenant_id

    @property
    def settings(self) -> Settings:
        return self._shared.settings

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._shared.engines.dialect

    def close(self) -> None:
        """Release the database connections (a tenant view leaves them to its owner)."""
        if self._owner:
            if self._shared.group_commit is not None:
                self._shared.group_commit.close()
            if self._shared.readers is not None:
                self._shared.readers.close()
            if self.dialect == "sqlite":
                with self._shared.engines.write.begin() as connection:
                    rollups_fold.fold(connection)  # leave every append counted
                # SQLite's advice: refresh the planner's statistics as a connection closes;
                # analysis_limit keeps that to a sample, so closing stays fast on big files.
                with self._shared.engines.write.connect() as connection:
                    connection.exec_driver_sql("PRAGMA analysis_limit=400")
                    connection.exec_driver_sql("PRAGMA optimize")
            self._shared.engines.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any exception."""
        with translate_db_errors(), self._shared.write_sessions.begin() as session:
            session.connection(execution_options=self._tenant_option())
            yield session

    def _tenant_option(self) -> dict[str, str]:
        # On PostgreSQL the engine sets this tenant at the start of every transaction of the
        # connection (parloir.db.engine); row-level security then shows only its rows.
        return {TENANT_OPTION: str(self._tenant_id)}

    @contextmanager
    def _write(self) -> Iterator[Scope]:
        with translate_db_errors(), self._shared.engines.write.begin() as connection:
            connection.execution_options(**self._tenant_option())
            yield self._scope(connection)

    @contextmanager
    def _admin(self, *, write: bool) -> Iterator[Scope]:
        """A transaction across tenants: as ``parloir_admin`` on PostgreSQL, whose policies
        show every tenant's rows. Only tenant management and lookups that must find a row's
        tenant (API keys, webhooks) use it."""
        if self.dialect == "sqlite":
            with self._write() if write else self._read() as scope:
                yield scope
            return
        with translate_db_errors(), self._shared.engines.admin.begin() as connection:
            yield self._scope(connection)

    @contextmanager
    def _bulk_write(self) -> Iterator[Scope]:
        """A write transaction whose statements all go through ``parloir.db.bulk``: on SQLite
        straight on the writer's driver connection (parloir.db.driver)."""
        if self.dialect == "postgresql":
            with self._write() as scope:
                yield scope
            return
        with translate_db_errors(), driver_transaction(self._shared.engines.write) as connection:
            yield self._scope(connection)

    @contextmanager
    def _single_statement(self) -> Iterator[Scope]:
        """For a write whose statements all go through ``parloir.db.bulk`` (parloir.db.driver):
        on PostgreSQL one atomic statement in autocommit (one round trip instead of three), on
        SQLite a ``BEGIN IMMEDIATE`` transaction on the writer's driver connection."""
        if self.dialect == "postgresql":
            with self._quick_read() as scope:
                yield scope
            return
        with self._bulk_write() as scope:
            yield scope

    @contextmanager
    def _read(self) -> Iterator[Scope]:
        with translate_db_errors(), self._shared.engines.read.begin() as connection:
            connection.execution_options(**self._tenant_option())
            yield self._scope(connection)

    @contextmanager
    def _quick_read(self) -> Iterator[Scope]:
        """For reads whose statements all go through ``parloir.db.bulk``: straight on a
        reader's driver connection, with no transaction (each statement is one snapshot)."""
        readers = self._shared.readers
        if readers is not None:
            with translate_db_errors():
                yield self._scope(readers.connection(**self._tenant_option()))
            return
        engine = self._shared.engines.read
        with translate_db_errors(), driver_reads(engine, **self._tenant_option()) as connection:
            yield self._scope(connection)

    @contextmanager
    def _quick_admin_read(self) -> Iterator[Scope]:
        """:meth:`_quick_read` across tenants (as ``parloir_admin`` on PostgreSQL), for the
        lookups every request makes (API keys)."""
        if self.dialect == "sqlite":
            with self._quick_read() as scope:
                yield scope
            return
        with translate_db_errors(), driver_reads(self._shared.engines.admin) as connection:
            yield self._scope(connection)

    def _scope(self, connection: Connection) -> Scope:
        settings = self._shared.settings
        return Scope(
            session=connection,
            tenant_id=self._tenant_id,
            clock=self._shared.clock,
            max_content_length=settings.max_content_length,
            capture_prompts=settings.capture_prompts,
        )

    def current_revision(self) -> str | None:
        """The schema revision of the database."""
        return migrate_module.current_revision(self._shared.engines.owner)

    # Tenants are the one thing a store manages across tenants (as parloir_admin).

    def create_tenant(self, **fields: Unpack[TenantFields]) -> TenantRead:
        """Create a tenant (a workspace); ``slug`` must be unique."""
        data = validate(TenantFields, fields)
        with self._admin(write=True) as scope:
            return accounts.create_tenant(scope, data)

    def get_tenant(self, tenant_id: uuid.UUID | None = None) -> TenantRead:
        """A tenant by id (default: this store's)."""
        with self._admin(write=False) as scope:
            return accounts.get_tenant(scope, tenant_id or self._tenant_id)

    def find_tenant(self, slug: str) -> TenantRead | None:
        """The tenant with this slug, or None."""
        with self._admin(write=False) as scope:
            return accounts.find_tenant_by_slug(scope, slug)

    def list_tenants(self) -> list[TenantRead]:
        """Every tenant."""
        with self._admin(write=False) as scope:
            return accounts.list_tenants(scope)
