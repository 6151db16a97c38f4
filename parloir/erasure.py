"""Erasing one person: their contact, conversations, messages and everything tied to them.

One transaction removes the contact, its conversations with their messages (the SQLite FTS
triggers send the index its ``'delete'`` before each message row goes; on PostgreSQL the
search vector is a column of the row), sessions, widget tokens, retrievals, feedback, posts
addressed to the contact, the audit events about any of these, and the server's stored
idempotent answers that mention them. Model calls stay in the usage ledger (money was spent)
with their prompt, response, error text and metadata removed and their links to deleted rows
set to NULL. The statistics keep their totals: the rollups are not decremented, and the
removed conversations' counters go to ``rollup_residues`` (``parloir.residues``).

The same transaction writes a journal entry (the ids erased, no content) and an audit event
whose subject is the journal entry, so that nothing left points back at the person.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, false, null, or_, select, update

from parloir import residues, rollups, rollups_fold
from parloir.db.tables import (
    AUDIT_EVENTS,
    CONTACTS,
    CONVERSATIONS,
    FEEDBACK,
    LLM_CALLS,
    MESSAGES,
    POSTS,
    RETRIEVALS,
    SESSIONS,
)
from parloir.db.tables_erasure import JOURNAL
from parloir.db.tables_server import IDEMPOTENCY_RECORDS, WIDGET_TOKENS
from parloir.errors import NotFoundError
from parloir.ids import uuid7
from parloir.rollups_rebuild import conversations_messages
from parloir.schemas_erasure import ErasureReport
from parloir.scope import Scope

__all__ = ["CHUNK", "Targets", "erase_contact", "journal_entry", "replay_entry", "retire"]

CHUNK = 500
"""Ids per ``IN (...)`` list."""


@dataclass
class Targets:
    """The rows one erasure removes (or scrubs, for model calls)."""

    contact_id: uuid.UUID
    contact_exists: bool
    conversations: list[Any] = field(default_factory=list)
    message_ids: list[uuid.UUID] = field(default_factory=list)
    post_ids: list[uuid.UUID] = field(default_factory=list)
    call_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def conversation_ids(self) -> list[uuid.UUID]:
        return [row.id for row in self.conversations]

    def empty(self) -> bool:
        return not (self.contact_exists or self.conversations or self.post_ids or self.call_ids)


def chunks(ids: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _ids(scope: Scope, column: Any, *conditions: Any) -> list[uuid.UUID]:
    query = select(column).where(column.table.c.tenant_id == scope.tenant_id, or_(*conditions))
    return list(scope.session.execute(query).scalars())


def collect(
    scope: Scope, contact_id: uuid.UUID, listed: Mapping[str, Sequence[str]] | None = None
) -> Targets:
    """Find the rows of a contact (and, on replay, the rows its journal entry lists)."""
    listed = listed or {}

    def also(column: Any, name: str) -> Any:
        values = [uuid.UUID(v) for v in listed.get(name, [])]
        return column.in_(values) if values else false()

    # PostgreSQL: lock the contact (a new conversation or feedback naming it waits, then
    # fails) and its conversations (an append waits, then finds none), so that nothing
    # written meanwhile escapes the erasure or its residues. SQLite has one writer.
    lock = scope.dialect == "postgresql"
    contact = select(CONTACTS.c.id).where(
        CONTACTS.c.tenant_id == scope.tenant_id, CONTACTS.c.id == contact_id
    )
    exists = scope.session.execute(contact.with_for_update() if lock else contact).first()
    c = CONVERSATIONS.c
    query = select(c.id, c.agent_id, c.channel, c.created_at).where(
        c.tenant_id == scope.tenant_id,
        or_(c.contact_id == contact_id, also(c.id, "conversations")),
    )
    conversations = list(scope.session.execute(query.with_for_update() if lock else query))
    targets = Targets(contact_id, exists is not None, conversations)
    for ids in chunks(targets.conversation_ids):
        targets.message_ids += _ids(scope, MESSAGES.c.id, MESSAGES.c.conversation_id.in_(ids))
    targets.post_ids = _ids(
        scope, POSTS.c.id, POSTS.c.contact_id == contact_id, also(POSTS.c.id, "posts")
    )
    k = LLM_CALLS.c
    found: set[uuid.UUID] = set(_ids(scope, k.id, also(k.id, "llm_calls")))
    for column, values in (
        (k.conversation_id, targets.conversation_ids),
        (k.message_id, targets.message_ids),
        (k.post_id, targets.post_ids),
    ):
        for ids in chunks(values):
            found.update(_ids(scope, k.id, column.in_(ids)))
    targets.call_ids = sorted(found)
    return targets


def _delete(scope: Scope, table: Any, column: Any, values: Sequence[Any]) -> int:
    count = 0
    for ids in chunks(values):
        statement = delete(table).where(table.c.tenant_id == scope.tenant_id, column.in_(ids))
        count += scope.session.execute(statement).rowcount
    return count


def retire(scope: Scope, conversations: Sequence[Any]) -> int:
    """Delete conversations and their messages, keeping their counts as residues.

    ``conversations`` are rows with ``id``, ``agent_id``, ``channel`` and ``created_at``.
    Sessions, widget tokens, feedback and retrievals go by their foreign keys' cascade; the
    messages are deleted first, explicitly, so that the search index is told of each one.
    Returns the number of messages deleted.
    """
    ids = [row.id for row in conversations]
    rollups_fold.fold(scope.session)  # residues count only what the rollups counted
    pending: dict[rollups.Key, rollups.Deltas] = {}
    last: dict[rollups.Key, Any] = {}
    for part in chunks(ids):
        for key, deltas in conversations_messages(scope.session, scope.tenant_id, part).items():
            rollups.add_deltas(pending, key, deltas)
    for row in conversations:
        agent = row.agent_id if isinstance(row.agent_id, uuid.UUID) else uuid.UUID(row.agent_id)
        key = rollups.message_key(scope.tenant_id, agent, row.channel, row.created_at)
        rollups.add_deltas(pending, key, {"conversations": 1})
        if last.get(key) is None or row.created_at > last[key]:
            last[key] = row.created_at
    residues.record(scope.session, pending, last)
    messages = _delete(scope, MESSAGES, MESSAGES.c.conversation_id, ids)
    _delete(scope, CONVERSATIONS, CONVERSATIONS.c.id, ids)
    return messages


def scrub_calls(scope: Scope, call_ids: Sequence[uuid.UUID]) -> int:
    """Remove a model call's personal text and its links; its figures stay."""
    count = 0
    for ids in chunks(call_ids):
        statement = (
            update(LLM_CALLS)
            .where(LLM_CALLS.c.tenant_id == scope.tenant_id, LLM_CALLS.c.id.in_(ids))
            .values(
                prompt=null(),
                response=null(),
                error_message=null(),
                metadata={},
                conversation_id=None,
                message_id=None,
                post_id=None,
            )
        )
        count += scope.session.execute(statement).rowcount
    return count


def _audit_matches(scope: Scope, targets: Targets) -> list[uuid.UUID]:
    """Audit events about the erased rows: by subject, or naming them in their metadata."""
    e = AUDIT_EVENTS.c
    subjects = [
        str(v)
        for v in (
            targets.contact_id,
            *targets.conversation_ids,
            *targets.message_ids,
            *targets.post_ids,
        )
    ]
    found: set[uuid.UUID] = set()
    for part in chunks(subjects):
        found.update(_ids(scope, e.id, e.subject_id.in_(part)))
    named = [str(targets.contact_id), *map(str, targets.conversation_ids)]
    text = cast(e.metadata, Text)
    for part in chunks(named):
        conditions = [text.contains(v) for v in part] + [e.correlation_id.in_(part)]
        found.update(_ids(scope, e.id, *conditions))
    return sorted(found)


def _idempotent_answers(scope: Scope, targets: Targets) -> list[uuid.UUID]:
    """The server's replayable answers that mention the contact or one of its conversations."""
    needles = [str(v).encode() for v in (targets.contact_id, *targets.conversation_ids)]
    i = IDEMPOTENCY_RECORDS.c
    rows = scope.session.execute(
        select(i.id, i.body).where(i.tenant_id == scope.tenant_id, i.body.is_not(None))
    )
    return [row.id for row in rows if any(n in bytes(row.body) for n in needles)]


def purge(scope: Scope, targets: Targets) -> dict[str, int]:
    """Remove every row of ``targets``; return counts per kind."""
    conv, msgs = targets.conversation_ids, targets.message_ids
    counts = {"audit_events": len(audit := _audit_matches(scope, targets))}
    answers = _idempotent_answers(scope, targets)
    counts["retrievals"] = _delete(scope, RETRIEVALS, RETRIEVALS.c.message_id, msgs) + _delete(
        scope, RETRIEVALS, RETRIEVALS.c.llm_call_id, targets.call_ids
    )
    counts["feedback"] = (
        _delete(scope, FEEDBACK, FEEDBACK.c.contact_id, [targets.contact_id])
        + _delete(scope, FEEDBACK, FEEDBACK.c.conversation_id, conv)
        + _delete(scope, FEEDBACK, FEEDBACK.c.message_id, msgs)
    )
    counts["llm_calls_scrubbed"] = scrub_calls(scope, targets.call_ids)
    counts["sessions"] = _delete(scope, SESSIONS, SESSIONS.c.conversation_id, conv)
    _delete(scope, WIDGET_TOKENS, WIDGET_TOKENS.c.conversation_id, conv)
    counts["messages"] = retire(scope, targets.conversations)
    counts["conversations"] = len(conv)
    counts["posts"] = _delete(scope, POSTS, POSTS.c.id, targets.post_ids)
    _delete(scope, AUDIT_EVENTS, AUDIT_EVENTS.c.id, audit)
    _delete(scope, IDEMPOTENCY_RECORDS, IDEMPOTENCY_RECORDS.c.id, answers)
    _delete(scope, CONTACTS, CONTACTS.c.id, [targets.contact_id])
    return counts


def journal_entry(scope: Scope, targets: Targets) -> dict[str, Any]:
    """The journal entry of an erasure: ids only."""
    erased = {
        "conversations": [str(v) for v in targets.conversation_ids],
        "messages": [str(v) for v in targets.message_ids],
        "posts": [str(v) for v in targets.post_ids],
        "llm_calls": [str(v) for v in targets.call_ids],
    }
    return {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "subject_type": "contact",
        "subject_id": targets.contact_id,
        "erased": erased,
        "created_at": scope.now(),
    }


def _journaled(scope: Scope, contact_id: uuid.UUID) -> uuid.UUID | None:
    j = JOURNAL.c
    query = select(j.id).where(
        j.tenant_id == scope.tenant_id, j.subject_type == "contact", j.subject_id == contact_id
    )
    return scope.session.execute(query.order_by(j.id).limit(1)).scalar()


def erase_contact(
    scope: Scope,
    contact_id: uuid.UUID,
    *,
    actor: str | None,
    reason: str | None,
    correlation_id: str | None = None,
) -> tuple[ErasureReport, dict[str, Any] | None]:
    """Erase a contact; return the report and the journal entry written (None if none)."""
    targets = collect(scope, contact_id)
    if not targets.contact_exists:
        previous = _journaled(scope, contact_id)
        if previous is None:
            raise NotFoundError("contact", contact_id)
        report = ErasureReport(contact_id=contact_id, already_erased=True, journal_id=previous)
        return report, None
    counts = purge(scope, targets)
    entry = journal_entry(scope, targets)
    scope.session.execute(JOURNAL.insert().values(entry))
    _audit(scope, "contact.erased", entry["id"], actor, reason, counts, correlation_id)
    report = ErasureReport(
        contact_id=contact_id, already_erased=False, journal_id=entry["id"], **counts
    )
    return report, entry


def _audit(
    scope: Scope,
    event_type: str,
    journal_id: uuid.UUID,
    actor: str | None,
    reason: str | None,
    counts: Mapping[str, int],
    correlation_id: str | None = None,
) -> None:
    meta: dict[str, Any] = {"counts": dict(counts)}
    if reason:
        meta["reason"] = reason
    scope.session.execute(
        AUDIT_EVENTS.insert().values(
            id=uuid7(),
            tenant_id=scope.tenant_id,
            event_type=event_type,
            actor=actor,
            correlation_id=correlation_id,
            subject_type="erasure",
            subject_id=str(journal_id),
            metadata=meta,
            created_at=scope.now(),
        )
    )


def replay_entry(scope: Scope, entry: Mapping[str, Any]) -> bool:
    """Apply a journal entry again (after a restore); True if anything was removed.

    The entry is written back to the journal table if the database lacks it.
    """
    entry_id = uuid.UUID(str(entry["id"]))
    known = scope.session.execute(select(JOURNAL.c.id).where(JOURNAL.c.id == entry_id)).first()
    if known is None:
        row = dict(entry)
        row["id"] = entry_id
        row["tenant_id"] = scope.tenant_id
        row["subject_id"] = uuid.UUID(str(entry["subject_id"]))
        if isinstance(row["created_at"], str):
            row["created_at"] = datetime.fromisoformat(row["created_at"])
        scope.session.execute(JOURNAL.insert().values(row))
    targets = collect(scope, uuid.UUID(str(entry["subject_id"])), entry["erased"])
    if targets.empty():
        return False
    counts = purge(scope, targets)
    _audit(scope, "contact.erasure_replayed", entry_id, None, None, counts)
    return True


def plain(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A journal entry as JSON-ready data."""
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else _text(value)
        for key, value in entry.items()
    }


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value
