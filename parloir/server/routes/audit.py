"""Audit events: who changed what, under which request id (read only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from parloir.schemas import AuditEventRead, Page
from parloir.server.deps import UserReader
from parloir.server.problems import responses
from parloir.validation import Text

router = APIRouter(prefix="/v1/audit-events", tags=["audit events"])
ShortQuery = Annotated[Text | None, Query(max_length=255)]


@router.get("", response_model=Page[AuditEventRead], responses=responses(403))
def list_audit_events(
    ctx: UserReader,
    event_type: Annotated[Text | None, Query(max_length=100)] = None,
    correlation_id: ShortQuery = None,
    subject_type: Annotated[Text | None, Query(max_length=64)] = None,
    subject_id: ShortQuery = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[Text | None, Query(max_length=64)] = None,
) -> Page[AuditEventRead]:
    """Audit events newest first; ``correlation_id`` is the ``X-Request-ID`` of the change."""
    return ctx.store.list_audit_events(
        event_type=event_type,
        correlation_id=correlation_id,
        subject_type=subject_type,
        subject_id=subject_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
