"""LangChain's ``message_store`` table (``SQLChatMessageHistory``, ``PostgresChatMessageHistory``).

One conversation per ``session_id`` (channel ``api``, ``external_id`` = the session id). Each
row's ``message`` JSON (``{"type": "human", "data": {"content": ...}}``) becomes a message:
``human`` → ``user``, ``ai`` → ``assistant``, ``system``, ``tool``/``function`` → ``tool``.
The table has no times: messages are stamped with the import's time, in ``id`` order.
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir.db.tables import CONVERSATIONS
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import Row, Source
from parloir.importers.values import Invalid, as_json, as_text

ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "AIMessageChunk": "assistant",
    "chat": "user",
}


@register
class LangChain(Layout):
    name = "langchain"
    description = "LangChain message_store (session_id, message JSON)"

    def detect(self, tables: set[str], source: Source) -> bool:
        return "message_store" in tables

    def total(self, source: Source) -> int:
        return source.count("message_store")

    def run(self, ctx: Context) -> None:
        agent_id = ctx.agent("bot", "LangChain chat")
        for rows in ctx.read("SELECT * FROM message_store ORDER BY session_id, id"):
            with ctx.chunk() as sink:
                _chunk(ctx, sink, agent_id, rows)


def _chunk(ctx: Context, sink: writer.Sink, agent_id: uuid.UUID, rows: list[Row]) -> None:
    conversations: dict[str, Row] = {}
    messages: list[Row] = []
    for row in rows:
        try:
            session = ctx.key(row.get("session_id"))
            if session is None:
                raise Invalid("missing_session_id")
            if session not in conversations:
                conversations[session] = ctx.row(
                    CONVERSATIONS,
                    id=ctx.id(None, "conversation", session),
                    agent_id=agent_id,
                    channel="api",
                    external_id=session,
                    status="active",
                    message_count=0,
                    last_seq=0,
                )
            messages.append(_message(ctx, row, conversations[session]["id"]))
        except Invalid as error:
            ctx.report.skip("messages", error.reason)
    ids, fresh = writer.resolve_conversations(sink, list(conversations.values()), quiet=True)
    for message in messages:
        message["conversation_id"] = ids[message["conversation_id"]]
    writer.write_messages(sink, messages, fresh)


def _message(ctx: Context, row: Row, conversation_id: uuid.UUID) -> Row:
    data = as_json(row.get("message"))
    if not isinstance(data, dict):
        raise Invalid("invalid_json")
    body: Any = data.get("data") if isinstance(data.get("data"), dict) else data
    role = ROLES.get(str(data.get("type") or body.get("type") or ""))
    if role is None:
        raise Invalid("bad_role")
    content = body.get("content")
    meta = {
        k: v for k, v in body.items() if k not in ("content", "type") and v not in (None, {}, [])
    }
    if not isinstance(content, str):
        meta["content_parts"] = content
        content = "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    meta["legacy_id"] = as_text(row.get("id"))
    return ctx.message(
        row_id=ctx.id(None, "message", meta["legacy_id"]),
        conversation_id=conversation_id,
        role=role,
        content=content,
        created_at=ctx.time(None),
        metadata=meta,
    )
