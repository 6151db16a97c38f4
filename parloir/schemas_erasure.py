"""Records returned by erasure and retention."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from parloir.schemas import Record

__all__ = [
    "CompactionReport",
    "ErasureReport",
    "RetentionPolicyRead",
    "RetentionReport",
]


class ErasureReport(Record):
    """What erasing one contact removed (counts only; the ids are in the journal)."""

    contact_id: uuid.UUID
    already_erased: bool
    journal_id: uuid.UUID | None
    conversations: int = 0
    messages: int = 0
    sessions: int = 0
    retrievals: int = 0
    feedback: int = 0
    posts: int = 0
    audit_events: int = 0
    llm_calls_scrubbed: int = 0


class CompactionReport(Record):
    """What the byte-level procedure did after an erasure or a retention run."""

    dialect: str
    steps: list[str]
    fts_rebuilt: bool = False
    wal_busy: bool = False


class RetentionPolicyRead(Record):
    """An agent's retention policy (days; None: keep for ever)."""

    agent_id: uuid.UUID
    drop_content_after_days: int | None
    delete_after_days: int | None
    created_at: datetime
    updated_at: datetime


class RetentionReport(Record):
    """What a retention run removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    conversations_deleted: int = 0
    messages_deleted: int = 0
    messages_emptied: int = 0
    llm_calls_scrubbed: int = 0
    sessions_purged: int = 0
    auto_vacuum: str | None = None
    pages_freed: int = 0
    agents: list[uuid.UUID] = Field(default_factory=list)
