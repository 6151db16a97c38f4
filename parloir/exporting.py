"""Export: conversations as OpenAI-format JSON lines (or messages as CSV rows), streamed.

Conversations are read in pages in id order (keyset pagination on the time-ordered id), each
page in its own short read transaction, so an export holds neither a long transaction nor
more than one page in memory. A line is one conversation::

    {"id": ..., "agent": {...}, "contact": {...}, "channel": "telegram", "external_id": "42",
     "title": ..., "status": "active", "created_at": ..., "metadata": {...},
     "messages": [{"role": "user", "content": "Hello", "seq": 1, "created_at": ...}, ...],
     "llm_calls": [{"model": ..., "message_seq": 2, ...}], "feedback": [...]}

``messages`` is a list an OpenAI chat API accepts as is (``role``, ``content``) with parloir's
fields beside them; llm calls and feedback point at their message by ``message_seq``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from parloir.db.tables import AGENTS, CONTACTS, CONVERSATIONS, FEEDBACK, LLM_CALLS, MESSAGES
from parloir.scope import Scope

__all__ = ["CSV_COLUMNS", "csv_rows", "export_page"]

_INTERNAL = {
    "tenant_id",
    "conversation_id",
    "direction",
    "content_length",
    "command",
    "command_args",
    "agent_id",
    "contact_id",
    "last_seq",
    "message_count",
}
CSV_COLUMNS = [
    "conversation_id",
    "conversation_external_id",
    "agent_id",
    "contact_id",
    "channel",
    "seq",
    "role",
    "content",
    "created_at",
    "message_id",
    "idempotency_key",
    "external_id",
    "token_count",
    "error_type",
    "metadata",
]


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _clean(row: Any, drop: set[str] = _INTERNAL) -> dict[str, Any]:
    """A stored row as JSON-ready data, without parloir's derived columns and NULLs."""
    return {k: _plain(v) for k, v in row._mapping.items() if k not in drop and v is not None}


def export_page(
    scope: Scope,
    *,
    after: uuid.UUID | None,
    limit: int,
    agent_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    since: datetime | None = None,
    conversation_ids: Sequence[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """The next ``limit`` conversations after id ``after`` (among ``conversation_ids`` if
    given), as export lines."""
    c = CONVERSATIONS.c
    query = select(CONVERSATIONS).where(c.tenant_id == scope.tenant_id)
    if conversation_ids is not None:
        query = query.where(c.id.in_(conversation_ids))
    query = scope.filtered(
        query, [(c.agent_id, agent_id), (c.contact_id, contact_id)], c.created_at, since, None
    )
    if after is not None:
        query = query.where(c.id > after)
    conversations = scope.session.execute(query.order_by(c.id).limit(limit)).all()
    if not conversations:
        return []
    ids = [row.id for row in conversations]
    messages = _children(scope, MESSAGES, ids, MESSAGES.c.seq)
    seqs = {m.id: m.seq for rows in messages.values() for m in rows}
    calls = _children(scope, LLM_CALLS, ids, LLM_CALLS.c.created_at)
    feedback = _children(scope, FEEDBACK, ids, FEEDBACK.c.created_at)
    agents = _by_id(scope, AGENTS, {r.agent_id for r in conversations})
    contacts = _by_id(scope, CONTACTS, {r.contact_id for r in conversations} - {None})
    out = []
    for conv in conversations:
        line = _clean(conv, _INTERNAL | {"last_message_at", "updated_at"})
        line["agent"] = agents.get(conv.agent_id)
        if conv.contact_id is not None:
            line["contact"] = contacts.get(conv.contact_id)
        line["messages"] = [_message(m) for m in messages.get(conv.id, [])]
        line["llm_calls"] = [_linked(r, seqs) for r in calls.get(conv.id, [])]
        line["feedback"] = [_linked(r, seqs) for r in feedback.get(conv.id, [])]
        out.append(line)
    return out


def _message(row: Any) -> dict[str, Any]:
    data = _clean(row, _INTERNAL | {"updated_at"})
    # OpenAI's keys first, for people reading the file.
    return {"role": data.pop("role"), "content": data.pop("content"), **data}


def _linked(row: Any, seqs: dict[uuid.UUID, int]) -> dict[str, Any]:
    data = _clean(row)
    message_id = row._mapping.get("message_id")
    if message_id is not None and message_id in seqs:
        data["message_seq"] = seqs[message_id]
    return data


def _children(
    scope: Scope, table: Any, ids: list[uuid.UUID], order: Any
) -> dict[uuid.UUID, list[Any]]:
    out: dict[uuid.UUID, list[Any]] = defaultdict(list)
    # By conversation only: ``ids`` are this tenant's (export_page selected them so), and a
    # tenant condition here let SQLite, on a file without statistics, scan every message of
    # the tenant for each page through the (tenant_id, created_at) index.
    query = (
        select(table)
        .where(table.c.conversation_id.in_(ids))
        .order_by(table.c.conversation_id, order, table.c.id)
    )
    for row in scope.session.execute(query):
        out[row.conversation_id].append(row)
    return out


def _by_id(scope: Scope, table: Any, ids: set[Any]) -> dict[Any, dict[str, Any]]:
    if not ids:
        return {}
    query = select(table).where(table.c.tenant_id == scope.tenant_id, table.c.id.in_(list(ids)))
    keep = {"tenant_id", "created_at", "updated_at"}
    return {row.id: _clean(row, keep) for row in scope.session.execute(query)}


def csv_rows(line: dict[str, Any]) -> Iterator[list[Any]]:
    """The CSV rows (one per message) of one export line."""
    import json

    for message in line["messages"]:
        meta = message.get("metadata") or {}
        yield [
            line["id"],
            line.get("external_id"),
            (line.get("agent") or {}).get("id"),
            (line.get("contact") or {}).get("id"),
            line["channel"],
            message["seq"],
            message["role"],
            message["content"],
            message["created_at"],
            message["id"],
            message.get("idempotency_key"),
            message.get("external_id"),
            message.get("token_count"),
            message.get("error_type"),
            json.dumps(meta, ensure_ascii=False) if meta else "",
        ]
