"""Store methods for the usage ledger, sessions, audit events, posts and totals."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Unpack

from parloir import audit, sessions, stats, usage
from parloir.errors import ConflictError
from parloir.inputs import (
    AuditEventFields,
    FeedbackFields,
    LLMCallFields,
    PostFields,
    RetrievalFields,
    SessionFields,
)
from parloir.schemas import (
    AuditEventRead,
    FeedbackRead,
    LLMCallRead,
    Page,
    PostRead,
    RetrievalRead,
    SessionRead,
    Totals,
)
from parloir.store_base import StoreBase
from parloir.validation import require_aware, validate

__all__ = ["LedgerMixin"]


class LedgerMixin(StoreBase):
    def record_llm_call(self, **fields: Unpack[LLMCallFields]) -> LLMCallRead:
        """Record one model call (priced with genai-prices when no ``cost_nanos`` is given)."""
        data = validate(LLMCallFields, fields)
        if "cost_nanos" in fields and fields["cost_nanos"] is None:
            data["cost_nanos"] = None  # said explicitly: the cost is unknown, never priced
        try:
            with self._write() as scope:
                return usage.record_llm_call(scope, data)
        except ConflictError:
            key = data.get("idempotency_key")
            with self._read() as scope:
                stored = usage.find_llm_call_by_key(scope, key) if key else None
            if stored is None:
                raise
            return stored

    def list_llm_calls(
        self,
        *,
        conversation_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[LLMCallRead]:
        """Model calls of this tenant, newest first, filtered."""
        with self._read() as scope:
            return usage.list_llm_calls(
                scope,
                conversation_id=conversation_id,
                message_id=message_id,
                agent_id=agent_id,
                limit=limit,
                cursor=cursor,
            )

    def record_retrieval(self, **fields: Unpack[RetrievalFields]) -> RetrievalRead:
        """Record a document used by an LLM call or a message (source, preview, score)."""
        data = validate(RetrievalFields, fields)
        with self._write() as scope:
            return usage.record_retrieval(scope, data)

    def list_retrievals(
        self, *, llm_call_id: uuid.UUID | None = None, message_id: uuid.UUID | None = None
    ) -> list[RetrievalRead]:
        """The retrievals of this tenant."""
        with self._read() as scope:
            return usage.list_retrievals(scope, llm_call_id=llm_call_id, message_id=message_id)

    def add_feedback(
        self,
        message_id: uuid.UUID | None = None,
        *,
        conversation_id: uuid.UUID | None = None,
        **fields: Unpack[FeedbackFields],
    ) -> FeedbackRead:
        """Rate or comment a message, or a whole conversation (rating -1..5)."""
        data = validate(FeedbackFields, fields)
        with self._write() as scope:
            return usage.add_feedback(
                scope, message_id=message_id, conversation_id=conversation_id, data=data
            )

    def list_feedback(
        self, *, message_id: uuid.UUID | None = None, conversation_id: uuid.UUID | None = None
    ) -> list[FeedbackRead]:
        """Feedback of this tenant, on one message or one conversation."""
        with self._read() as scope:
            return usage.list_feedback(
                scope, message_id=message_id, conversation_id=conversation_id
            )

    def set_session(
        self,
        key: str,
        context: Any,
        *,
        ttl: timedelta | float | None = None,
        expires_at: datetime | None = None,
        conversation_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> SessionRead:
        """Store ``context`` (any JSON value) under ``key``.

        The session expires after ``ttl`` (seconds or a timedelta) or at ``expires_at``
        (for imports); with neither it lives until deleted.
        """
        require_aware("expires_at", expires_at)
        checked = validate(SessionFields, {"key": key, "context": context, "metadata": metadata})
        if isinstance(ttl, int | float):
            ttl = timedelta(seconds=ttl)
        with self._write() as scope:
            return sessions.set_session(
                scope,
                checked["key"],
                checked["context"],
                ttl=ttl,
                expires_at=expires_at,
                conversation_id=conversation_id,
                metadata=checked.get("metadata"),
            )

    def get_session(self, key: str) -> SessionRead | None:
        """The session ``key``, or None if missing or expired."""
        with self._read() as scope:
            return sessions.get_session(scope, key)

    def delete_session(self, key: str) -> bool:
        """Delete the session; True if a live one was there."""
        with self._write() as scope:
            return sessions.delete_session(scope, key)

    def purge_sessions(self, *, all_tenants: bool = False) -> int:
        """Delete expired sessions; return how many were removed."""
        with self._admin(write=True) if all_tenants else self._write() as scope:
            return sessions.purge_sessions(scope, all_tenants=all_tenants)

    def record_audit_event(self, **fields: Unpack[AuditEventFields]) -> AuditEventRead:
        """Record an audit event: type, actor, correlation id, subject, metadata."""
        data = validate(AuditEventFields, fields)
        with self._write() as scope:
            return audit.record_audit_event(scope, data)

    def list_audit_events(
        self,
        *,
        event_type: str | None = None,
        correlation_id: str | None = None,
        subject_type: str | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AuditEventRead]:
        """Audit events newest first, filtered by type, correlation id, subject and time."""
        require_aware("since", since)
        require_aware("until", until)
        with self._read() as scope:
            return audit.list_audit_events(
                scope,
                event_type=event_type,
                correlation_id=correlation_id,
                subject_type=subject_type,
                subject_id=subject_id,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )

    def create_post(self, **fields: Unpack[PostFields]) -> PostRead:
        """A draft post, or a scheduled one when ``scheduled_for`` is given."""
        data = validate(PostFields, fields)
        with self._write() as scope:
            return audit.create_post(scope, data)

    def get_post(self, post_id: uuid.UUID) -> PostRead:
        """One post of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return audit.get_post(scope, post_id)

    def schedule_post(self, post_id: uuid.UUID, at: datetime) -> PostRead:
        """Schedule a post for ``at``."""
        require_aware("at", at)
        with self._write() as scope:
            return audit.set_post_status(scope, post_id, "scheduled", scheduled_for=at)

    def mark_post_published(
        self, post_id: uuid.UUID, *, external_id: str | None = None, at: datetime | None = None
    ) -> PostRead:
        """Mark the post as published."""
        require_aware("at", at)
        with self._write() as scope:
            values: dict[str, Any] = {"published_at": at or scope.now(), "error_message": None}
            if external_id is not None:
                values["external_id"] = external_id
            return audit.set_post_status(scope, post_id, "published", **values)

    def mark_post_failed(self, post_id: uuid.UUID, error: str) -> PostRead:
        """Mark the post as failed."""
        validate(PostFields, {"content": error, "channel": "x"})
        with self._write() as scope:
            return audit.set_post_status(scope, post_id, "failed", error_message=error)

    def list_due_posts(self, *, now: datetime | None = None, limit: int = 100) -> list[PostRead]:
        """Scheduled posts due at ``now`` (default: the store's clock)."""
        require_aware("now", now)
        with self._read() as scope:
            return audit.list_due_posts(scope, now=now or scope.now(), limit=limit)

    def list_posts(
        self, *, status: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[PostRead]:
        """The posts of this tenant."""
        with self._read() as scope:
            return audit.list_posts(scope, status=status, limit=limit, cursor=cursor)

    def totals(self, *, all_tenants: bool = False) -> Totals:
        """Counts and usage sums over this tenant's raw rows (or every tenant's)."""
        with self._admin(write=False) if all_tenants else self._read() as scope:
            return stats.totals(scope, all_tenants=all_tenants)
