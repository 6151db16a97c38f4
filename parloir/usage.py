"""The usage ledger: model calls, the documents they retrieved, and feedback on answers.

``record_*`` functions are append-only writes. A call linked to a message inherits the
message's conversation, and a call linked to a conversation inherits its agent, so that usage
can be summed per agent without joins. When no cost is given it is computed from
genai-prices; an unknown model leaves the cost empty with ``cost_source = "unknown"``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from parloir import rollups
from parloir.db.tables import (
    CONTACTS,
    CONVERSATIONS,
    FEEDBACK,
    LLM_CALLS,
    MESSAGES,
    POSTS,
    RETRIEVALS,
    USERS,
)
from parloir.errors import InvalidInputError
from parloir.ids import uuid7
from parloir.inputs import FeedbackFields, LLMCallFields, RetrievalFields
from parloir.pricing import price_nanos
from parloir.schemas import FeedbackRead, LLMCallRead, Page, RetrievalRead
from parloir.scope import Scope, to_record

__all__ = [
    "add_feedback",
    "find_llm_call_by_key",
    "list_feedback",
    "list_llm_calls",
    "list_retrievals",
    "record_llm_call",
    "record_retrieval",
]


def _links(scope: Scope, data: LLMCallFields) -> dict[str, Any]:
    links: dict[str, Any] = {
        "agent_id": data.get("agent_id"),
        "conversation_id": data.get("conversation_id"),
        "message_id": data.get("message_id"),
        "post_id": data.get("post_id"),
        "channel": None,
    }
    if links["message_id"] is not None:
        message = scope.get_row(MESSAGES, links["message_id"], "message")
        if links["conversation_id"] not in (None, message.conversation_id):
            raise InvalidInputError.single(
                "conversation_id", "matches_message", "is not the message's conversation"
            )
        links["conversation_id"] = message.conversation_id
    if links["conversation_id"] is not None:
        conversation = scope.get_row(CONVERSATIONS, links["conversation_id"], "conversation")
        links["agent_id"] = links["agent_id"] or conversation.agent_id
        links["channel"] = conversation.channel
    if links["post_id"] is not None:
        post = scope.get_row(POSTS, links["post_id"], "post")
        links["agent_id"] = links["agent_id"] or post.agent_id
    return links


def _cost(data: LLMCallFields, at: Any) -> tuple[int | None, str]:
    if "cost_nanos" in data:  # an explicit None means "unknown": never priced by guess
        given = data["cost_nanos"]
        return given, "provided" if given is not None else "unknown"
    nanos = price_nanos(
        model=data["model"],
        provider=data.get("provider"),
        input_tokens=(data.get("input_tokens") or 0),
        output_tokens=(data.get("output_tokens") or 0),
        cached_tokens=(data.get("cached_tokens") or 0),
        reasoning_tokens=(data.get("reasoning_tokens") or 0),
        at=at,
    )
    return nanos, "genai-prices" if nanos is not None else "unknown"


def _total(data: LLMCallFields) -> int:
    """``total_tokens`` defaults to input + output; a bare total (no split known) is kept."""
    split = (data.get("input_tokens") or 0) + (data.get("output_tokens") or 0)
    total = data.get("total_tokens")
    if total is None:
        return split
    if total < split:
        raise InvalidInputError.single(
            "total_tokens", "at_least_input_plus_output", f"must be at least {split}"
        )
    return total


def record_llm_call(scope: Scope, data: LLMCallFields) -> LLMCallRead:
    """Record one model call; a repeated idempotency key returns the stored call."""
    key = data.get("idempotency_key")
    if key is not None and (stored := find_llm_call_by_key(scope, key)) is not None:
        return stored
    if (data.get("cached_tokens") or 0) > (data.get("input_tokens") or 0):
        raise InvalidInputError.single(
            "cached_tokens", "within_input", "cached tokens are part of input_tokens"
        )
    created_at = data.get("created_at") or scope.now()
    cost, source = _cost(data, created_at)
    capture = scope.capture_prompts
    row: dict[str, Any] = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        **_links(scope, data),
        "operation": data.get("operation", "chat"),
        "provider": data.get("provider"),
        "model": data["model"],
        "input_tokens": (data.get("input_tokens") or 0),
        "output_tokens": (data.get("output_tokens") or 0),
        "cached_tokens": (data.get("cached_tokens") or 0),
        "reasoning_tokens": (data.get("reasoning_tokens") or 0),
        "total_tokens": _total(data),
        "latency_ms": data.get("latency_ms"),
        "cost_nanos": cost,
        "cost_source": source,
        "is_success": data.get("is_success", "error_type" not in data),
        "error_type": data.get("error_type"),
        "error_message": data.get("error_message"),
        "prompt": data.get("prompt") if capture else None,
        "response": data.get("response") if capture else None,
        "idempotency_key": key,
        "metadata": data.get("metadata") or {},
        "created_at": created_at,
    }
    scope.session.execute(LLM_CALLS.insert().values(row))
    rollups.apply(scope.session, {rollups.call_key(row): rollups.call_deltas(row)})
    return LLMCallRead.model_validate(row)


def find_llm_call_by_key(scope: Scope, key: str) -> LLMCallRead | None:
    c = LLM_CALLS.c
    row = scope.session.execute(
        select(LLM_CALLS).where(c.tenant_id == scope.tenant_id, c.idempotency_key == key)
    ).first()
    return None if row is None else to_record(LLMCallRead, row, duplicate=True)


def list_llm_calls(
    scope: Scope,
    *,
    conversation_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[LLMCallRead]:
    c = LLM_CALLS.c
    query = select(LLM_CALLS).where(c.tenant_id == scope.tenant_id)
    for column, value in ((c.conversation_id, conversation_id), (c.message_id, message_id)):
        if value is not None:
            query = query.where(column == value)
    if agent_id is not None:
        query = query.where(c.agent_id == agent_id)
    items, nxt = scope.page(query, LLM_CALLS, limit=limit, cursor=cursor, record=LLMCallRead)
    return Page[LLMCallRead](items=items, next_cursor=nxt)


def record_retrieval(scope: Scope, data: RetrievalFields) -> RetrievalRead:
    """Record a document a call or a message used."""
    if data.get("llm_call_id") is None and data.get("message_id") is None:
        raise InvalidInputError.single(
            "llm_call_id", "required", "give llm_call_id or message_id (or both)"
        )
    scope.require(LLM_CALLS, data.get("llm_call_id"), "llm call", "llm_call_id")
    scope.require(MESSAGES, data.get("message_id"), "message", "message_id")
    return scope.add(RETRIEVALS, RetrievalRead, data)


def list_retrievals(
    scope: Scope, *, llm_call_id: uuid.UUID | None, message_id: uuid.UUID | None
) -> list[RetrievalRead]:
    r = RETRIEVALS.c
    query = select(RETRIEVALS).where(r.tenant_id == scope.tenant_id)
    if llm_call_id is not None:
        query = query.where(r.llm_call_id == llm_call_id)
    if message_id is not None:
        query = query.where(r.message_id == message_id)
    rows = scope.session.execute(query.order_by(r.rank, r.id)).all()
    return [to_record(RetrievalRead, row) for row in rows]


def add_feedback(
    scope: Scope,
    *,
    message_id: uuid.UUID | None,
    conversation_id: uuid.UUID | None,
    data: FeedbackFields,
) -> FeedbackRead:
    """Record a rating and/or comment on a message or on a whole conversation."""
    if message_id is not None:
        message = scope.get_row(MESSAGES, message_id, "message")
        if conversation_id not in (None, message.conversation_id):
            raise InvalidInputError.single(
                "conversation_id", "matches_message", "is not the message's conversation"
            )
        conversation_id = message.conversation_id
    elif conversation_id is not None:
        scope.get_row(CONVERSATIONS, conversation_id, "conversation")
    else:
        raise InvalidInputError.single(
            "message_id", "required", "give message_id or conversation_id"
        )
    if data.get("rating") is None and not data.get("comment"):
        raise InvalidInputError.single("rating", "required", "give a rating or a comment")
    scope.require(USERS, data.get("user_id"), "user", "user_id")
    scope.require(CONTACTS, data.get("contact_id"), "contact", "contact_id")
    return scope.add(
        FEEDBACK, FeedbackRead, data, message_id=message_id, conversation_id=conversation_id
    )


def list_feedback(
    scope: Scope, *, message_id: uuid.UUID | None, conversation_id: uuid.UUID | None
) -> list[FeedbackRead]:
    f = FEEDBACK.c
    query = select(FEEDBACK).where(f.tenant_id == scope.tenant_id)
    if message_id is not None:
        query = query.where(f.message_id == message_id)
    if conversation_id is not None:
        query = query.where(f.conversation_id == conversation_id)
    return [to_record(FeedbackRead, row) for row in scope.session.execute(query.order_by(f.id))]
