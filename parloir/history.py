"""Reading a conversation back: the last turns, what came after a point, and the context.

The context is what a bot sends to the model next: an OpenAI-format message list that opens
with the agent's instructions and keeps the newest turns that fit both a message count and a
token budget. Token counting is pluggable; the default is a conservative estimate (one token
per four UTF-8 bytes, plus four per message for the chat format), because an exact tokenizer
depends on the model and would have to be downloaded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Integer, Uuid, bindparam, select, update

from parloir.db.bulk import fetch_rows
from parloir.db.tables import AGENTS, CONVERSATIONS, MESSAGES
from parloir.errors import InvalidInputError, NotFoundError
from parloir.schemas import MessageRead
from parloir.scope import Scope, to_record

__all__ = [
    "TokenCounter",
    "approx_tokens",
    "build_context",
    "ensure_conversation",
    "get_message",
    "last_messages",
    "mark_receipt",
    "messages_after",
]

TokenCounter = Callable[[str], int]

MESSAGE_OVERHEAD = 4


def approx_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` (about four UTF-8 bytes a token, rounded up)."""
    return (len(text.encode("utf-8")) + 3) // 4


def _limit(name: str, value: int, top: int) -> None:
    if not 1 <= value <= top:
        raise InvalidInputError.single(name, "range", f"must be between 1 and {top}")


_EXISTS = select(CONVERSATIONS.c.id).where(
    CONVERSATIONS.c.id == bindparam("cid", type_=Uuid()),
    CONVERSATIONS.c.tenant_id == bindparam("tid", type_=Uuid()),
)


def ensure_conversation(scope: Scope, conversation_id: uuid.UUID) -> None:
    """Raise ``NotFoundError`` unless the conversation exists in this tenant."""
    params = {"cid": conversation_id, "tid": scope.tenant_id}
    if not fetch_rows(scope.session, _EXISTS, params):
        raise NotFoundError("conversation", conversation_id)


_m = MESSAGES.c
# The tenant and conversation are known to the caller: not reading them back saves two UUID
# conversions per row on the hottest read.
_COLUMNS = [c for c in MESSAGES.c if c.name not in ("tenant_id", "conversation_id")]
# The tenant is checked on the conversation row, in a subquery: the messages condition is then
# on conversation_id alone and the planner walks the (conversation_id, seq) index backwards,
# even on a freshly loaded table that has no statistics yet.
_WHERE = (
    _m.conversation_id
    == select(CONVERSATIONS.c.id)
    .where(
        CONVERSATIONS.c.id == bindparam("cid", type_=Uuid()),
        CONVERSATIONS.c.tenant_id == bindparam("tid", type_=Uuid()),
    )
    .scalar_subquery(),
)
_LAST = (
    select(*_COLUMNS)
    .where(*_WHERE)
    .order_by(_m.seq.desc())
    .limit(bindparam("lim", type_=Integer()))
)
_AFTER = (
    select(*_COLUMNS)
    .where(*_WHERE, _m.seq > bindparam("after", type_=Integer()))
    .order_by(_m.seq)
    .limit(bindparam("lim", type_=Integer()))
)


_TURNS = (
    select(_m.role, _m.content, _m.metadata)
    .where(*_WHERE, _m.error_type.is_(None))
    .order_by(_m.seq.desc())
    .limit(bindparam("lim", type_=Integer()))
)


def _history(
    scope: Scope, query: Any, conversation_id: uuid.UUID, limit: int, **params: Any
) -> Sequence[Any]:
    _limit("limit", limit, 10_000)
    values = {"cid": conversation_id, "tid": scope.tenant_id, "lim": limit, **params}
    rows = fetch_rows(scope.session, query, values)
    if not rows:
        ensure_conversation(scope, conversation_id)
    return rows


_NAMES = [c.name for c in _COLUMNS]


_RECORDS = TypeAdapter(list[MessageRead])


def _records(scope: Scope, conversation_id: uuid.UUID, rows: Any) -> list[MessageRead]:
    known = {"tenant_id": scope.tenant_id, "conversation_id": conversation_id}
    return _RECORDS.validate_python([dict(zip(_NAMES, row, strict=True), **known) for row in rows])


def last_messages(scope: Scope, conversation_id: uuid.UUID, limit: int) -> list[MessageRead]:
    """The last ``limit`` messages, oldest first."""
    rows = _history(scope, _LAST, conversation_id, limit)
    return _records(scope, conversation_id, reversed(rows))


def messages_after(
    scope: Scope, conversation_id: uuid.UUID, after_seq: int, limit: int
) -> list[MessageRead]:
    """Messages whose ``seq`` is greater than ``after_seq``, in order."""
    rows = _history(scope, _AFTER, conversation_id, limit, after=after_seq)
    return _records(scope, conversation_id, rows)


def get_message(scope: Scope, message_id: uuid.UUID) -> MessageRead:
    """One message by id."""
    return to_record(MessageRead, scope.get_row(MESSAGES, message_id, "message"))


def mark_receipt(
    scope: Scope, message_id: uuid.UUID, *, delivered_at: datetime | None, read_at: datetime | None
) -> MessageRead:
    """Record delivery and/or read times; a read message is delivered too. Earliest time wins."""
    row = scope.get_row(MESSAGES, message_id, "message")
    values: dict[str, Any] = {}
    delivered = delivered_at or read_at
    if delivered is not None and (row.delivered_at is None or delivered < row.delivered_at):
        values["delivered_at"] = delivered
    if read_at is not None and (row.read_at is None or read_at < row.read_at):
        values["read_at"] = read_at
    if values:
        values["updated_at"] = scope.now()
        scope.session.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(**values))
        return to_record(MessageRead, {**row._mapping, **values})
    return to_record(MessageRead, row)


def build_context(
    scope: Scope,
    conversation_id: uuid.UUID,
    *,
    max_messages: int,
    max_tokens: int | None,
    token_counter: TokenCounter | None,
) -> list[dict[str, Any]]:
    """The OpenAI-format messages for the next model call (see the module docstring)."""
    _limit("max_messages", max_messages, 10_000)
    if max_tokens is not None and max_tokens < 1:
        raise InvalidInputError.single("max_tokens", "range", "must be at least 1")
    count = token_counter or approx_tokens
    c, a = CONVERSATIONS.c, AGENTS.c
    # The agent through a scalar subquery on the conversation's primary key: as a join, SQLite
    # without statistics prefers scanning the tenant's covering index of conversations.
    agent_id = (
        select(c.agent_id)
        .where(c.id == conversation_id, c.tenant_id == scope.tenant_id)
        .scalar_subquery()
    )
    head = scope.session.execute(select(a.instructions).where(a.id == agent_id)).first()
    if head is None:
        raise NotFoundError("conversation", conversation_id)
    params = {"cid": conversation_id, "tid": scope.tenant_id, "lim": max_messages}
    rows = scope.session.execute(_TURNS, params).all()
    system = [{"role": "system", "content": head.instructions}] if head.instructions else []
    budget = None if max_tokens is None else max_tokens - _cost(system, count)
    kept: list[dict[str, Any]] = []
    for row in rows:
        entry = _entry(row)
        if budget is not None:
            budget -= _cost([entry], count)
            if budget < 0:
                break
        kept.append(entry)
    kept.reverse()
    while kept and kept[0]["role"] == "tool":  # a tool result without its call is invalid
        kept.pop(0)
    return system + kept


def _cost(entries: list[dict[str, Any]], count: TokenCounter) -> int:
    return sum(count(e["content"] or "") + MESSAGE_OVERHEAD for e in entries)


def _entry(row: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": row.role, "content": row.content}
    meta = row.metadata or {}
    for key in ("name", "tool_call_id", "tool_calls"):
        if key in meta:
            entry[key] = meta[key]
    return entry
