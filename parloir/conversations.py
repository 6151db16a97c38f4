"""Contacts and conversations: upserts by natural key, status, listing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from parloir import rollups
from parloir.db.tables import AGENTS, CONTACTS, CONVERSATIONS
from parloir.errors import InvalidInputError
from parloir.ids import uuid7
from parloir.inputs import ContactFields, ConversationFields, ConversationUpdate
from parloir.schemas import ContactRead, ConversationRead, Page
from parloir.scope import Scope, to_record

__all__ = [
    "get_contact",
    "get_conversation",
    "get_or_create_conversation",
    "list_conversations",
    "update_conversation",
    "upsert_contact",
]

_CONTACT_FIELDS = ("name", "username", "profile_url", "metadata")


def upsert_contact(scope: Scope, data: ContactFields) -> ContactRead:
    """Create the contact, or update the given fields of the one with the same key."""
    now = scope.now()
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "channel": data["channel"],
        "external_id": data["external_id"],
        "name": data.get("name"),
        "username": data.get("username"),
        "profile_url": data.get("profile_url"),
        "metadata": data.get("metadata") or {},
        "created_at": now,
        "updated_at": now,
    }
    changes = {k: data[k] for k in _CONTACT_FIELDS if k in data}  # type: ignore[literal-required]
    stmt = scope.insert(CONTACTS).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "channel", "external_id"],
        set_={**changes, "updated_at": now},
    ).returning(*CONTACTS.c)
    return to_record(ContactRead, scope.session.execute(stmt).one())


def get_contact(scope: Scope, contact_id: uuid.UUID) -> ContactRead:
    return to_record(ContactRead, scope.get_row(CONTACTS, contact_id, "contact"))


def find_contact(scope: Scope, channel: str, external_id: str) -> ContactRead | None:
    c = CONTACTS.c
    row = scope.session.execute(
        select(CONTACTS).where(
            c.tenant_id == scope.tenant_id, c.channel == channel, c.external_id == external_id
        )
    ).first()
    return None if row is None else to_record(ContactRead, row)


def get_or_create_conversation(scope: Scope, data: ConversationFields) -> ConversationRead:
    """Return the conversation with this (agent, channel, external id), creating it if needed.

    Without an external id a new conversation is always created.
    """
    scope.require(AGENTS, data["agent_id"], "agent", "agent_id")
    scope.require(CONTACTS, data.get("contact_id"), "contact", "contact_id")
    now = scope.now()
    row: dict[str, Any] = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "agent_id": data["agent_id"],
        "contact_id": data.get("contact_id"),
        "channel": data["channel"],
        "external_id": data.get("external_id"),
        "title": data.get("title"),
        "status": data.get("status", "active"),
        "metadata": data.get("metadata") or {},
        "message_count": 0,
        "last_seq": 0,
        "last_message_at": None,
        "created_at": data.get("created_at") or now,
        "updated_at": now,
    }
    stmt = scope.insert(CONVERSATIONS).values(row).on_conflict_do_nothing()
    created = scope.session.execute(stmt.returning(CONVERSATIONS.c.id)).first() is not None
    if created:
        rollups.add_conversation(
            scope.session, scope.tenant_id, data["agent_id"], data["channel"], row["created_at"]
        )
        return ConversationRead.model_validate({**row, "created": True})
    c = CONVERSATIONS.c
    existing = scope.session.execute(
        select(CONVERSATIONS).where(
            c.tenant_id == scope.tenant_id,
            c.agent_id == data["agent_id"],
            c.channel == data["channel"],
            c.external_id == data.get("external_id"),
        )
    ).one()
    if existing.contact_id is None and data.get("contact_id") is not None:
        scope.session.execute(
            update(CONVERSATIONS)
            .where(c.id == existing.id)
            .values(contact_id=data["contact_id"], updated_at=now)
        )
        return to_record(ConversationRead, existing, contact_id=data["contact_id"], updated_at=now)
    return to_record(ConversationRead, existing)


def get_conversation(scope: Scope, conversation_id: uuid.UUID) -> ConversationRead:
    return to_record(
        ConversationRead, scope.get_row(CONVERSATIONS, conversation_id, "conversation")
    )


def update_conversation(
    scope: Scope, conversation_id: uuid.UUID, data: ConversationUpdate
) -> ConversationRead:
    """Change the status, title, metadata or contact of a conversation."""
    row = scope.get_row(CONVERSATIONS, conversation_id, "conversation", lock=True)
    if "contact_id" in data:
        scope.require(CONTACTS, data["contact_id"], "contact", "contact_id")
    values: dict[str, Any] = {**data, "updated_at": scope.now()}
    scope.session.execute(
        update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(**values)
    )
    return to_record(ConversationRead, row, **values)


def list_conversations(
    scope: Scope,
    *,
    agent_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    channel: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[ConversationRead]:
    """Conversations newest first, filtered; ``since``/``until`` bound the creation time."""
    if status is not None and status not in ("active", "archived", "blocked"):
        raise InvalidInputError.single("status", "literal_error", "must be active/archived/blocked")
    c = CONVERSATIONS.c
    query = select(CONVERSATIONS).where(c.tenant_id == scope.tenant_id)
    equal = [(c.agent_id, agent_id), (c.contact_id, contact_id), (c.channel, channel)]
    equal.append((c.status, status))
    query = scope.filtered(query, equal, c.created_at, since, until)
    items, next_cursor = scope.page(
        query, CONVERSATIONS, limit=limit, cursor=cursor, record=ConversationRead
    )
    return Page[ConversationRead](items=items, next_cursor=next_cursor)
