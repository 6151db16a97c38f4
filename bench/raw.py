"""Raw driver floors: sqlite3 and psycopg with no library in between.

Two table shapes are used:

* ``raw_chat``: the shape of a plain chat message table (id, session_id, message, created_at)
  with a secondary index on ``(session_id, id)``;
* ``raw_messages``: the columns, unique constraints, check constraints and secondary index of
  parloir's ``messages`` table (``parloir/db/models.py``, class ``Message``), without the
  foreign keys. :func:`schema_drift` compares it with parloir's model at run time. With
  ``search=True`` it also gets parloir's full-text index, built the way parloir builds it: an
  external-content FTS5 table kept by an insert trigger (same tokenizer) on SQLite, a
  ``tsvector`` column set by a ``BEFORE INSERT`` trigger with a GIN index on PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from sqlalchemy import UniqueConstraint

from bench.common import pg_url

TENANT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")

_MESSAGE_COLUMNS = (
    ("id", "{uuid} PRIMARY KEY"),
    ("tenant_id", "{uuid} NOT NULL"),
    ("conversation_id", "{uuid} NOT NULL"),
    ("seq", "INTEGER NOT NULL"),
    ("role", "VARCHAR(16) NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool'))"),
    ("direction", "VARCHAR(3) NOT NULL CHECK (direction IN ('in', 'out'))"),
    ("content", "TEXT NOT NULL"),
    ("content_length", "INTEGER NOT NULL"),
    ("command", "VARCHAR(64)"),
    ("command_args", "TEXT"),
    ("idempotency_key", "VARCHAR(255)"),
    ("external_id", "VARCHAR(255)"),
    ("sources", "{json}"),
    ("error_type", "VARCHAR(100)"),
    ("error_message", "TEXT"),
    ("token_count", "INTEGER"),
    ("response_time_ms", "INTEGER"),
    ("delivered_at", "{ts}"),
    ("read_at", "{ts}"),
    ("edited_at", "{ts}"),
    ("metadata", "{json} NOT NULL"),
    ("created_at", "{ts} NOT NULL"),
    ("updated_at", "{ts}"),
)
# (columns, unique, partial-index predicate): parloir's indexes on messages besides the key.
_MESSAGE_INDEXES: tuple[tuple[tuple[str, ...], bool, str | None], ...] = (
    (("conversation_id", "seq"), True, None),
    (("conversation_id", "idempotency_key"), True, "idempotency_key IS NOT NULL"),
    (("conversation_id", "external_id"), True, "external_id IS NOT NULL"),
    (("tenant_id", "created_at"), False, None),
)
_TYPES = {
    "sqlite": {"uuid": "CHAR(32)", "json": "JSON", "ts": "DATETIME"},
    "postgresql": {"uuid": "UUID", "json": "JSONB", "ts": "TIMESTAMPTZ"},
}
INSERT_COLUMNS = (
    "id",
    "tenant_id",
    "conversation_id",
    "seq",
    "role",
    "direction",
    "content",
    "content_length",
    "metadata",
    "created_at",
)


def messages_ddl(dialect: str, table: str, *, search: bool = False) -> list[str]:
    """DDL for a table with the same columns, constraints and indexes as parloir's messages
    (and, with ``search``, its full-text index)."""
    types = _TYPES[dialect]
    cols = ", ".join(f"{name} {spec.format(**types)}" for name, spec in _MESSAGE_COLUMNS)
    statements = [f"CREATE TABLE {table} ({cols})"]
    for number, (columns, unique, where) in enumerate(_MESSAGE_INDEXES):
        kind = "UNIQUE INDEX" if unique else "INDEX"
        partial = f" WHERE {where}" if where else ""
        statements.append(
            f"CREATE {kind} ix_{table}_{number} ON {table} ({', '.join(columns)}){partial}"
        )
    if search:
        statements += _search_ddl(dialect, table)
    return statements


def _search_ddl(dialect: str, table: str) -> list[str]:
    from parloir.db.search_index import TOKENIZE

    if dialect == "sqlite":
        return [
            f"CREATE VIRTUAL TABLE {table}_fts USING fts5(content, content='{table}', "
            f"content_rowid='rowid', tokenize=\"{TOKENIZE}\")",
            f"CREATE TRIGGER {table}_fts_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {table}_fts(rowid, content) VALUES (new.rowid, new.content); END",
        ]
    return [
        f"ALTER TABLE {table} ADD COLUMN search_vector tsvector",
        f"CREATE FUNCTION {table}_vector() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.search_vector := to_tsvector('simple'::regconfig, NEW.content); RETURN NEW; END $$",
        f"CREATE TRIGGER {table}_vector BEFORE INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_vector()",
        f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)",
    ]


def chat_ddl(dialect: str, table: str) -> list[str]:
    """DDL for a plain chat message table with a (session_id, id) index."""
    if dialect == "sqlite":
        cols = "id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message TEXT NOT NULL, "
        cols += "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP"
    else:
        cols = "id BIGSERIAL PRIMARY KEY, session_id TEXT NOT NULL, message TEXT NOT NULL, "
        cols += "created_at TIMESTAMPTZ NOT NULL DEFAULT now()"
    return [
        f"CREATE TABLE {table} ({cols})",
        f"CREATE INDEX ix_{table}_session ON {table} (session_id, id)",
    ]


def schema_drift() -> list[str]:
    """Differences between ``raw_messages`` and parloir's Message model (empty when none)."""
    try:
        from parloir.db.models import Message
    except ImportError as exc:
        return [f"parloir.db.models not importable: {exc}"]
    table: Any = Message.__table__
    problems = []
    ours = [name for name, _ in _MESSAGE_COLUMNS]
    if list(table.columns.keys()) != ours:
        problems.append(f"columns differ: parloir has {list(table.columns.keys())}")
    theirs = {_index_spec(index) for index in table.indexes}
    theirs |= {
        (tuple(c.name for c in con.columns), True, None)
        for con in table.constraints
        if isinstance(con, UniqueConstraint)
    }
    if theirs != set(_MESSAGE_INDEXES):
        problems.append(f"indexes differ: parloir has {sorted(theirs, key=str)}")
    return problems


def _index_spec(index: Any) -> tuple[tuple[str, ...], bool, str | None]:
    where = index.dialect_options["sqlite"].get("where")
    pg_where = index.dialect_options["postgresql"].get("where")
    text = None if where is None else str(where)
    if text != (None if pg_where is None else str(pg_where)):
        text = f"sqlite: {text}; postgresql: {pg_where}"
    return tuple(c.name for c in index.columns), bool(index.unique), text


class IdMaker:
    """Time-ordered UUIDs (v7 layout) from a counter: cheap, unique, B-tree friendly."""

    def __init__(self) -> None:
        self._counter = int.from_bytes(os.urandom(6), "big")

    def next(self) -> uuid.UUID:
        self._counter += 1
        ms = time.time_ns() // 1_000_000
        return uuid.UUID(int=ms << 80 | 0x7 << 76 | 0b10 << 62 | self._counter)


class _RawWriter:
    """Common state: the current session (or conversation) and its next sequence number."""

    shape: ClassVar[str] = "chat"

    def __init__(self, label: str, note: str = "") -> None:
        self.label = label
        self.note = note
        self.ids = IdMaker()
        self.session = "s0"
        self.conversation = uuid.UUID(int=0)
        self.seq = 0

    def start_session(self, index: int) -> None:
        self.session = f"{self.label}-{index}-{os.urandom(4).hex()}"
        self.conversation = self.ids.next()
        self.seq = 0

    def _message_rows(self, texts: Sequence[str], hex_ids: bool) -> list[tuple[Any, ...]]:
        now = datetime.now(UTC)
        stamp: Any = now.replace(tzinfo=None).isoformat(sep=" ") if hex_ids else now
        conv: Any = self.conversation.hex if hex_ids else self.conversation
        tenant: Any = TENANT_ID.hex if hex_ids else TENANT_ID
        rows = []
        for text in texts:
            self.seq += 1
            new_id = self.ids.next()
            rows.append(
                (
                    new_id.hex if hex_ids else new_id,
                    tenant,
                    conv,
                    self.seq,
                    "user",
                    "in",
                    text,
                    len(text),
                    "{}",
                    stamp,
                )
            )
        return rows

    def _rows(self, texts: Sequence[str], hex_ids: bool) -> list[tuple[Any, ...]]:
        if self.shape == "messages":
            return self._message_rows(texts, hex_ids)
        return [(self.session, text) for text in texts]


def _insert_sql(table: str, shape: str, mark: str) -> str:
    cols = INSERT_COLUMNS if shape == "messages" else ("session_id", "message")
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A sqlite3 connection in WAL mode with synchronous=FULL, autocommit (explicit BEGIN)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class SqliteWriter(_RawWriter):
    """sqlite3, WAL + synchronous=FULL, explicit BEGIN IMMEDIATE ... COMMIT."""

    def __init__(
        self, path: Path, label: str, shape: str, note: str = "", *, search: bool = False
    ) -> None:
        super().__init__(label, note)
        self.shape = shape  # type: ignore[misc]
        self.table = "raw_messages" if shape == "messages" else "raw_chat"
        self.conn = sqlite_connect(path)
        ddl = (
            messages_ddl("sqlite", self.table, search=search)
            if shape == "messages"
            else chat_ddl("sqlite", self.table)
        )
        for statement in ddl:
            self.conn.execute(statement)
        self.sql = _insert_sql(self.table, shape, "?")

    def append_one(self, text: str) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(self.sql, self._rows([text], hex_ids=True)[0])
        self.conn.execute("COMMIT")

    def append_batch(self, texts: Sequence[str]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.sql, self._rows(texts, hex_ids=True))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class PgWriter(_RawWriter):
    """psycopg 3: one transaction per call; batches by executemany or by COPY."""

    def __init__(
        self, label: str, shape: str, *, copy: bool = False, note: str = "", search: bool = False
    ) -> None:
        super().__init__(label, note)
        self.shape = shape  # type: ignore[misc]
        self.copy = copy
        base = "raw_messages" if shape == "messages" else "raw_chat"
        self.table = f"{base}_{label_slug(label)}"
        self.conn = psycopg.connect(pg_url())
        ddl = (
            messages_ddl("postgresql", self.table, search=search)
            if shape == "messages"
            else chat_ddl("postgresql", self.table)
        )
        for statement in ddl:
            self.conn.execute(statement)
        self.conn.commit()
        self.sql = _insert_sql(self.table, shape, "%s")
        cols = INSERT_COLUMNS if shape == "messages" else ("session_id", "message")
        self.copy_sql = f"COPY {self.table} ({', '.join(cols)}) FROM STDIN"

    def append_one(self, text: str) -> None:
        self.conn.execute(self.sql, self._rows([text], hex_ids=False)[0])
        self.conn.commit()

    def append_batch(self, texts: Sequence[str]) -> None:
        rows = self._rows(texts, hex_ids=False)
        with self.conn.cursor() as cur:
            if self.copy:
                with cur.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cur.executemany(self.sql, rows)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def label_slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label.lower())[:40]
