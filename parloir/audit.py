"""Audit events (who did what, under which correlation id) and outbound posts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update

from parloir.db.models import Agent, AuditEvent, Contact, Post
from parloir.errors import InvalidInputError
from parloir.ids import uuid7
from parloir.inputs import AuditEventFields, PostFields
from parloir.schemas import AuditEventRead, Page, PostRead
from parloir.scope import Scope, to_record

__all__ = [
    "create_post",
    "get_post",
    "list_audit_events",
    "list_due_posts",
    "list_posts",
    "record_audit_event",
    "set_post_status",
]

EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
POSTS: Table = Post.__table__  # type: ignore[assignment]
AGENTS: Table = Agent.__table__  # type: ignore[assignment]
CONTACTS: Table = Contact.__table__  # type: ignore[assignment]

# Which status a post may move to from which.
TRANSITIONS = {
    "scheduled": {"draft", "scheduled", "failed"},
    "published": {"draft", "scheduled", "failed"},
    "failed": {"draft", "scheduled", "failed"},
    "draft": {"scheduled", "failed"},
}


def record_audit_event(scope: Scope, data: AuditEventFields) -> AuditEventRead:
    row: dict[str, Any] = {c.name: None for c in EVENTS.c}
    row.update({**data, "id": uuid7(), "tenant_id": scope.tenant_id})
    row["metadata"] = data.get("metadata") or {}
    row["created_at"] = data.get("created_at") or scope.now()
    scope.session.execute(EVENTS.insert().values(row))
    return AuditEventRead.model_validate(row)


def list_audit_events(
    scope: Scope,
    *,
    event_type: str | None,
    correlation_id: str | None,
    subject_type: str | None,
    subject_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEventRead]:
    """Audit events newest first, filtered."""
    e = EVENTS.c
    query = select(EVENTS).where(e.tenant_id == scope.tenant_id)
    for column, value in (
        (e.event_type, event_type),
        (e.correlation_id, correlation_id),
        (e.subject_type, subject_type),
        (e.subject_id, subject_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(e.created_at >= since)
    if until is not None:
        query = query.where(e.created_at < until)
    items, nxt = scope.page(query, EVENTS, limit=limit, cursor=cursor, record=AuditEventRead)
    return Page[AuditEventRead](items=items, next_cursor=nxt)


def create_post(scope: Scope, data: PostFields) -> PostRead:
    """A draft, or a scheduled post when ``scheduled_for`` is given."""
    scope.require(AGENTS, data.get("agent_id"), "agent", "agent_id")
    scope.require(CONTACTS, data.get("contact_id"), "contact", "contact_id")
    now = scope.now()
    row: dict[str, Any] = {c.name: None for c in POSTS.c}
    row.update({**data, "id": uuid7(), "tenant_id": scope.tenant_id})
    row.update(metadata=data.get("metadata") or {}, created_at=now, updated_at=now)
    row["status"] = "scheduled" if data.get("scheduled_for") else "draft"
    scope.session.execute(POSTS.insert().values(row))
    return PostRead.model_validate(row)


def get_post(scope: Scope, post_id: uuid.UUID) -> PostRead:
    return to_record(PostRead, scope.get_row(POSTS, post_id, "post"))


def set_post_status(scope: Scope, post_id: uuid.UUID, status: str, **values: Any) -> PostRead:
    """Move a post along draft -> scheduled -> published / failed."""
    row = scope.get_row(POSTS, post_id, "post", lock=True)
    if row.status not in TRANSITIONS[status]:
        raise InvalidInputError.single(
            "status", "transition", f"a {row.status} post cannot become {status}"
        )
    values = {**values, "status": status, "updated_at": scope.now()}
    scope.session.execute(update(POSTS).where(POSTS.c.id == post_id).values(**values))
    return to_record(PostRead, row, **values)


def list_due_posts(scope: Scope, *, now: datetime, limit: int) -> list[PostRead]:
    """Scheduled posts whose time has come, oldest first."""
    p = POSTS.c
    rows = scope.session.execute(
        select(POSTS)
        .where(p.tenant_id == scope.tenant_id, p.status == "scheduled", p.scheduled_for <= now)
        .order_by(p.scheduled_for)
        .limit(limit)
    ).all()
    return [to_record(PostRead, row) for row in rows]


def list_posts(
    scope: Scope, *, status: str | None, limit: int, cursor: str | None
) -> Page[PostRead]:
    p = POSTS.c
    query = select(POSTS).where(p.tenant_id == scope.tenant_id)
    if status is not None:
        query = query.where(p.status == status)
    items, nxt = scope.page(query, POSTS, limit=limit, cursor=cursor, record=PostRead)
    return Page[PostRead](items=items, next_cursor=nxt)
