"""Layout 000: the Telegram bot (``telegram_conversations``, ``telegram_messages``,
``telegram_sessions``, ``audit_logs``).

Chats become conversations (channel ``telegram``, ``external_id`` = chat id) with a contact
for the Telegram user. Messages keep their update id as ``idempotency_key`` and their
Telegram message id as ``external_id``; ``direction`` ``in`` is a ``user`` message, ``out`` an
``assistant`` one. A message with ``openai_used`` gets an ``llm_calls`` row linked to it.
The source conversation ids are mapped to parloir's in memory (one entry per chat).
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir.db.tables import AUDIT_EVENTS, CONTACTS, CONVERSATIONS, SESSIONS
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import Row, Source
from parloir.importers.values import Invalid, as_bool, as_int, as_json, as_object, as_text

ROLES = {"in": "user", "out": "assistant"}
TABLES = ("telegram_conversations", "telegram_messages", "telegram_sessions", "audit_logs")


@register
class Telegram(Layout):
    name = "telegram"
    description = "Telegram bot tables (seed 000)"

    def detect(self, tables: set[str], source: Source) -> bool:
        return "telegram_messages" in tables and "telegram_conversations" in tables

    def total(self, source: Source) -> int:
        tables = source.tables()
        return sum(source.count(t) for t in TABLES if t in tables)

    def run(self, ctx: Context) -> None:
        agent_id = ctx.agent("bot", "Telegram bot", provider="openai")
        chats: dict[Any, tuple[uuid.UUID, str]] = {}  # source id -> (conversation, chat id)
        for rows in ctx.read("SELECT * FROM telegram_conversations ORDER BY id"):
            with ctx.chunk() as sink:
                _conversations(ctx, sink, agent_id, rows, chats)
        sql = "SELECT * FROM telegram_messages ORDER BY conversation_id, created_at, id"
        for rows in ctx.read(sql):
            with ctx.chunk() as sink:
                _messages(ctx, sink, agent_id, rows, chats)
        tables = ctx.source.tables()
        if "telegram_sessions" in tables:
            for rows in ctx.read("SELECT * FROM telegram_sessions ORDER BY id"):
                with ctx.chunk() as sink:
                    writer.write_sessions(sink, _rows(ctx, rows, _session, chats, "sessions"))
        if "audit_logs" in tables:
            by_chat = {chat: cid for cid, chat in chats.values()}
            for rows in ctx.read("SELECT * FROM audit_logs ORDER BY id"):
                with ctx.chunk() as sink:
                    events = _rows(ctx, rows, _event, by_chat, "audit_events")
                    writer.write_audit_events(sink, events)


def _rows(ctx: Context, rows: list[Row], convert: Any, lookup: Any, entity: str) -> list[Row]:
    out = []
    for row in rows:
        try:
            made = convert(ctx, row, lookup)
        except Invalid as error:
            ctx.report.skip(entity, error.reason)
            continue
        if made is not None:
            out.append(made)
    return out


def _conversations(
    ctx: Context,
    sink: writer.Sink,
    agent_id: uuid.UUID,
    rows: list[Row],
    chats: dict[Any, tuple[uuid.UUID, str]],
) -> None:
    contacts: dict[uuid.UUID, Row] = {}
    conversations: list[Row] = []
    seen: dict[Any, tuple[uuid.UUID, str]] = {}
    for row in rows:
        try:
            chat = ctx.key(row.get("telegram_chat_id"))
            if chat is None or row.get("id") is None:
                raise Invalid("missing_chat_id")
            created = ctx.time(row.get("created_at"))
            user = ctx.key(row.get("telegram_user_id"))
            contact_id = ctx.id(None, "contact", user) if user else None
            if user and contact_id:
                contacts.setdefault(
                    contact_id,
                    ctx.row(
                        CONTACTS,
                        id=contact_id,
                        channel="telegram",
                        external_id=user,
                        created_at=created,
                    ),
                )
            conversations.append(
                ctx.row(
                    CONVERSATIONS,
                    id=ctx.id(created, "conversation", chat),
                    agent_id=agent_id,
                    contact_id=contact_id,
                    channel="telegram",
                    external_id=chat,
                    status="active" if as_bool(row.get("is_active"), True) else "archived",
                    metadata={"legacy_id": as_text(row["id"])},
                    message_count=0,
                    last_seq=0,
                    created_at=created,
                    updated_at=ctx.time(row.get("updated_at"), created),
                )
            )
        except Invalid as error:
            ctx.report.skip("conversations", error.reason)
            continue
        seen[row["id"]] = (conversations[-1]["id"], chat)
    contact_ids, _ = writer.write_contacts(sink, list(contacts.values()), quiet=True)
    for conversation in conversations:
        if conversation["contact_id"] is not None:
            conversation["contact_id"] = contact_ids[conversation["contact_id"]]
    ids, _ = writer.write_conversations(sink, conversations)
    for key, (cid, chat) in seen.items():
        chats[key] = (ids.get(cid, cid), chat)


def _messages(
    ctx: Context,
    sink: writer.Sink,
    agent_id: uuid.UUID,
    rows: list[Row],
    chats: dict[Any, tuple[uuid.UUID, str]],
) -> None:
    messages: list[Row] = []
    calls: list[Row] = []
    for row in rows:
        try:
            message, call = _message(ctx, agent_id, row, chats)
        except Invalid as error:
            ctx.report.skip("messages", error.reason)
            continue
        messages.append(message)
        if call is not None:
            calls.append(call)
    stored = writer.write_messages(sink, messages)
    for call in calls:
        if call["message_id"] not in stored:
            call["message_id"] = None  # its message was a duplicate delivery: keep the cost
    writer.write_llm_calls(sink, calls)


def _message(
    ctx: Context, agent_id: uuid.UUID, row: Row, chats: dict[Any, tuple[uuid.UUID, str]]
) -> tuple[Row, Row | None]:
    chat = chats.get(row.get("conversation_id"))
    if chat is None:
        raise Invalid("orphan")
    role = ROLES.get(str(row.get("direction") or "").strip().lower())
    if role is None:
        raise Invalid("bad_role")
    created = ctx.time(row.get("created_at"))
    source_id = as_text(row.get("id"))
    tokens = as_int(row.get("openai_tokens_used"))
    message = ctx.message(
        row_id=ctx.id(created, "message", source_id),
        conversation_id=chat[0],
        role=role,
        content=row.get("text"),
        created_at=created,
        idempotency_key=ctx.key(row.get("telegram_update_id")),
        external_id=ctx.key(row.get("telegram_message_id")),
        error_type=(as_text(row.get("error_type")) or "")[:100] or None,
        error_message=as_text(row.get("error_message")),
        token_count=tokens,
        metadata={"legacy_id": source_id},
    )
    if not as_bool(row.get("openai_used")):
        return message, None
    call = ctx.llm_call(
        id=ctx.id(created, "llm_call", source_id),
        agent_id=agent_id,
        conversation_id=chat[0],
        message_id=message["id"],
        provider="openai",
        model=as_text(row.get("openai_model")),
        total_tokens=tokens or 0,
        latency_ms=as_int(row.get("openai_latency_ms")),
        is_success=row.get("error_type") is None,
        error_type=message["error_type"],
        error_message=message["error_message"],
        metadata={"legacy_message_id": source_id},
        created_at=created,
    )
    return message, call


def _session(ctx: Context, row: Row, chats: dict[Any, tuple[uuid.UUID, str]]) -> Row | None:
    key = ctx.key(row.get("session_key"))
    if key is None:
        raise Invalid("missing_key")
    expires = ctx.time(row.get("expires_at")) if row.get("expires_at") is not None else None
    if expires is not None and expires <= ctx.sink.now:
        raise Invalid("expired")
    chat = chats.get(row.get("conversation_id"))
    created = ctx.time(row.get("created_at"))
    context = as_json(row.get("context"))
    meta = as_object(row.get("metadata"))
    meta["legacy_id"] = as_text(row.get("id"))
    return ctx.row(
        SESSIONS,
        id=ctx.id(created, "session", key),
        key=key,
        conversation_id=chat[0] if chat else None,
        context={} if context is None else context,
        metadata=meta,
        expires_at=expires,
        created_at=created,
        updated_at=ctx.time(row.get("updated_at"), created),
    )


def _event(ctx: Context, row: Row, by_chat: dict[str, uuid.UUID]) -> Row:
    event_type = as_text(row.get("event_type"))
    if not event_type:
        raise Invalid("missing_event_type")
    created = ctx.time(row.get("created_at"))
    meta = as_object(row.get("metadata"))
    meta["legacy_id"] = as_text(row.get("id"))
    chat = as_text(row.get("chat_id"))
    if row.get("update_id") is not None:
        meta["telegram_update_id"] = row["update_id"]
    if chat is not None:
        meta["telegram_chat_id"] = row["chat_id"]
    subject = by_chat.get(chat) if chat is not None else None
    return ctx.row(
        AUDIT_EVENTS,
        id=ctx.id(created, "audit", meta["legacy_id"]),
        event_type=event_type[:100],
        correlation_id=(as_text(row.get("correlation_id")) or "")[:255] or None,
        subject_type="conversation" if subject else None,
        subject_id=str(subject) if subject else None,
        metadata=meta,
        created_at=created,
    )
