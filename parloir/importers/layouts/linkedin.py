"""Layout 002: the LinkedIn bot on PostgreSQL (``users``, ``conversations``, ``messages``,
``posts``, ``ai_interactions``).

LinkedIn users become contacts (channel ``linkedin``); messages take their role from
``is_from_bot`` and their time from ``sent_at``. ``ai_interactions`` become ``llm_calls``
linked to their message or post. Their ``cost`` has an unclear unit in the seed (documented as
"millièmes de centime", shown as ``cost=50  # 0.05€``): the original value and unit are kept
in the call's metadata, and ``cost_nanos`` follows ``ImportOptions.cost_unit`` (default
``milli``: thousandths of a euro, as the example) times ``cost_rate_usd`` (default 1.0).
Source user, conversation and post ids are mapped in memory; messages are found again by
their deterministic id.
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir.db.tables import CONTACTS, CONVERSATIONS, MESSAGES, POSTS
from parloir.importers import writer
from parloir.importers.framework import COST_UNITS, Context, Layout, register
from parloir.importers.sources import Row, Source
from parloir.importers.values import (
    Invalid,
    as_bool,
    as_int,
    as_json,
    as_object,
    as_text,
    check_text,
)

Map = dict[str, uuid.UUID]
STATUSES = {"active", "archived", "blocked"}
POST_STATUSES = {"draft", "scheduled", "published", "failed"}
SEED_COST_UNIT = "millièmes de centime (seed documentation; example cost=50 is 0.05 EUR)"


@register
class LinkedIn(Layout):
    name = "linkedin"
    description = "LinkedIn bot on PostgreSQL (seed 002)"

    def detect(self, tables: set[str], source: Source) -> bool:
        if not {"users", "conversations", "messages"} <= tables:
            return False
        return "is_from_bot" in source.columns("messages")

    def total(self, source: Source) -> int:
        tables = source.tables()
        names = ("users", "conversations", "messages", "posts", "ai_interactions")
        return sum(source.count(t) for t in names if t in tables)

    def run(self, ctx: Context) -> None:
        agent_id = ctx.agent("bot", "LinkedIn bot")
        tables = ctx.source.tables()
        contacts: Map = {}
        for rows in ctx.read("SELECT * FROM users ORDER BY id"):
            with ctx.chunk() as sink:
                _contacts(ctx, sink, rows, contacts)
        conversations: Map = {}
        for rows in ctx.read("SELECT * FROM conversations ORDER BY id"):
            with ctx.chunk() as sink:
                _conversations(ctx, sink, agent_id, rows, contacts, conversations)
        sql = "SELECT * FROM messages ORDER BY conversation_id, sent_at, id"
        for rows in ctx.read(sql):
            with ctx.chunk() as sink:
                writer.write_messages(sink, _each(ctx, rows, "messages", _message, conversations))
        posts: Map = {}
        if "posts" in tables:
            for rows in ctx.read("SELECT * FROM posts ORDER BY id"):
                with ctx.chunk() as sink:
                    made = _each(ctx, rows, "posts", _post, (agent_id, contacts))
                    ids, _ = writer.write_posts(sink, made)
                    posts.update({r["metadata"]["legacy_id"]: ids[r["id"]] for r in made})
        if "ai_interactions" in tables:
            sql = (
                "SELECT a.*, m.sent_at AS m_sent_at, m.conversation_id AS m_conversation_id"
                " FROM ai_interactions a LEFT JOIN messages m ON m.id = a.message_id"
                " ORDER BY a.id"
            )
            for rows in ctx.read(sql):
                with ctx.chunk() as sink:
                    _calls(ctx, sink, agent_id, rows, conversations, posts)


def _each(ctx: Context, rows: list[Row], entity: str, convert: Any, extra: Any) -> list[Row]:
    out = []
    for row in rows:
        try:
            out.append(convert(ctx, row, extra))
        except Invalid as error:
            ctx.report.skip(entity, error.reason)
    return out


def _contacts(ctx: Context, sink: writer.Sink, rows: list[Row], contacts: Map) -> None:
    made: list[tuple[str, Row]] = []
    for row in rows:
        try:
            linkedin_id = ctx.key(row.get("linkedin_id"))
            if linkedin_id is None:
                raise Invalid("missing_linkedin_id")
            created = ctx.time(row.get("created_at"))
            made.append(
                (
                    str(row["id"]),
                    ctx.row(
                        CONTACTS,
                        id=ctx.id(None, "contact", linkedin_id),
                        channel="linkedin",
                        external_id=linkedin_id,
                        name=(as_text(row.get("name")) or "")[:255] or None,
                        profile_url=(as_text(row.get("profile_url")) or "")[:2048] or None,
                        metadata={"legacy_id": as_text(row.get("id"))},
                        created_at=created,
                        updated_at=ctx.time(row.get("updated_at"), created),
                    ),
                )
            )
        except Invalid as error:
            ctx.report.skip("contacts", error.reason)
    ids, _ = writer.write_contacts(sink, [contact for _, contact in made])
    contacts.update({source: ids[contact["id"]] for source, contact in made})


def _conversations(
    ctx: Context,
    sink: writer.Sink,
    agent_id: uuid.UUID,
    rows: list[Row],
    contacts: Map,
    conversations: Map,
) -> None:
    made: list[tuple[str, Row]] = []
    for row in rows:
        try:
            source_id = ctx.key(row.get("id"))
            created = ctx.time(row.get("created_at"))
            status = as_text(row.get("status")) or "active"
            meta = as_object(row.get("metadata"))
            meta["legacy_id"] = source_id
            if status not in STATUSES:
                meta["legacy_status"], status = status, "active"
            made.append(
                (
                    str(row.get("id")),
                    ctx.row(
                        CONVERSATIONS,
                        id=ctx.id(created, "conversation", source_id),
                        agent_id=agent_id,
                        contact_id=contacts.get(str(row.get("user_id"))),
                        channel="linkedin",
                        external_id=ctx.key(row.get("linkedin_conversation_id")),
                        status=status,
                        metadata=meta,
                        message_count=0,
                        last_seq=0,
                        created_at=created,
                        updated_at=ctx.time(row.get("updated_at"), created),
                    ),
                )
            )
        except Invalid as error:
            ctx.report.skip("conversations", error.reason)
    ids, _ = writer.write_conversations(sink, [conv for _, conv in made])
    conversations.update({source: ids[conv["id"]] for source, conv in made})


def _message(ctx: Context, row: Row, conversations: Map) -> Row:
    conversation_id = conversations.get(str(row.get("conversation_id")))
    if conversation_id is None:
        raise Invalid("orphan")
    sent = ctx.time(row.get("sent_at"))
    source_id = as_text(row.get("id"))
    meta = as_object(row.get("metadata"))
    meta["legacy_id"] = source_id
    message = ctx.message(
        row_id=ctx.id(sent, "message", source_id),
        conversation_id=conversation_id,
        role="assistant" if as_bool(row.get("is_from_bot")) else "user",
        content=row.get("content"),
        created_at=sent,
        metadata=meta,
        external_id=ctx.key(row.get("linkedin_message_id")),
    )
    for field in ("delivered_at", "read_at"):
        message[field] = ctx.time(row[field]) if row.get(field) is not None else None
    return message


def _post(ctx: Context, row: Row, extra: tuple[uuid.UUID, Map]) -> Row:
    agent_id, contacts = extra
    created = ctx.time(row.get("created_at"))
    source_id = as_text(row.get("id"))
    text = "" if row.get("content") is None else str(row["content"])
    check_text(text, ctx.sink.max_content_length)  # the checks of a message's text
    meta = as_object(row.get("metadata"))
    meta["legacy_id"] = source_id
    status = as_text(row.get("status")) or "draft"
    if status not in POST_STATUSES:
        meta["legacy_status"], status = status, "draft"
    return ctx.row(
        POSTS,
        id=ctx.id(created, "post", source_id),
        agent_id=agent_id,
        contact_id=contacts.get(str(row.get("user_id"))),
        channel="linkedin",
        external_id=ctx.key(row.get("linkedin_post_id")),
        content=text,
        status=status,
        scheduled_for=_maybe_time(ctx, row.get("scheduled_for")),
        published_at=_maybe_time(ctx, row.get("published_at")),
        metadata=meta,
        created_at=created,
        updated_at=ctx.time(row.get("updated_at"), created),
    )


def _maybe_time(ctx: Context, value: Any) -> Any:
    return None if value is None else ctx.time(value)


def _calls(
    ctx: Context,
    sink: writer.Sink,
    agent_id: uuid.UUID,
    rows: list[Row],
    conversations: Map,
    posts: Map,
) -> None:
    calls = _each(ctx, rows, "llm_calls", _call, (agent_id, conversations, posts))
    stored = writer.existing_ids(
        sink, MESSAGES, (c["message_id"] for c in calls if c["message_id"])
    )
    for call in calls:
        if call["message_id"] is not None and call["message_id"] not in stored:
            call["message_id"] = None  # its message was skipped: keep the call and its cost
    writer.write_llm_calls(sink, calls)
    tokens = [(c["message_id"], c["total_tokens"]) for c in calls if c["message_id"]]
    writer.set_message_tokens(sink, tokens)


def _call(ctx: Context, row: Row, extra: tuple[uuid.UUID, Map, Map]) -> Row:
    agent_id, conversations, posts = extra
    created = ctx.time(row.get("created_at"), ctx.time(row.get("m_sent_at")))
    message_id = conversation_id = post_id = None
    if row.get("message_id") is not None:
        conversation_id = conversations.get(str(row.get("m_conversation_id")))
        if conversation_id is not None:
            sent = ctx.time(row.get("m_sent_at"))
            message_id = ctx.id(sent, "message", as_text(row["message_id"]))
    if row.get("post_id") is not None:
        post_id = posts.get(str(row["post_id"]))
    source_id = as_text(row.get("id"))
    meta = as_object(row.get("metadata"))
    meta.update(
        legacy_id=source_id,
        original_cost=as_json(row.get("cost")),
        original_cost_unit=SEED_COST_UNIT,
        cost_read_as=ctx.options.cost_unit,
        cost_currency="EUR",
        cost_rate_usd=ctx.options.cost_rate_usd,
    )
    return ctx.llm_call(
        id=ctx.id(created, "llm_call", source_id),
        agent_id=agent_id,
        conversation_id=conversation_id,
        message_id=message_id,
        post_id=post_id,
        operation="chat" if message_id or row.get("message_id") is not None else "post",
        model=as_text(row.get("model_name")),
        total_tokens=max(0, as_int(row.get("tokens_used")) or 0),
        latency_ms=as_int(row.get("duration_ms")),
        **_cost(ctx, row.get("cost")),
        is_success=as_bool(row.get("success"), True),
        error_message=as_text(row.get("error")),
        prompt=as_text(row.get("prompt")),
        response=as_text(row.get("response")),
        metadata=meta,
        created_at=created,
    )


def _cost(ctx: Context, value: Any) -> dict[str, Any]:
    factor = COST_UNITS[ctx.options.cost_unit]
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return {"cost_nanos": None, "cost_source": None}
    if factor is None or amount != amount:
        return {"cost_nanos": None, "cost_source": None}
    nanos = round(amount * factor * ctx.options.cost_rate_usd * 1e9)
    return {"cost_nanos": nanos, "cost_source": "provided"}
