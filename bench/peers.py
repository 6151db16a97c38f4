"""LangChain peers, used as shipped: SQLChatMessageHistory and PostgresChatMessageHistory."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from langchain_core.messages import BaseMessage, HumanMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from sqlalchemy import Engine, create_engine, event

from bench.common import CONTEXT_MAX_MESSAGES, CONTEXT_MAX_TOKENS, pg_url

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"langchain.*")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain_community.chat_message_histories import SQLChatMessageHistory
    from langchain_postgres import PostgresChatMessageHistory

LC_SQL = "SQLChatMessageHistory"
LC_PG = "PostgresChatMessageHistory"


def session_name(key: int) -> str:
    """The LangChain session id of loaded conversation ``key``."""
    return f"s{key}"


def session_uuid(key: int) -> str:
    """langchain-postgres wants UUID session ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, session_name(key)))


def sqlite_wal_full_engine(path: Path) -> Engine:
    """A default SQLAlchemy engine on ``path`` whose connections use WAL + synchronous=FULL."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=FULL")

    return engine


def sql_history(session_id: str, connection: str | Engine, table: str) -> SQLChatMessageHistory:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SQLChatMessageHistory(session_id=session_id, connection=connection, table_name=table)


class LangChainSQLWriter:
    """``SQLChatMessageHistory``: one history per session, ``add_message`` per message.

    Given a URL string (as in LangChain's docs) every history makes its own engine, as an
    application creating one history per chat would; that happens outside the timed loop.
    """

    def __init__(self, label: str, connection: str | Engine, table: str, note: str = "") -> None:
        self.label = label
        self.note = note
        self.connection = connection
        self.table = table
        self.history = sql_history("warmup", connection, table)

    def start_session(self, index: int) -> None:
        if isinstance(self.connection, str):
            self.history.engine.dispose()
        self.history = sql_history(
            f"{self.label}-{index}-{uuid.uuid4().hex[:8]}", self.connection, self.table
        )

    def append_one(self, text: str) -> None:
        self.history.add_message(HumanMessage(content=text))

    def append_batch(self, texts: Sequence[str]) -> None:
        self.history.add_messages([HumanMessage(content=t) for t in texts])

    def close(self) -> None:
        self.history.engine.dispose()
        if isinstance(self.connection, Engine):
            self.connection.dispose()


class LangChainPostgresWriter:
    """``PostgresChatMessageHistory`` on one psycopg connection; it commits every call."""

    def __init__(self, label: str, table: str, note: str = "") -> None:
        self.label = label
        self.note = note
        self.table = table
        self.conn = psycopg.connect(pg_url())
        PostgresChatMessageHistory.create_tables(self.conn, table)
        self.history = PostgresChatMessageHistory(
            table, str(uuid.uuid4()), sync_connection=self.conn
        )

    def start_session(self, index: int) -> None:
        self.history = PostgresChatMessageHistory(
            self.table, str(uuid.uuid4()), sync_connection=self.conn
        )

    def append_one(self, text: str) -> None:
        self.history.add_messages([HumanMessage(content=text)])

    def append_batch(self, texts: Sequence[str]) -> None:
        self.history.add_messages([HumanMessage(content=t) for t in texts])

    def close(self) -> None:
        self.conn.close()


def lc_trim(messages: list[BaseMessage]) -> list[BaseMessage]:
    """What a LangChain app does to build a prompt: last 50, then trim to 4,000 tokens."""
    return trim_messages(
        messages[-CONTEXT_MAX_MESSAGES:],
        max_tokens=CONTEXT_MAX_TOKENS,
        token_counter=count_tokens_approximately,
        strategy="last",
    )


class LangChainSQLReader:
    """``SQLChatMessageHistory.messages``: every message of the session (no LIMIT, no index)."""

    def __init__(
        self,
        label: str,
        connection: str | Engine,
        table: str,
        keys: Sequence[int],
        expected: int,
        *,
        context: bool = False,
        note: str = "",
    ) -> None:
        self.label = label
        self.note = note
        self.keys = keys
        self.expected = expected
        self.context = context
        self.history = sql_history(session_name(keys[0]), connection, table)

    def read(self, key: int) -> int:
        self.history.session_id = session_name(key)
        messages = self.history.messages
        return len(lc_trim(messages)) if self.context else len(messages)

    def close(self) -> None:
        self.history.engine.dispose()


class LangChainPostgresReader:
    """``PostgresChatMessageHistory.get_messages()``: every message of the session, by index."""

    def __init__(
        self,
        label: str,
        keys: Sequence[int],
        expected: int,
        table: str,
        *,
        context: bool = False,
        note: str = "",
    ) -> None:
        self.label = label
        self.note = note
        self.keys = keys
        self.expected = expected
        self.context = context
        self.table = table
        self.conn = psycopg.connect(pg_url(), autocommit=True)  # reads need no transaction
        self.uuids = {key: session_uuid(key) for key in keys}

    def read(self, key: int) -> int:
        history = PostgresChatMessageHistory(self.table, self.uuids[key], sync_connection=self.conn)
        messages = history.get_messages()
        return len(lc_trim(messages)) if self.context else len(messages)

    def close(self) -> None:
        self.conn.close()
