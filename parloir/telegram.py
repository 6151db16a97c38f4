"""Telegram ingestion: webhook secrets, deduplicated updates, edits, quarantine.

Deduplication is by equality of ``(agent, update_id)``, never by ordering: Telegram's update ids
increase, but jump to a random value after a week of silence. The first thing an ingestion
does is claim the id in ``telegram_updates`` (``INSERT ... ON CONFLICT DO NOTHING``, under the
unique key): a concurrent delivery of the same update waits for the first one's transaction
and then finds the claim taken, so an update is stored exactly once however often and however
concurrently Telegram sends it.

An edited message edits the stored one (content, command, ``edited_at``), the latest
``edit_date`` winning; an edit whose original was never stored is stored as the message, and
an original arriving after its edit changes nothing. An update that cannot be stored (another
type, a malformed payload, a value the store refuses) is kept in ``telegram_quarantine`` with
its reason and raw payload, and its id is claimed like any other: it counts as handled.

Webhook secrets are stored as SHA-256 hashes and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update

from parloir import conversations, messages, rollups, rollups_fold
from parloir.db.models import Base
from parloir.db.tables import AGENTS, CONVERSATIONS, MESSAGES
from parloir.errors import InvalidInputError, NotFoundError
from parloir.ids import uuid7
from parloir.schemas import Record
from parloir.scope import Scope
from parloir.telegram_updates import Plan

__all__ = [
    "SECRET_PATTERN",
    "TelegramResult",
    "TelegramWebhookRead",
    "check_secret",
    "claim_update",
    "quarantine",
    "set_secret",
    "store_plan",
]

WEBHOOKS = Base.metadata.tables["telegram_webhooks"]
UPDATES = Base.metadata.tables["telegram_updates"]
QUARANTINE = Base.metadata.tables["telegram_quarantine"]

SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What Telegram accepts as ``secret_token`` (setWebhook)."""

Status = Literal["stored", "edited", "unchanged", "duplicate", "quarantined"]


class TelegramResult(Record):
    """What became of one update.

    ``status``: ``stored`` (a new message), ``edited`` (an edit applied to the stored message),
    ``unchanged`` (a new update that changes nothing: an older edit, or an original after its
    edit), ``duplicate`` (this update id was handled before: nothing written), ``quarantined``.
    """

    update_id: int | None
    kind: str | None
    status: Status
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    reason: str | None = None


class TelegramWebhookRead(Record):
    """An agent's Telegram webhook (its secret is never returned)."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def set_secret(scope: Scope, agent_id: uuid.UUID, secret: str) -> TelegramWebhookRead:
    """Set or replace the agent's webhook secret (stored hashed)."""
    if not SECRET_PATTERN.match(secret):
        raise InvalidInputError.single(
            "secret", "pattern", "must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
        )
    scope.get_row(AGENTS, agent_id, "agent")
    now = scope.now()
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "agent_id": agent_id,
        "secret_hash": _hash(secret),
        "created_at": now,
        "updated_at": now,
    }
    stmt = scope.insert(WEBHOOKS).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agent_id"], set_={"secret_hash": row["secret_hash"], "updated_at": now}
    ).returning(*WEBHOOKS.c)
    return TelegramWebhookRead.model_validate(scope.session.execute(stmt).one()._mapping)


def check_secret(scope: Scope, agent_id: uuid.UUID, secret: str | None) -> uuid.UUID | None:
    """The agent's tenant if ``secret`` is its webhook secret, else None.

    Runs across tenants (the webhook URL names an agent, not a tenant): ``NotFoundError`` if
    no agent with this id has a webhook secret. The comparison is constant-time, over hashes.
    """
    w = WEBHOOKS.c
    row = scope.session.execute(
        select(w.tenant_id, w.secret_hash).where(w.agent_id == agent_id)
    ).first()
    if row is None:
        raise NotFoundError("telegram webhook", agent_id)
    given = _hash(secret) if secret and len(secret) <= 256 else ""
    return row.tenant_id if hmac.compare_digest(row.secret_hash, given) else None


def claim_update(scope: Scope, agent_id: uuid.UUID, update_id: int, kind: str | None) -> Any:
    """Claim ``update_id`` for the agent; None if it was claimed before, else the claim's id."""
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "agent_id": agent_id,
        "update_id": update_id,
        "kind": kind or "unknown",
        "status": "claimed",
        "conversation_id": None,
        "message_id": None,
        "created_at": scope.now(),
    }
    stmt = scope.insert(UPDATES).values(row).on_conflict_do_nothing().returning(UPDATES.c.id)
    return scope.session.execute(stmt).scalar()


def find_claim(scope: Scope, agent_id: uuid.UUID, update_id: int) -> Any:
    """The stored claim of an update id."""
    u = UPDATES.c
    query = select(UPDATES).where(
        u.tenant_id == scope.tenant_id, u.agent_id == agent_id, u.update_id == update_id
    )
    return scope.session.execute(query).one()


def finish_claim(scope: Scope, claim_id: uuid.UUID, result: TelegramResult) -> None:
    values = {
        "status": result.status,
        "conversation_id": result.conversation_id,
        "message_id": result.message_id,
    }
    scope.session.execute(update(UPDATES).where(UPDATES.c.id == claim_id).values(**values))


def quarantine(
    scope: Scope, agent_id: uuid.UUID, update_id: int | None, reason: str, payload: str
) -> None:
    """Keep an update that cannot be stored, with its reason and raw payload."""
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "agent_id": agent_id,
        "update_id": update_id,
        "reason": reason[:2000],
        "payload": payload,
        "created_at": scope.now(),
    }
    scope.session.execute(QUARANTINE.insert().values(row))


def store_plan(scope: Scope, agent_id: uuid.UUID, plan: Plan) -> TelegramResult:
    """Write the contact, the conversation and the message (or its edit) of one update."""
    contact = conversations.upsert_contact(scope, plan.contact)
    conv = conversations.get_or_create_conversation(
        scope, {**plan.conversation, "contact_id": contact.id}
    )
    scope.get_row(CONVERSATIONS, conv.id, "conversation", lock=True)
    m = MESSAGES.c
    existing = scope.session.execute(
        select(MESSAGES).where(
            m.tenant_id == scope.tenant_id,
            m.conversation_id == conv.id,
            m.external_id == plan.message.get("external_id"),
        )
    ).first()
    done = {"update_id": plan.update_id, "kind": plan.kind, "conversation_id": conv.id}
    if existing is None:
        (stored,) = messages.append_messages(scope, conv.id, [plan.message])
        if plan.edited_at is not None:
            _set(scope, stored.id, edited_at=plan.edited_at)
        return TelegramResult(status="stored", message_id=stored.id, **done)
    if plan.edited_at is not None and (
        existing.edited_at is None or plan.edited_at > existing.edited_at
    ):
        _apply_edit(scope, existing, plan, conv)
        return TelegramResult(status="edited", message_id=existing.id, **done)
    return TelegramResult(status="unchanged", message_id=existing.id, **done)


def _apply_edit(scope: Scope, existing: Any, plan: Plan, conv: Any) -> None:
    content = plan.message["content"]
    command, args = messages.parse_command(content)
    if (command is None) != (existing.command is None):
        # The edit makes a command of the message, or no longer one: its rollup row's count
        # moves (on SQLite after a fold, so that the message is counted as it was).
        rollups_fold.fold(scope.session)
        key = rollups.message_key(scope.tenant_id, conv.agent_id, conv.channel, existing.created_at)
        rollups.apply(scope.session, {key: {"commands": 1 if command is not None else -1}})
    metadata = dict(existing.metadata or {})
    metadata["telegram"] = (plan.message.get("metadata") or {}).get("telegram")
    metadata["edits"] = int(metadata.get("edits", 0)) + 1
    _set(
        scope,
        existing.id,
        content=content,
        content_length=len(content),
        command=command,
        command_args=args,
        edited_at=plan.edited_at,
        metadata=metadata,
    )


def _set(scope: Scope, message_id: uuid.UUID, **values: Any) -> None:
    values["updated_at"] = scope.now()
    m = MESSAGES.c
    scope.session.execute(
        update(MESSAGES).where(m.id == message_id, m.tenant_id == scope.tenant_id).values(**values)
    )
