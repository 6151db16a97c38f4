"""Layout 004: the legacy ``conversations`` table with ``question``/``response`` columns.

Each row becomes a conversation (channel ``web``) with two messages: the question (``user``)
and the response (``assistant``). The row's ``id`` (TEXT, a UUID or not) becomes the
conversation's ``external_id`` unchanged; ids that are not UUIDs are counted in the report
(``notes.non_uuid_ids``), never dropped or rewritten. A row is imported whole or skipped whole.
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir.db.tables import CONTACTS, CONVERSATIONS
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import Row, Source, quote_name
from parloir.importers.values import Invalid, as_text, is_uuid

TABLE = "conversations"
KNOWN = {"id", "session_id", "user_id", "question", "response", "preview", "created_at"}


@register
class Legacy(Layout):
    name = "legacy-qa"
    description = "conversations with question/response columns (seed 004)"

    def detect(self, tables: set[str], source: Source) -> bool:
        if TABLE not in tables:
            return False
        return {"question", "response"} <= set(source.columns(TABLE))

    def total(self, source: Source) -> int:
        return source.count(TABLE)

    def run(self, ctx: Context) -> None:
        agent_id = ctx.agent("bot", "Legacy assistant")
        known: dict[uuid.UUID, uuid.UUID] = {}  # contacts resolved by earlier chunks
        ids: dict[Any, uuid.UUID] = {}  # source user id -> contact row id
        for rows in ctx.read(f"SELECT * FROM {quote_name(TABLE)}"):
            with ctx.chunk() as sink:
                _chunk(ctx, sink, agent_id, rows, known, ids)
            if len(known) > KNOWN_CONTACTS or len(ids) > KNOWN_CONTACTS:
                known.clear()  # bounded memory: look them up again
                ids.clear()


KNOWN_CONTACTS = 100_000


def _chunk(
    ctx: Context,
    sink: writer.Sink,
    agent_id: uuid.UUID,
    rows: list[Row],
    known: dict[uuid.UUID, uuid.UUID],
    ids: dict[Any, uuid.UUID],
) -> None:
    contacts: dict[uuid.UUID, Row] = {}
    conversations: list[Row] = []
    messages: list[Row] = []
    for row in rows:
        try:
            conversation, pair = _convert(ctx, agent_id, row, ids)
        except Invalid as error:
            ctx.report.skip("conversations", error.reason)
            continue
        contact_id = conversation["contact_id"]
        if contact_id is not None and contact_id not in known and contact_id not in contacts:
            contacts[contact_id] = _contact(ctx, contact_id, row["user_id"], conversation)
        conversations.append(conversation)
        messages.extend(pair)
    contact_ids, _ = writer.write_contacts(sink, list(contacts.values()), quiet=True)
    known.update(contact_ids)
    for conversation in conversations:
        if conversation["contact_id"] is not None:
            cid = conversation["contact_id"]
            conversation["contact_id"] = contact_ids.get(cid) or known[cid]
    conversation_ids, fresh = writer.resolve_conversations(sink, conversations)
    for message in messages:
        message["conversation_id"] = conversation_ids[message["conversation_id"]]
    writer.write_messages(sink, messages, fresh)


def _convert(
    ctx: Context, agent_id: uuid.UUID, row: Row, ids: dict[Any, uuid.UUID]
) -> tuple[Row, list[Row]]:
    source_id = ctx.key(row.get("id"))
    if source_id is None:
        raise Invalid("missing_id")
    if not is_uuid(source_id):
        ctx.report.note("non_uuid_ids")
    created = ctx.time(row.get("created_at"))
    conversation_id = ctx.id(created, "conversation", source_id)
    contact_id = _contact_id(ctx, row.get("user_id"), ids)
    meta: dict[str, Any] = {k: v for k, v in row.items() if k not in KNOWN and v is not None}
    if row.get("session_id") is not None:
        meta["session_id"] = as_text(row["session_id"])
    title = as_text(row.get("preview"))
    conversation = ctx.row(
        CONVERSATIONS,
        id=conversation_id,
        agent_id=agent_id,
        contact_id=contact_id,
        channel="web",
        external_id=source_id,
        title=title[:500] if title else None,
        status="active",
        metadata=meta,
        message_count=0,
        last_seq=0,
        created_at=created,
        updated_at=ctx.time(row.get("updated_at"), created),
    )
    pair = []
    for field, role in (("question", "user"), ("response", "assistant")):
        if row.get(field) is None:
            continue
        pair.append(
            ctx.message(
                row_id=ctx.id(created, "message", source_id, field),
                conversation_id=conversation_id,
                role=role,
                content=row[field],
                created_at=created,
            )
        )
    return conversation, pair


def _contact_id(ctx: Context, user_id: Any, ids: dict[Any, uuid.UUID]) -> uuid.UUID | None:
    """The contact row id of a source user id (remembered: users repeat from row to row)."""
    if user_id is None:
        return None
    found = ids.get(user_id)
    if found is None:
        external_id = ctx.key(user_id)
        found = ids[user_id] = ctx.id(None, "contact", "web", external_id)
    return found


def _contact(ctx: Context, contact_id: uuid.UUID, user_id: Any, conversation: Row) -> Row:
    """The contact of ``conversation`` (created when its first conversation was)."""
    return ctx.row(
        CONTACTS,
        id=contact_id,
        channel="web",
        external_id=ctx.key(user_id),
        created_at=conversation["created_at"],
    )
