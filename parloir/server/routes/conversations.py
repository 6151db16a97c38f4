"""Conversations: open (get or create), read, list with filters and a cursor, update, context."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import AwareDatetime

from parloir.errors import InvalidInputError
from parloir.inputs import ConversationFields, ConversationUpdate
from parloir.schemas import ConversationRead, Page
from parloir.server.deps import Reader, Writer
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.server.scoping import agent_filter, own_conversation
from parloir.validation import Text

router = APIRouter(prefix="/v1/conversations", tags=["conversations"], route_class=IdempotentRoute)
R = responses(403, 404, 409)
MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.post(
    "",
    response_model=ConversationRead,
    status_code=201,
    responses={**R, 200: {"model": ConversationRead, "description": "Found"}},
)
def open_conversation(
    ctx: Writer, body: Annotated[ConversationFields, Body()], response: Response
) -> ConversationRead:
    """The conversation (agent, channel, external_id), created if new (201) or found (200)."""
    own = ctx.principal.agent_id
    if own is not None and body["agent_id"] != own:
        raise InvalidInputError.single("agent_id", "exists", "no such agent for this key")
    conversation = ctx.store.get_or_create_conversation(**body)
    if conversation.created:
        ctx.audit("conversation.create", "conversation", conversation.id)
    else:
        response.status_code = 200
    return conversation


@router.get("", response_model=Page[ConversationRead], responses=R)
def list_conversations(
    ctx: Reader,
    agent_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    channel: Annotated[Text | None, Query(max_length=32)] = None,
    status: Literal["active", "archived", "blocked"] | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 50,
    cursor: Annotated[Text | None, Query(max_length=64)] = None,
) -> Page[ConversationRead]:
    """Conversations newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    return ctx.store.list_conversations(
        agent_id=agent_filter(ctx, agent_id),
        contact_id=contact_id,
        channel=channel,
        status=status,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/{conversation_id}", response_model=ConversationRead, responses=R)
def get_conversation(ctx: Reader, conversation_id: uuid.UUID) -> ConversationRead:
    return own_conversation(ctx, conversation_id)


@router.patch("/{conversation_id}", response_model=ConversationRead, responses=R)
def update_conversation(
    ctx: Writer, conversation_id: uuid.UUID, body: Annotated[ConversationUpdate, Body()]
) -> ConversationRead:
    """Change status (active/archived/blocked), title, metadata or contact."""
    own_conversation(ctx, conversation_id)
    conversation = ctx.store.update_conversation(conversation_id, **body)
    ctx.audit("conversation.update", "conversation", conversation_id, fields=sorted(body))
    return conversation


@router.get("/{conversation_id}/context", response_model=list[dict[str, Any]], responses=R)
def context(
    ctx: Reader,
    conversation_id: uuid.UUID,
    max_messages: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    max_tokens: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
) -> list[dict[str, Any]]:
    """The OpenAI-format message list for the next model call."""
    own_conversation(ctx, conversation_id)
    return ctx.store.context(conversation_id, max_messages=max_messages, max_tokens=max_tokens)
