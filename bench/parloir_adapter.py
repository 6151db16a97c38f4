"""parloir through its public API only: ``Store`` and its documented methods."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import corpus
from bench.common import CONTEXT_MAX_MESSAGES, CONTEXT_MAX_TOKENS, LAST_N, RunConfig
from bench.progress import bar

ROLES = ("user", "assistant")


def available() -> str | None:
    """None when ``from parloir import Store`` works, else why it does not."""
    try:
        from parloir import Store  # noqa: F401
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def open_store(url: str) -> Any:
    """Open (and on PostgreSQL migrate) a store; SQLite migrates itself on open."""
    from parloir import Store

    if url.startswith("sqlite"):
        return Store.open(url)
    return Store.open(url, migrate=True)


def sqlite_durability(path: Path) -> str:
    """parloir's SQLite settings as found: the file's journal mode, the default synchronous."""
    from parloir import Settings

    with closing(sqlite3.connect(path)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return f"checked: journal_mode={mode}, synchronous={Settings().sqlite_synchronous} (default)"


class ParloirWriter:
    """``append_message`` per message, ``append_messages`` per batch, into one conversation."""

    def __init__(self, label: str, url: str, note: str = "") -> None:
        self.label = label
        self.note = note
        self.store = open_store(url)
        self.agent = self.store.create_agent(name=f"bench-{label}")
        self.conversation: Any = None

    def start_session(self, index: int) -> None:
        self.conversation = self.store.get_or_create_conversation(
            agent_id=self.agent.id,
            channel="api",
            external_id=f"{self.label}-{index}-{uuid.uuid4().hex[:8]}",
        )

    def append_one(self, text: str) -> None:
        self.store.append_message(self.conversation.id, role="user", content=text)

    def append_batch(self, texts: Sequence[str]) -> None:
        self.store.append_messages(
            self.conversation.id, [{"role": "user", "content": t} for t in texts]
        )

    def close(self) -> None:
        self.store.close()


class ParloirLoad:
    """The read database, filled through parloir's API: one ``append_messages`` per conversation."""

    def __init__(self, url: str, cfg: RunConfig, title: str) -> None:
        self.store = open_store(url)
        self.conversation_ids: list[uuid.UUID] = []
        self.seconds = 0.0
        self._fill(cfg, title)

    def _fill(self, cfg: RunConfig, title: str) -> None:
        agent = self.store.create_agent(name="bench-read")
        started = perf_counter()
        with bar(title, cfg.messages) as advance:
            for key in range(cfg.conversations):
                conv = self.store.get_or_create_conversation(
                    agent_id=agent.id, channel="api", external_id=f"c{key}"
                )
                self.store.append_messages(
                    conv.id,
                    [
                        {"role": ROLES[(seq - 1) % 2], "content": corpus.text(key, seq)}
                        for seq in range(1, cfg.per_conversation + 1)
                    ],
                )
                self.conversation_ids.append(conv.id)
                advance(cfg.per_conversation)
        self.seconds = perf_counter() - started

    def close(self) -> None:
        self.store.close()


class ParloirReader:
    """``last_messages(limit=50)``, or ``context(max_messages=50, max_tokens=4000)``."""

    def __init__(
        self, load: ParloirLoad, keys: Sequence[int], expected: int, *, context: bool = False
    ) -> None:
        self.store = load.store
        self.ids = load.conversation_ids
        self.keys = keys
        self.expected = expected
        self.context = context
        if context:
            self.label = "parloir context()"
            self.note = f"max_messages={CONTEXT_MAX_MESSAGES}, max_tokens={CONTEXT_MAX_TOKENS}"
        else:
            self.label = "parloir last_messages()"
            self.note = f"limit={LAST_N}"

    def read(self, key: int) -> int:
        if self.context:
            return len(
                self.store.context(
                    self.ids[key], max_messages=CONTEXT_MAX_MESSAGES, max_tokens=CONTEXT_MAX_TOKENS
                )
            )
        return len(self.store.last_messages(self.ids[key], limit=LAST_N))
