"""``parloir doctor``: is the database sound?

Each check returns a :class:`Check` whose status is ``ok``, ``warn`` or ``fail``; any ``fail``
makes the whole report fail. The checks read only, except SQLite's FTS ``integrity-check``
command, which SQLite spells as an INSERT and therefore runs in a write transaction that
changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, and_, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from parloir.db import migrate
from parloir.db.engine import Engines
from parloir.db.models import Base

__all__ = ["Check", "Report", "affected_by_wal_reset_bug", "diagnose"]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and the details a person needs."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings do not fail the report)."""
        return all(check.status != "fail" for check in self.checks)


def affected_by_wal_reset_bug(version: tuple[int, int, int]) -> bool:
    """SQLite 3.7.0 to 3.51.2 has the WAL-reset race, except the 3.44.6 and 3.50.7 backports."""
    if not (3, 7, 0) <= version < (3, 51, 3):
        return False
    return not ((3, 44, 6) <= version < (3, 45, 0) or (3, 50, 7) <= version < (3, 51, 0))


def diagnose(engines: Engines) -> Report:
    """Run every check that applies to this database."""
    checks: list[Check] = []
    try:
        with engines.read.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return Report([Check("connectivity", "fail", _first_line(error))])
    checks.append(Check("connectivity", "ok", f"{engines.dialect} database reachable"))
    checks.append(_schema_check(engines.owner))
    for check in _database_checks(engines):
        checks.append(_guarded(check))
    return Report(checks)


def _guarded(check: Callable[[], Check]) -> Check:
    try:
        return check()
    except SQLAlchemyError as error:
        return Check(getattr(check, "__name__", "check").lstrip("_"), "fail", _first_line(error))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _schema_check(engine: Engine) -> Check:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return Check("schema", "ok", f"at head ({head})")
    return Check(
        "schema", "fail", f"at {current or 'empty'}, head is {head}: run `parloir db upgrade`"
    )


def _database_checks(engines: Engines) -> Iterator[Callable[[], Check]]:
    # On PostgreSQL the store's own role sees one tenant at a time (row-level security): the
    # admin role, whose policies show every tenant, reads the data; the catalogs are public.
    read, write = engines.admin, engines.write
    if engines.dialect == "sqlite":
        yield _sqlite_version
        yield lambda: _pragma_check(read, "integrity_check")
        yield lambda: _pragma_check(read, "foreign_key_check")
        yield lambda: _fts_check(write)
    else:
        yield lambda: _rls_check(read)
        yield lambda: _invalid_indexes(read)
    yield lambda: _tenant_consistency(read)
    yield lambda: _counters(read)


def _sqlite_version() -> Check:
    version = sqlite3.sqlite_version_info
    if affected_by_wal_reset_bug(version):
        return Check(
            "sqlite_version",
            "warn",
            f"SQLite {sqlite3.sqlite_version} has the WAL-reset bug (fixed in 3.51.3, 3.50.7, "
            "3.44.6); parloir keeps one writer connection per process, which avoids concurrent "
            "writers within a process, but several processes writing one file are exposed",
        )
    return Check("sqlite_version", "ok", f"SQLite {sqlite3.sqlite_version}")


def _pragma_check(engine: Engine, pragma: str) -> Check:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"PRAGMA {pragma}").fetchall()
    problems = [row for row in rows if tuple(row) != ("ok",)]
    if not problems:
        return Check(pragma, "ok", "no problem found")
    shown = "; ".join(str(tuple(row)) for row in problems[:5])
    return Check(pragma, "fail", f"{len(problems)} problem(s): {shown}")


def _fts_check(engine: Engine) -> Check:
    with engine.begin() as connection:
        tables = _fts_tables(connection)
        for name in tables:
            connection.exec_driver_sql(
                f'INSERT INTO "{name}"("{name}", rank) VALUES (\'integrity-check\', 1)'
            )
    if not tables:
        return Check("fts_integrity", "ok", "no full-text index in this database")
    return Check("fts_integrity", "ok", f"consistent: {', '.join(tables)}")


def _fts_tables(connection: Connection) -> list[str]:
    rows = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'"
    ).fetchall()
    return [row[0] for row in rows]


def _tenant_tables() -> list[str]:
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


def _rls_check(engine: Engine) -> Check:
    query = text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
        "AND c.relrowsecurity AND c.relforcerowsecurity"
    )
    with engine.connect() as connection:
        protected = {row[0] for row in connection.execute(query)}
    missing = [name for name in ["tenants", *_tenant_tables()] if name not in protected]
    if missing:
        return Check(
            "row_level_security",
            "fail",
            f"not enabled and forced on: {', '.join(missing)}",
        )
    return Check("row_level_security", "ok", "enabled and forced on every tenant table")


def _invalid_indexes(engine: Engine) -> Check:
    query = text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)"
    )
    with engine.connect() as connection:
        names = [row[0] for row in connection.execute(query)]
    if names:
        return Check("indexes", "fail", f"invalid index(es), rebuild them: {', '.join(names)}")
    return Check("indexes", "ok", "every index valid")


def _tenant_consistency(engine: Engine) -> Check:
    """A row and the row it references must belong to the same tenant."""
    mismatches: list[str] = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                parent = fk.column.table
                if "tenant_id" not in table.c or "tenant_id" not in parent.c or parent is table:
                    continue
                joined = table.join(
                    parent, and_(fk.parent == fk.column, table.c.tenant_id != parent.c.tenant_id)
                )
                count = connection.execute(select(func.count()).select_from(joined)).scalar_one()
                if count:
                    mismatches.append(f"{table.name}.{fk.parent.name}: {count}")
    if mismatches:
        return Check("orphans", "fail", "rows referencing another tenant: " + ", ".join(mismatches))
    return Check("orphans", "ok", "every reference stays within its tenant")


def _counters(engine: Engine) -> Check:
    query = text(
        "SELECT c.id, c.message_count, count(m.id), c.last_seq, coalesce(max(m.seq), 0) "
        "FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id "
        "GROUP BY c.id, c.message_count, c.last_seq "
        "HAVING c.message_count <> count(m.id) OR c.last_seq < coalesce(max(m.seq), 0)"
    )
    with engine.connect() as connection:
        wrong = connection.execute(query).fetchall()
    if wrong:
        shown = "; ".join(
            f"{row[0]}: message_count {row[1]} vs {row[2]} rows, last_seq {row[3]} vs {row[4]}"
            for row in wrong[:5]
        )
        return Check("counters", "fail", f"{len(wrong)} conversation(s) wrong: {shown}")
    return Check("counters", "ok", "message counts and sequences match the messages")
