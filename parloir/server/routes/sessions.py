"""Sessions: a JSON context under a key, with an expiry.

A bot key's sessions live in a namespace of its own agent (``agent:<id>:<key>``), so that two
bots of one tenant never read each other's state; users see the tenant's keys as stored.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from parloir.errors import NotFoundError
from parloir.schemas import SessionRead
from parloir.server.deps import Context, Reader, Writer
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.server.scoping import guard_conversation
from parloir.validation import Json, JsonValue, Text

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=IdempotentRoute)
R = responses(403, 404, 409)
Key = Annotated[Text, Path(min_length=1, max_length=200)]


class SessionSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context: JsonValue
    ttl_seconds: Annotated[int, Field(ge=1, le=10 * 365 * 86400, strict=True)] | None = None
    expires_at: AwareDatetime | None = None
    conversation_id: uuid.UUID | None = None
    metadata: Json | None = None


def _key(ctx: Context, key: str) -> str:
    agent = ctx.principal.agent_id
    return key if agent is None else f"agent:{agent}:{key}"


def _shown(ctx: Context, session: SessionRead, key: str) -> SessionRead:
    return session if ctx.principal.agent_id is None else session.model_copy(update={"key": key})


@router.put("/{key}", response_model=SessionRead, responses=R)
def set_session(ctx: Writer, key: Key, body: SessionSet) -> SessionRead:
    """Store ``context`` under ``key``, for ``ttl_seconds`` or until ``expires_at``."""
    if body.conversation_id is not None:
        guard_conversation(ctx, body.conversation_id)
    stored = ctx.store.set_session(
        _key(ctx, key),
        body.context,
        ttl=body.ttl_seconds,
        expires_at=body.expires_at,
        conversation_id=body.conversation_id,
        metadata=body.metadata,
    )
    ctx.audit("session.set", "session", stored.id)
    return _shown(ctx, stored, key)


@router.get("/{key}", response_model=SessionRead, responses=R)
def get_session(ctx: Reader, key: Key) -> SessionRead:
    """The live session ``key`` (404 if missing or expired)."""
    found = ctx.store.get_session(_key(ctx, key))
    if found is None:
        raise NotFoundError("session", key)
    return _shown(ctx, found, key)


@router.delete("/{key}", status_code=204, responses=R)
def delete_session(ctx: Writer, key: Key) -> Response:
    """Delete the session (404 if there was no live one)."""
    if not ctx.store.delete_session(_key(ctx, key)):
        raise NotFoundError("session", key)
    ctx.audit("session.delete", "session", key)
    return Response(status_code=204)
