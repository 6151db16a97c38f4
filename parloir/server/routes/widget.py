"""The web widget: a public key that can only open conversations and add user messages.

``POST /v1/widget/conversations`` opens a new conversation of the key's agent on the ``web``
channel and answers a conversation token (shown once, stored hashed). Each
``POST /v1/widget/conversations/{id}/messages`` must carry it in ``X-Conversation-Token``; a
conversation the key did not open, or a wrong token, answers 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from parloir.errors import NotFoundError
from parloir.ids import uuid7
from parloir.schemas import ConversationRead, MessageRead
from parloir.server.deps import KeyCtx
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.validation import Json, Text

router = APIRouter(prefix="/v1/widget", tags=["widget"], route_class=IdempotentRoute)
R = responses(403, 404, 409)


class WidgetOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[Text, Field(max_length=500)] | None = None
    metadata: Json | None = None


class WidgetOpened(BaseModel):
    conversation: ConversationRead
    token: str
    """Send it back in ``X-Conversation-Token`` with each message."""


class WidgetMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: Text
    idempotency_key: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    metadata: Json | None = None


@router.post("/conversations", response_model=WidgetOpened, status_code=201, responses=R)
def open_conversation(ctx: KeyCtx, body: WidgetOpen | None = None) -> WidgetOpened:
    """Open a new conversation of this key's agent and get its token."""
    assert ctx.principal.agent_id is not None and ctx.principal.key_id is not None
    conversation = ctx.store.get_or_create_conversation(
        agent_id=ctx.principal.agent_id,
        channel="web",
        external_id=f"widget-{uuid7()}",
        title=body.title if body else None,
        metadata=body.metadata if body else None,
    )
    token = ctx.store.create_widget_token(conversation.id, ctx.principal.key_id)
    ctx.audit("conversation.create", "conversation", conversation.id, via="widget")
    return WidgetOpened(conversation=conversation, token=token)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageRead,
    status_code=201,
    responses={**R, 200: {"model": MessageRead, "description": "Already stored"}},
)
def append_user_message(
    ctx: KeyCtx,
    conversation_id: uuid.UUID,
    body: WidgetMessage,
    response: Response,
    x_conversation_token: Annotated[str, Header(max_length=200)],
) -> MessageRead:
    """Add a user message to a conversation this key opened."""
    assert ctx.principal.key_id is not None
    if not ctx.store.check_widget_token(
        conversation_id, ctx.principal.key_id, x_conversation_token
    ):
        raise NotFoundError("conversation", conversation_id)
    message = ctx.store.append_message_audited(
        conversation_id,
        ctx.event("message.create", "message", via="widget"),
        role="user",
        content=body.content,
        idempotency_key=body.idempotency_key,
        metadata=body.metadata,
    )
    if message.duplicate:
        response.status_code = 200
    return message
