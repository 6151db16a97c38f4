"""The raw read floor: the last 50 messages by the (conversation_id, seq) unique index.

The same messages as parloir's are loaded into ``raw_messages`` (same columns and indexes as
parloir's ``messages``) with raw SQL, then read back with one indexed query per conversation.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import corpus
from bench.common import CONTEXT_MAX_TOKENS, LAST_N, RunConfig, pg_url
from bench.progress import bar
from bench.raw import INSERT_COLUMNS, TENANT_ID, IdMaker, messages_ddl, sqlite_connect

TABLE = "raw_messages_read"
LAST_SQL = (
    f"SELECT id, seq, role, content, created_at FROM {TABLE} "
    "WHERE conversation_id = {mark} ORDER BY seq DESC LIMIT {limit}"
)
ROLES = ("user", "assistant")


def conversation_rows(
    conversation: int, conv_id: uuid.UUID, count: int, ids: IdMaker, *, sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    """The rows of one loaded conversation, in the column order of INSERT_COLUMNS."""
    now = datetime.now(UTC)
    stamp: Any = now.replace(tzinfo=None).isoformat(sep=" ") if sqlite else now
    conv: Any = conv_id.hex if sqlite else conv_id
    tenant: Any = TENANT_ID.hex if sqlite else TENANT_ID
    for seq in range(1, count + 1):
        text = corpus.text(conversation, seq)
        new_id = ids.next()
        yield (
            new_id.hex if sqlite else new_id,
            tenant,
            conv,
            seq,
            ROLES[(seq - 1) % 2],
            "in" if seq % 2 else "out",
            text,
            len(text),
            "{}",
            stamp,
        )


def load_sqlite(path: Path, cfg: RunConfig) -> list[uuid.UUID]:
    ids = IdMaker()
    conv_ids = [ids.next() for _ in range(cfg.conversations)]
    conn = sqlite_connect(path)
    for statement in messages_ddl("sqlite", TABLE):
        conn.execute(statement)
    sql = f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * 10)})"
    step = 200
    with bar("raw SQL -> raw_messages (SQLite)", cfg.messages) as advance:
        for start in range(0, cfg.conversations, step):
            conn.execute("BEGIN IMMEDIATE")
            for conv in range(start, min(start + step, cfg.conversations)):
                rows = conversation_rows(
                    conv, conv_ids[conv], cfg.per_conversation, ids, sqlite=True
                )
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
            advance(min(step, cfg.conversations - start) * cfg.per_conversation)
    conn.close()
    return conv_ids


def load_postgres(cfg: RunConfig) -> list[uuid.UUID]:
    ids = IdMaker()
    conv_ids = [ids.next() for _ in range(cfg.conversations)]
    copy_sql = f"COPY {TABLE} ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
    step = 500
    with psycopg.connect(pg_url()) as conn, bar("COPY -> raw_messages (PG)", cfg.messages) as adv:
        for statement in messages_ddl("postgresql", TABLE):
            conn.execute(statement)
        for start in range(0, cfg.conversations, step):
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for conv in range(start, min(start + step, cfg.conversations)):
                    for row in conversation_rows(
                        conv, conv_ids[conv], cfg.per_conversation, ids, sqlite=False
                    ):
                        copy.write_row(row)
            conn.commit()
            adv(min(step, cfg.conversations - start) * cfg.per_conversation)
    return conv_ids


def trim_to_budget(rows: Sequence[tuple[Any, ...]], max_tokens: int) -> list[tuple[Any, ...]]:
    """Keep the newest rows (given newest first) whose ~4-characters-per-token sum fits."""
    kept: list[tuple[Any, ...]] = []
    used = 0
    for row in rows:
        used += len(row[3]) // 4 + 4
        if used > max_tokens:
            break
        kept.append(row)
    kept.reverse()
    return kept


class RawReader:
    """Last-50 (or context) reads with the bare driver; results come back oldest first."""

    def __init__(
        self,
        backend: str,
        conv_ids: list[uuid.UUID],
        keys: Sequence[int],
        expected: int,
        *,
        path: Path | None = None,
        context: bool = False,
    ) -> None:
        self.label = "raw SQL floor" + (" + Python token trim" if context else "")
        self.note = "indexed ORDER BY seq DESC LIMIT 50 on a table with parloir's indexes"
        self.keys = keys
        self.expected = expected
        self.context = context
        self.conn: Any
        if backend == "sqlite":
            assert path is not None
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.params: list[Any] = [c.hex for c in conv_ids]
            self.sql = LAST_SQL.format(mark="?", limit=LAST_N)
        else:
            self.conn = psycopg.connect(pg_url(), autocommit=True)
            self.params = list(conv_ids)
            self.sql = LAST_SQL.format(mark="%s", limit=LAST_N)

    def read(self, key: int) -> int:
        rows = self.conn.execute(self.sql, (self.params[key],)).fetchall()
        if self.context:
            return len(trim_to_budget(rows, CONTEXT_MAX_TOKENS))
        rows.reverse()
        return len(rows)

    def close(self) -> None:
        self.conn.close()
