"""Fast loads of the peers' tables with raw SQL, in each peer's own table shape.

Every peer table gets the same messages as parloir: ``conversations`` sessions of
``per_conversation`` messages (alternating human / AI), then ``long_sessions`` extra sessions of
100 messages each, so that 100-message sessions can be read too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import psycopg
from langchain_core.messages import AIMessage, HumanMessage, message_to_dict
from langchain_postgres import PostgresChatMessageHistory

from bench import corpus
from bench.common import RunConfig, pg_url
from bench.peers import session_name, session_uuid, sql_history
from bench.progress import bar

LONG_SESSION = 100
_TEMPLATES = {
    "human": message_to_dict(HumanMessage(content="")),
    "ai": message_to_dict(AIMessage(content="")),
}


@lru_cache(maxsize=32_768)
def message_json(text: str, kind: str) -> str:
    """What LangChain stores for a message: ``json.dumps(message_to_dict(message))``."""
    template = _TEMPLATES[kind]
    return json.dumps({**template, "data": {**template["data"], "content": text}})


def sessions(cfg: RunConfig) -> Iterator[tuple[int, int]]:
    """(key, message count) of every loaded session."""
    for key in range(cfg.conversations):
        yield key, cfg.per_conversation
    for key in range(cfg.conversations, cfg.conversations + cfg.long_sessions):
        yield key, LONG_SESSION


def total_rows(cfg: RunConfig) -> int:
    return cfg.messages + cfg.long_sessions * LONG_SESSION


def session_rows(key: int, count: int, ident: Callable[[int], str]) -> list[tuple[str, str]]:
    sid = ident(key)
    return [
        (sid, message_json(corpus.text(key, seq), "human" if seq % 2 else "ai"))
        for seq in range(1, count + 1)
    ]


def load_sql_sqlite(path: Path, table: str, cfg: RunConfig) -> None:
    """SQLChatMessageHistory's table on SQLite, created by LangChain, filled by sqlite3."""
    sql_history("create", f"sqlite:///{path}", table).engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    sql = f"INSERT INTO {table} (session_id, message) VALUES (?, ?)"
    with bar(f"raw SQL -> {table} (SQLite, LangChain shape)", total_rows(cfg)) as advance:
        conn.execute("BEGIN")
        for key, count in sessions(cfg):
            conn.executemany(sql, session_rows(key, count, session_name))
            advance(count)
        conn.execute("COMMIT")
    conn.close()


def _copy_postgres(table: str, ident: Callable[[int], str], cfg: RunConfig, title: str) -> None:
    copy_sql = f"COPY {table} (session_id, message) FROM STDIN"
    with psycopg.connect(pg_url()) as conn, bar(title, total_rows(cfg)) as advance:
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for key, count in sessions(cfg):
                for row in session_rows(key, count, ident):
                    copy.write_row(row)
                advance(count)
        conn.commit()


def load_sql_postgres(table: str, cfg: RunConfig) -> None:
    """SQLChatMessageHistory's table on PostgreSQL, created by LangChain, filled by COPY."""
    sql_history("create", pg_url(driver="psycopg"), table).engine.dispose()
    _copy_postgres(table, session_name, cfg, f"COPY -> {table} (PG, LangChain shape)")


def load_langchain_postgres(table: str, cfg: RunConfig) -> None:
    """PostgresChatMessageHistory's table (with its session_id index), filled by COPY."""
    with psycopg.connect(pg_url()) as conn:
        PostgresChatMessageHistory.create_tables(conn, table)
    _copy_postgres(table, session_uuid, cfg, f"COPY -> {table} (PG, langchain-postgres)")
