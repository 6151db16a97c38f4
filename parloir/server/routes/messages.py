"""Messages: append one or many, list (last, or after a sequence number), receipts."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from parloir.inputs import MessageFields
from parloir.schemas import MessageRead
from parloir.server.deps import Reader, Writer
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.server.scoping import guard_conversation, guard_message, own_message

router = APIRouter(prefix="/v1", tags=["messages"], route_class=IdempotentRoute)
R = responses(403, 404, 409)
MAX_MESSAGES = 1_000


class MessageBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: Annotated[list[MessageFields], Field(min_length=1, max_length=MAX_MESSAGES)]


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = None


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageRead,
    status_code=201,
    responses={**R, 200: {"model": MessageRead, "description": "Already stored"}},
)
async def append_message(
    ctx: Writer,
    conversation_id: uuid.UUID,
    body: Annotated[MessageFields, Body()],
    response: Response,
) -> MessageRead:
    """Append a message (201); a repeated idempotency_key or external_id returns it (200)."""
    event = ctx.event("message.create", "message", conversation_id=str(conversation_id))
    agent_id = ctx.principal.agent_id
    if ctx.store.groups_writes:
        # SQLite: the append joins the writer thread's next transaction (group commit).
        queued = ctx.store.queue_message_audited(conversation_id, event, agent_id=agent_id, **body)
        message = await asyncio.wrap_future(queued)
    else:
        message = await run_in_threadpool(
            functools.partial(ctx.store.append_message_audited, agent_id=agent_id, **body),
            conversation_id,
            event,
        )
    if message.duplicate:
        response.status_code = 200
    return message


@router.post(
    "/conversations/{conversation_id}/messages/bulk",
    response_model=list[MessageRead],
    status_code=201,
    responses=R,
)
def append_messages(
    ctx: Writer, conversation_id: uuid.UUID, body: MessageBatch
) -> list[MessageRead]:
    """Append several messages in order, all or nothing."""
    guard_conversation(ctx, conversation_id)
    stored = ctx.store.append_messages(conversation_id, [dict(item) for item in body.items])
    created = sum(1 for m in stored if not m.duplicate)
    ctx.audit("message.bulk_create", "conversation", conversation_id, created=created)
    return stored


@router.get(
    "/conversations/{conversation_id}/messages", response_model=list[MessageRead], responses=R
)
def list_messages(
    ctx: Reader,
    conversation_id: uuid.UUID,
    after_seq: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 100,
) -> list[MessageRead]:
    """The last ``limit`` messages (oldest first), or those after ``after_seq`` in order."""
    guard_conversation(ctx, conversation_id)
    if after_seq is None:
        return ctx.store.last_messages(conversation_id, limit)
    return ctx.store.messages_after(conversation_id, after_seq, limit)


@router.get("/messages/{message_id}", response_model=MessageRead, responses=R)
def get_message(ctx: Reader, message_id: uuid.UUID) -> MessageRead:
    return own_message(ctx, message_id)


@router.post("/messages/{message_id}/delivered", response_model=MessageRead, responses=R)
def mark_delivered(
    ctx: Writer, message_id: uuid.UUID, body: Annotated[Receipt | None, Body()] = None
) -> MessageRead:
    """Record that the message was delivered (the earliest time is kept)."""
    guard_message(ctx, message_id)
    message = ctx.store.mark_delivered(message_id, body.at if body else None)
    ctx.audit("message.delivered", "message", message_id)
    return message


@router.post("/messages/{message_id}/read", response_model=MessageRead, responses=R)
def mark_read(
    ctx: Writer, message_id: uuid.UUID, body: Annotated[Receipt | None, Body()] = None
) -> MessageRead:
    """Record that the message was read (and so delivered)."""
    guard_message(ctx, message_id)
    message = ctx.store.mark_read(message_id, body.at if body else None)
    ctx.audit("message.read", "message", message_id)
    return message
