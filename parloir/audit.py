"""Audit events (who did what, under which correlation id) and outbound posts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from parloir.db.tables import AGENTS, AUDIT_EVENTS, CONTACTS, POSTS
from parloir.errors import InvalidInputError
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


# Which status a post may move to from which.
TRANSITIONS = {
    "scheduled": {"draft", "scheduled", "failed"},
    "published": {"draft", "scheduled", "failed"},
    "failed": {"draft", "scheduled", "failed"},
    "draft": {"scheduled", "failed"},
}


def record_audit_event(scope: Scope, data: AuditEventFields) -> AuditEventRead:
    return scope.add(AUDIT_EVENTS, AuditEventRead, data)


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
    e = AUDIT_EVENTS.c
    query = select(AUDIT_EVENTS).where(e.tenant_id == scope.tenant_id)
    equal = [
        (e.event_type, event_type),
        (e.correlation_id, correlation_id),
        (e.subject_type, subject_type),
        (e.subject_id, subject_id),
    ]
    query = scope.filtered(query, equal, e.created_at, since, until)
    items, nxt = scope.page(query, AUDIT_EVENTS, limit=limit, cursor=cursor, record=AuditEventRead)
    return Page[AuditEventRead](items=items, next_cursor=nxt)


def create_post(scope: Scope, data: PostFields) -> PostRead:
    """A draft, or a scheduled post when ``scheduled_for`` is given."""
    scope.require(AGENTS, data.get("agent_id"), "agent", "agent_id")
    scope.require(CONTACTS, data.get("contact_id"), "contact", "contact_id")
    status = "scheduled" if data.get("scheduled_for") else "draft"
    return scope.add(POSTS, PostRead, data, status=status)


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
