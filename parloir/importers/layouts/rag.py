"""Layout 001: the RAG assistant on SQLite: two systems side by side.

The SQLModel system (``user``, ``conversation``, ``message``) and the RAG system
(``rag_conversations``, ``token_operations``, ``context_documents``, ``global_statistics``).
Both land in the same conversations, found by ``session_id`` (channel ``web``). A RAG turn
whose question and answer are already stored in that conversation (imported from
``message``) is stored once: the RAG figures are merged into the stored answer's metadata.
Each session's answer id is kept in memory (one entry per RAG session) to link its
``token_operations`` (llm calls) and ``context_documents`` (retrievals).
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir.db.tables import AUDIT_EVENTS, CONVERSATIONS, RETRIEVALS, USERS
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import Row, Source
from parloir.importers.values import Invalid, as_bool, as_int, as_json, as_object, as_text

Sessions = dict[str, tuple[uuid.UUID, uuid.UUID | None]]  # session -> (conversation, answer)
BREAKDOWN = (
    "user_input_tokens",
    "final_output_tokens",
    "intermediate_input_tokens",
    "intermediate_output_tokens",
    "total_input_tokens",
    "total_output_tokens",
    "grand_total_tokens",
    "total_cost_usd",
)
RAG_META = (
    "chat_history",
    "intent_analysis",
    "processing_steps",
    "context_docs_count",
    "sources_count",
)


@register
class Rag(Layout):
    name = "rag-assistant"
    description = "RAG assistant: SQLModel chat tables and RAG tables (seed 001)"

    def detect(self, tables: set[str], source: Source) -> bool:
        return "rag_conversations" in tables or {"conversation", "message"} <= tables

    def total(self, source: Source) -> int:
        tables = source.tables()
        names = (
            "user",
            "conversation",
            "message",
            "rag_conversations",
            "token_operations",
            "context_documents",
            "global_statistics",
        )
        return sum(source.count(t) for t in names if t in tables)

    def run(self, ctx: Context) -> None:
        tables = ctx.source.tables()
        agent_id = ctx.agent("bot", "RAG assistant")
        if "user" in tables:
            for rows in ctx.read('SELECT * FROM "user" ORDER BY id'):
                with ctx.chunk() as sink:
                    writer.write_users(sink, _each(ctx, rows, "users", _user))
        chats: dict[str, uuid.UUID] = {}
        if {"conversation", "message"} <= tables:
            self._chat(ctx, agent_id, chats)
        sessions: Sessions = {}
        if "rag_conversations" in tables:
            has_ops = "token_operations" in tables
            count = (
                "(SELECT COUNT(*) FROM token_operations t WHERE t.session_id = r.session_id)"
                if has_ops
                else "0"
            )
            sql = f"SELECT r.*, {count} AS n_operations FROM rag_conversations r ORDER BY r.id"
            for rows in ctx.read(sql):
                with ctx.chunk() as sink:
                    _rag(ctx, sink, agent_id, rows, sessions)
        if "token_operations" in tables:
            for rows in ctx.read("SELECT * FROM token_operations ORDER BY session_id, id"):
                with ctx.chunk() as sink:
                    calls = _each(
                        ctx, rows, "llm_calls", lambda c, r: _operation(c, r, agent_id, sessions)
                    )
                    writer.write_llm_calls(sink, calls)
        if "context_documents" in tables:
            ranks: dict[str, int] = {}
            for rows in ctx.read("SELECT * FROM context_documents ORDER BY session_id, id"):
                with ctx.chunk() as sink:
                    docs = _each(
                        ctx, rows, "retrievals", lambda c, r: _document(c, r, sessions, ranks)
                    )
                    writer.write_retrievals(sink, docs)
        if "global_statistics" in tables:
            for rows in ctx.read("SELECT * FROM global_statistics ORDER BY id"):
                with ctx.chunk() as sink:
                    writer.write_audit_events(sink, _each(ctx, rows, "audit_events", _statistic))

    def _chat(self, ctx: Context, agent_id: uuid.UUID, chats: dict[str, uuid.UUID]) -> None:
        for rows in ctx.read("SELECT * FROM conversation ORDER BY id"):
            with ctx.chunk() as sink:
                made = _each(
                    ctx,
                    rows,
                    "conversations",
                    lambda c, r: _conversation(
                        c,
                        agent_id,
                        as_text(r.get("session_id")),
                        r.get("created_at"),
                        ("conversation", as_text(r.get("id"))),
                    ),
                )
                ids, _ = writer.write_conversations(sink, made)
                chats.update({r["metadata"]["legacy_id"]: ids[r["id"]] for r in made})
        sql = "SELECT * FROM message ORDER BY conversation_id, timestamp, id"
        for rows in ctx.read(sql):
            with ctx.chunk() as sink:
                writer.write_messages(
                    sink, _each(ctx, rows, "messages", lambda c, r: _message(c, r, chats))
                )


def _each(ctx: Context, rows: list[Row], entity: str, convert: Any) -> list[Row]:
    out = []
    for row in rows:
        try:
            out.append(convert(ctx, row))
        except Invalid as error:
            ctx.report.skip(entity, error.reason)
    return out


def _user(ctx: Context, row: Row) -> Row:
    username = as_text(row.get("username"))
    if not username:
        raise Invalid("missing_username")
    role = as_text(row.get("role")) or ""
    return ctx.row(
        USERS,
        id=ctx.id(None, "user", username),
        username=username[:150],
        password_hash=(as_text(row.get("hashed_password")) or "")[:255] or None,
        role="admin" if role.lower() == "admin" else "member",
        is_active=True,
        metadata={"legacy_id": as_text(row.get("id")), "legacy_role": role},
    )


def _conversation(
    ctx: Context,
    agent_id: uuid.UUID,
    session: str | None,
    created: Any,
    legacy: tuple[str, str | None],
) -> Row:
    when = ctx.time(created)
    key = ctx.key(session)
    identity = ("session", key) if key is not None else legacy
    return ctx.row(
        CONVERSATIONS,
        id=ctx.id(None, "conversation", *identity),
        agent_id=agent_id,
        channel="web",
        external_id=key,
        status="active",
        metadata={"legacy_id": legacy[1]} if legacy[0] == "conversation" else {},
        message_count=0,
        last_seq=0,
        created_at=when,
    )


def _message(ctx: Context, row: Row, chats: dict[str, uuid.UUID]) -> Row:
    conversation_id = chats.get(as_text(row.get("conversation_id")) or "")
    if conversation_id is None:
        raise Invalid("orphan")
    created = ctx.time(row.get("timestamp"))
    source_id = as_text(row.get("id"))
    sources = as_json(row.get("sources"))
    return ctx.message(
        row_id=ctx.id(created, "message", source_id),
        conversation_id=conversation_id,
        role=row.get("role"),
        content=row.get("content"),
        created_at=created,
        sources=None if sources is None else sources if isinstance(sources, list) else [sources],
        metadata={"legacy_id": source_id},
    )


def _rag(
    ctx: Context, sink: writer.Sink, agent_id: uuid.UUID, rows: list[Row], sessions: Sessions
) -> None:
    turns: list[tuple[Row, Row, Row, Row | None]] = []
    for row in rows:
        try:
            turns.append(_turn(ctx, agent_id, row))
        except Invalid as error:
            ctx.report.skip("rag_conversations", error.reason)
    ids, fresh = writer.write_conversations(sink, [t[0] for t in turns], quiet=True)
    stored = writer.find_messages(
        sink, [ids[t[0]["id"]] for t in turns if ids[t[0]["id"]] not in fresh]
    )
    messages: list[Row] = []
    calls: list[Row] = []
    for conv, question, answer, call in turns:
        cid = ids[conv["id"]]
        same_q = stored.get((cid, "user", question["content"]))
        same_a = stored.get((cid, "assistant", answer["content"]))
        if same_a == answer["id"]:  # imported by an earlier run
            ctx.report.skip("messages", "already_imported", 2)
            answer_id = same_a
        elif same_q is not None and same_a is not None:  # the turn is already in `message`
            writer.merge_message_metadata(sink, same_a, answer["metadata"])
            ctx.report.skip("messages", "same_turn_in_message_table", 2)
            answer_id = same_a
        else:
            question["conversation_id"] = answer["conversation_id"] = cid
            messages += [question, answer]
            answer_id = answer["id"]
        sessions[conv["external_id"]] = (cid, answer_id)
        if call is not None:
            call.update(conversation_id=cid, message_id=answer_id)
            calls.append(call)
    stored_ids = writer.write_messages(sink, messages, fresh)
    for call in calls:
        if call["message_id"] not in stored_ids and call["message_id"] not in stored.values():
            call["message_id"] = None
    writer.write_llm_calls(sink, calls)


def _turn(ctx: Context, agent_id: uuid.UUID, row: Row) -> tuple[Row, Row, Row, Row | None]:
    session = ctx.key(row.get("session_id"))
    if session is None:
        raise Invalid("missing_session_id")
    asked = ctx.time(row.get("timestamp"))
    answered = ctx.time(row.get("created_at"), asked)
    conv = _conversation(ctx, agent_id, session, row.get("timestamp"), ("session", session))
    source_id = as_text(row.get("id"))
    question = ctx.message(
        row_id=ctx.id(asked, "rag-question", source_id),
        conversation_id=conv["id"],
        role="user",
        content=row.get("question"),
        created_at=asked,
    )
    meta: dict[str, Any] = {k: as_json(row[k]) for k in RAG_META if row.get(k) is not None}
    meta["token_breakdown"] = {k: row[k] for k in BREAKDOWN if row.get(k) is not None}
    meta["legacy_id"] = source_id
    success = as_bool(row.get("success"), True)
    seconds = row.get("response_time")
    answer = ctx.message(
        row_id=ctx.id(answered, "rag-answer", source_id),
        conversation_id=conv["id"],
        role="assistant",
        content=row.get("answer"),
        created_at=answered,
        metadata=meta,
        error_type=None if success else "rag_failure",
        error_message=None if success else as_text(row.get("error")),
        response_time_ms=as_int(float(str(seconds)) * 1000) if _number(seconds) else None,
    )
    call = None
    if not as_int(row.get("n_operations")):
        call = ctx.llm_call(
            id=ctx.id(answered, "rag-call", source_id),
            agent_id=agent_id,
            operation="rag",
            input_tokens=max(0, as_int(row.get("total_input_tokens")) or 0),
            output_tokens=max(0, as_int(row.get("total_output_tokens")) or 0),
            total_tokens=max(0, as_int(row.get("grand_total_tokens")) or 0),
            is_success=success,
            created_at=answered,
            **_usd(row.get("total_cost_usd")),
        )
    return conv, question, answer, call


def _number(value: Any) -> bool:
    try:
        return value is not None and float(value) == float(value)
    except (TypeError, ValueError):
        return False


def _usd(value: Any) -> dict[str, Any]:
    if not _number(value):
        return {"cost_nanos": None, "cost_source": None}
    return {"cost_nanos": round(float(value) * 1e9), "cost_source": "provided"}


def _operation(ctx: Context, row: Row, agent_id: uuid.UUID, sessions: Sessions) -> Row:
    linked = sessions.get(as_text(row.get("session_id")) or "")
    if linked is None:
        raise Invalid("orphan")
    created = ctx.time(row.get("timestamp"))
    return ctx.llm_call(
        id=ctx.id(created, "token-operation", as_text(row.get("id"))),
        agent_id=agent_id,
        conversation_id=linked[0],
        message_id=linked[1],
        operation=(as_text(row.get("operation")) or "chat")[:32],
        model=as_text(row.get("model")),
        input_tokens=max(0, as_int(row.get("input_tokens")) or 0),
        output_tokens=max(0, as_int(row.get("output_tokens")) or 0),
        total_tokens=max(0, as_int(row.get("total_tokens")) or 0),
        metadata={"legacy_id": as_text(row.get("id"))},
        created_at=created,
        **_usd(row.get("cost_usd")),
    )


def _document(ctx: Context, row: Row, sessions: Sessions, ranks: dict[str, int]) -> Row:
    session = as_text(row.get("session_id")) or ""
    linked = sessions.get(session)
    if linked is None or linked[1] is None:
        raise Invalid("orphan")
    ranks[session] = ranks.get(session, 0) + 1
    created = ctx.time(row.get("created_at"))
    meta = as_object(row.get("metadata"))
    meta["legacy_id"] = as_text(row.get("id"))
    score = meta.get("score")
    return ctx.row(
        RETRIEVALS,
        id=ctx.id(created, "context-document", meta["legacy_id"]),
        message_id=linked[1],
        source=(as_text(meta.get("source")) or "")[:2048] or None,
        content_preview=as_text(row.get("content_preview")),
        score=float(str(score)) if _number(score) else None,
        rank=ranks[session],
        metadata=meta,
        created_at=created,
    )


def _statistic(ctx: Context, row: Row) -> Row:
    created = ctx.time(row.get("last_updated"))
    name = as_text(row.get("stat_name"))
    return ctx.row(
        AUDIT_EVENTS,
        id=ctx.id(None, "statistic", as_text(row.get("id")), name),
        event_type="legacy_statistic",
        subject_type="statistic",
        subject_id=(name or "")[:255] or None,
        metadata={"value": as_json(row.get("stat_value")), "legacy_id": as_text(row.get("id"))},
        created_at=created,
    )
