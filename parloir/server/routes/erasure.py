"""Erasing a person (owners only) and per-agent retention policies (as ``parloir erase`` and
``parloir retention``).

An erasure's audit event is written by the library in the erasure's own transaction, with the
caller as actor and the request's ``X-Request-ID`` as correlation id; its subject is the
journal entry, so that nothing left points back at the person.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from parloir.schemas_erasure import (
    CompactionReport,
    ErasureReport,
    RetentionPolicyRead,
    RetentionReport,
)
from parloir.server.deps import UserAdmin, UserOwner
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.validation import Text

router = APIRouter(prefix="/v1", route_class=IdempotentRoute)
R = responses(403, 404)
Days = Annotated[int, Field(ge=1, le=36_500, strict=True)]
Reason = Annotated[
    Text, Field(max_length=1000, description="Why: kept in the audit event (no personal data).")
]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason | None = None


class ContactErasure(ErasureReport):
    """The erasure report, and what the byte-level procedure did (None if not run)."""

    compaction: CompactionReport | None = None


class RetentionUpdate(BaseModel):
    """An agent's whole policy: both ages omitted (or null) removes it."""

    model_config = ConfigDict(extra="forbid")
    drop_content_after_days: Days | None = None
    delete_after_days: Days | None = None


class AgentRetention(BaseModel):
    """An agent's retention policy (None: its data is kept for ever)."""

    model_config = ConfigDict(frozen=True)
    agent_id: uuid.UUID
    policy: RetentionPolicyRead | None


@router.post(
    "/contacts/{contact_id}/erase", response_model=ContactErasure, tags=["erasure"], responses=R
)
def erase_contact(
    ctx: UserOwner,
    contact_id: uuid.UUID,
    body: Annotated[ErasureRequest | None, Body()] = None,
    compact: bool = True,
) -> ContactErasure:
    """Erase a contact and everything tied to them, in one transaction (owners only).

    Model calls stay in the ledger without their prompts and responses; the statistics keep
    their totals. Then, unless ``compact=false``, the byte-level procedure runs (SQLite:
    ``VACUUM``, which holds the write lock meanwhile; PostgreSQL: ``VACUUM`` of the touched
    tables). Erasing again answers ``already_erased``.
    """
    report = ctx.store.erase_contact(
        contact_id,
        actor=ctx.principal.actor,
        reason=body.reason if body else None,
        correlation_id=ctx.request_id,
    )
    compaction = ctx.store.compact() if compact and not report.already_erased else None
    return ContactErasure(**report.model_dump(), compaction=compaction)


@router.get(
    "/agents/{agent_id}/retention", response_model=AgentRetention, tags=["retention"], responses=R
)
def get_retention(ctx: UserAdmin, agent_id: uuid.UUID) -> AgentRetention:
    """An agent's retention policy (owners and admins)."""
    ctx.store.get_agent(agent_id)
    return AgentRetention(agent_id=agent_id, policy=ctx.store.get_retention_policy(agent_id))


@router.put(
    "/agents/{agent_id}/retention", response_model=AgentRetention, tags=["retention"], responses=R
)
def set_retention(ctx: UserAdmin, agent_id: uuid.UUID, body: RetentionUpdate) -> AgentRetention:
    """Set an agent's retention policy: empty message content after ``drop_content_after_days``,
    delete conversations idle for ``delete_after_days`` (1 to 36,500 days)."""
    ctx.store.get_agent(agent_id)
    policy = ctx.store.set_retention_policy(
        agent_id,
        drop_content_after_days=body.drop_content_after_days,
        delete_after_days=body.delete_after_days,
    )
    ctx.audit("retention.set", "agent", agent_id, **body.model_dump())
    return AgentRetention(agent_id=agent_id, policy=policy)


@router.get(
    "/retention/policies",
    response_model=list[RetentionPolicyRead],
    tags=["retention"],
    responses=R,
)
def list_retention(ctx: UserAdmin) -> list[RetentionPolicyRead]:
    """Every retention policy of the tenant (owners and admins)."""
    return ctx.store.list_retention_policies()


@router.post("/retention/apply", response_model=RetentionReport, tags=["retention"], responses=R)
def apply_retention(ctx: UserOwner, dry_run: bool = False) -> RetentionReport:
    """Apply the tenant's retention policies now, in one transaction, and purge expired
    sessions (owners only); ``dry_run=true`` reports what would go and changes nothing."""
    report = ctx.store.apply_retention(dry_run=dry_run)
    if not dry_run:
        counts = report.model_dump(exclude={"dry_run", "agents", "auto_vacuum"})
        ctx.audit("retention.apply", "tenant", ctx.principal.tenant_id, **counts)
    return report
