"""Narrowing a bot key to its own agent: another agent's objects answer 404, like missing ones."""

from __future__ import annotations

import uuid

from parloir.errors import InvalidInputError, NotFoundError
from parloir.schemas import ConversationRead, LLMCallRead, MessageRead
from parloir.server.deps import Context

__all__ = [
    "agent_filter",
    "check_refs",
    "guard_conversation",
    "guard_message",
    "own_conversation",
    "own_llm_call",
    "own_message",
]


def own_conversation(ctx: Context, conversation_id: uuid.UUID) -> ConversationRead:
    """The conversation, if the caller may see it (a bot: only its agent's)."""
    conversation = ctx.store.get_conversation(conversation_id)
    agent = ctx.principal.agent_id
    if agent is not None and conversation.agent_id != agent:
        raise NotFoundError("conversation", conversation_id)
    return conversation


def own_message(ctx: Context, message_id: uuid.UUID) -> MessageRead:
    message = ctx.store.get_message(message_id)
    if ctx.principal.agent_id is not None:
        try:
            own_conversation(ctx, message.conversation_id)
        except NotFoundError:
            raise NotFoundError("message", message_id) from None
    return message


def own_llm_call(ctx: Context, llm_call_id: uuid.UUID) -> LLMCallRead:
    call = ctx.store.get_llm_call(llm_call_id)
    agent = ctx.principal.agent_id
    if agent is not None and call.agent_id != agent:
        raise NotFoundError("llm call", llm_call_id)
    return call


def agent_filter(ctx: Context, agent_id: uuid.UUID | None) -> uuid.UUID | None:
    """The agent filter of a listing: a bot always lists its own agent only."""
    own = ctx.principal.agent_id
    if own is None:
        return agent_id
    if agent_id is not None and agent_id != own:
        raise NotFoundError("agent", agent_id)
    return own


def check_refs(
    ctx: Context,
    *,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    llm_call_id: uuid.UUID | None = None,
) -> None:
    """For a bot, every referenced object must be its agent's (else the field is invalid)."""
    if ctx.principal.agent_id is None:
        return
    checks = (
        ("conversation_id", conversation_id, own_conversation),
        ("message_id", message_id, own_message),
        ("llm_call_id", llm_call_id, own_llm_call),
    )
    for field, value, check in checks:
        if value is None:
            continue
        try:
            check(ctx, value)
        except NotFoundError:
            raise InvalidInputError.single(
                field, "exists", f"no {field[:-3].replace('_', ' ')} {value} in this tenant"
            ) from None


def guard_conversation(ctx: Context, conversation_id: uuid.UUID) -> None:
    """For a bot, the conversation must be its agent's (users are bound by tenant alone)."""
    if ctx.principal.agent_id is not None:
        own_conversation(ctx, conversation_id)


def guard_message(ctx: Context, message_id: uuid.UUID) -> None:
    if ctx.principal.agent_id is not None:
        own_message(ctx, message_id)
