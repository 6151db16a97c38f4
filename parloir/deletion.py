"""Deleting messages and conversations, keeping counters and rollups exact.

Deleting a message leaves a gap in its conversation's ``seq`` (sequence numbers are never
reused); ``message_count`` and ``last_message_at`` are corrected. Deleting a conversation
deletes its messages, their retrievals, the feedback on it and on its messages, and its
sessions; its model calls stay in the usage ledger (money was spent) with
``conversation_id`` and ``message_id`` set to NULL, and still count in the rollups under the
agent and channel they were recorded with.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update

from parloir import rollups, rollups_fold
from parloir.db.tables import CONVERSATIONS, MESSAGES
from parloir.db.tables_analytics import ROLLUPS, TOTALS
from parloir.rollups_rebuild import conversation_messages
from parloir.scope import Scope

__all__ = ["delete_conversation", "delete_message"]


def _agent(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def delete_message(scope: Scope, message_id: uuid.UUID) -> None:
    """Delete one message (``NotFoundError`` if it is not in this tenant)."""
    message = scope.get_row(MESSAGES, message_id, "message")
    rollups_fold.fold(scope.session)  # the message is counted before its count is taken back
    conversation = scope.get_row(CONVERSATIONS, message.conversation_id, "conversation", lock=True)
    scope.session.execute(MESSAGES.delete().where(MESSAGES.c.id == message_id))
    m, c = MESSAGES.c, CONVERSATIONS.c
    latest = (
        select(func.max(m.created_at)).where(m.conversation_id == conversation.id).scalar_subquery()
    )
    scope.session.execute(
        update(CONVERSATIONS)
        .where(c.id == conversation.id)
        .values(message_count=c.message_count - 1, last_message_at=latest, updated_at=scope.now())
    )
    key = rollups.message_key(
        scope.tenant_id, _agent(conversation.agent_id), conversation.channel, message.created_at
    )
    rollups.apply(scope.session, {key: rollups.message_deltas(message._mapping, -1)})
    rollups.prune(scope.session, [key])


def delete_conversation(scope: Scope, conversation_id: uuid.UUID) -> None:
    """Delete a conversation and its messages (``NotFoundError`` if not in this tenant)."""
    conversation = scope.get_row(CONVERSATIONS, conversation_id, "conversation", lock=True)
    rollups_fold.fold(scope.session)
    pending = {
        key: {name: -value for name, value in deltas.items()}
        for key, deltas in conversation_messages(
            scope.session, scope.tenant_id, conversation_id
        ).items()
    }
    agent = _agent(conversation.agent_id)
    started = rollups.message_key(
        scope.tenant_id, agent, conversation.channel, conversation.created_at
    )
    rollups.add_deltas(pending, started, {"conversations": -1})
    scope.session.execute(CONVERSATIONS.delete().where(CONVERSATIONS.c.id == conversation_id))
    rollups.apply(scope.session, pending)
    _reset_last_conversation(scope, started)
    rollups.prune(scope.session, pending)


def _reset_last_conversation(scope: Scope, key: rollups.Key) -> None:
    """The latest conversation of a rollup row and of its totals row, from those that remain."""
    start = datetime.combine(key[1], time(), UTC)
    c = CONVERSATIONS.c
    same = [c.tenant_id == key[0], c.agent_id == key[2], c.channel == key[3]]
    that_day = [c.created_at >= start, c.created_at < start + timedelta(days=1)]
    for table, names, values, where in (
        (ROLLUPS, rollups.KEY, key, [*same, *that_day]),
        (TOTALS, rollups.TOTAL_KEY, rollups.total_key(key), same),
    ):
        latest = select(func.max(c.created_at)).where(*where).scalar_subquery()
        match = [table.c[n] == v for n, v in zip(names, values, strict=True)]
        scope.session.execute(update(table).where(*match).values(last_conversation_at=latest))
