"""The byte-level side of erasure and retention: what is left in the files after the rows go.

SQLite (:func:`compact_sqlite`): the FTS5 index is merged (``'optimize'``: the SQLite of
Debian 12, 3.40.1, has no FTS5 ``secure-delete``, so deleted entries live on in old index
segments until a merge), the WAL is checkpointed and truncated, the file is rebuilt by
``VACUUM`` (free pages, which may hold deleted text, are not copied), and checkpointed again.
``VACUUM`` may renumber the implicit ``rowid`` of ``messages`` (its key is a UUID, not an
``INTEGER PRIMARY KEY``), which links the external-content FTS5 index to its rows: the rowids
are compared before and after, and the index is rebuilt if any moved; so are the rollups,
whose fold watermark is a ``rowid`` too (``parloir.rollups_fold``).

PostgreSQL (:func:`vacuum_postgres`): ``VACUUM`` of the touched tables, outside a transaction,
makes the dead tuples' space reusable; it does not overwrite them, nor the WAL (see
docs/erasure-retention.md).
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine

from parloir import rollups_fold, rollups_rebuild
from parloir.db.search_index import FTS_TABLE
from parloir.schemas_erasure import CompactionReport

__all__ = ["ERASURE_TABLES", "compact_sqlite", "incremental_vacuum", "vacuum_postgres"]

ERASURE_TABLES = (
    "contacts",
    "conversations",
    "messages",
    "llm_calls",
    "retrievals",
    "feedback",
    "sessions",
    "posts",
    "audit_events",
    "idempotency_records",
    "widget_tokens",
)
"""The tables an erasure or a retention run deletes from or rewrites."""


def _has_fts(connection: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return connection.execute(query, (FTS_TABLE,)).fetchone() is not None


def _rowids(connection: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for rowid, message_id in connection.execute("SELECT rowid, id FROM messages ORDER BY id"):
        digest.update(f"{rowid}:{message_id!r};".encode())
    return digest.hexdigest()


def _checkpoint(connection: sqlite3.Connection) -> bool:
    """Checkpoint and truncate the WAL; True if a reader kept it from finishing."""
    busy, _log, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy)


def recount_rollups(connection: Connection) -> None:
    """Recount every rollup from the raw rows and put the fold's watermark past every message:
    after ``VACUUM`` renumbered the rowids, the watermark no longer tells which are counted."""
    with connection.begin():
        rollups_rebuild.rebuild(connection, None)
        rollups_fold.mark_counted(connection)


def compact_sqlite(engine: Engine) -> CompactionReport:
    """Run the byte-level procedure on the SQLite file of ``engine`` (the write engine)."""
    steps: list[str] = []
    with engine.connect() as wrapper:
        connection: Any = wrapper.connection.driver_connection
        fts = _has_fts(connection)
        if fts:
            connection.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
            steps.append("fts optimize")
        busy = _checkpoint(connection)
        before = _rowids(connection)
        connection.execute("VACUUM")
        steps += ["wal_checkpoint(TRUNCATE)", "VACUUM"]
        moved = _rowids(connection) != before
        rebuilt = fts and moved
        if rebuilt:
            connection.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
            steps.append("fts rebuild")
        if moved:
            recount_rollups(wrapper)
            steps.append("rollups rebuild")
        busy = _checkpoint(connection) or busy
        steps.append("wal_checkpoint(TRUNCATE)")
    return CompactionReport(dialect="sqlite", steps=steps, fts_rebuilt=rebuilt, wal_busy=busy)


def vacuum_postgres(engine: Engine, tables: tuple[str, ...] = ERASURE_TABLES) -> CompactionReport:
    """``VACUUM`` the given tables, outside any transaction (``engine``: the owner's, since
    only a table's owner may vacuum it)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM {', '.join(tables)}")
    return CompactionReport(dialect="postgresql", steps=[f"VACUUM {', '.join(tables)}"])


AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


def incremental_vacuum(engine: Engine) -> tuple[str, int]:
    """Give free pages back to the file system where ``auto_vacuum=INCREMENTAL``.

    Returns the database's auto_vacuum mode and the number of pages freed (0 unless the mode
    is incremental: a database made before parloir set it needs one ``VACUUM``).
    """
    with engine.connect() as wrapper:
        connection: Any = wrapper.connection.driver_connection
        mode = AUTO_VACUUM.get(connection.execute("PRAGMA auto_vacuum").fetchone()[0], "none")
        if mode != "incremental":
            return mode, 0
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        connection.execute("PRAGMA incremental_vacuum").fetchall()
        _checkpoint(connection)
        return mode, free - connection.execute("PRAGMA freelist_count").fetchone()[0]
