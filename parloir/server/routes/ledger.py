"""The usage ledger: LLM calls, retrievals, feedback, and the totals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import ConfigDict, with_config

from parloir.errors import InvalidInputError
from parloir.inputs import FeedbackFields, LLMCallFields, RetrievalFields
from parloir.schemas import FeedbackRead, LLMCallRead, Page, RetrievalRead, Totals
from parloir.server.deps import Context, Reader, UserReader, Writer
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.server.scoping import agent_filter, check_refs, own_llm_call
from parloir.validation import Text

router = APIRouter(prefix="/v1", route_class=IdempotentRoute)
R = responses(403, 404, 409)


@with_config(ConfigDict(extra="forbid", allow_inf_nan=False))
class FeedbackCreate(FeedbackFields, total=False):
    message_id: uuid.UUID | None
    conversation_id: uuid.UUID | None


def record_llm_call(ctx: Context, body: LLMCallFields) -> LLMCallRead:
    """Record a call for this caller (a bot records for its own agent only)."""
    data: dict[str, Any] = dict(body)
    own = ctx.principal.agent_id
    if own is not None:
        if data.get("agent_id") not in (None, own):
            raise InvalidInputError.single("agent_id", "exists", "no such agent for this key")
        data["agent_id"] = own
        check_refs(
            ctx, conversation_id=data.get("conversation_id"), message_id=data.get("message_id")
        )
    return ctx.store.record_llm_call(**data)


def record_retrieval(ctx: Context, body: RetrievalFields) -> RetrievalRead:
    check_refs(ctx, message_id=body.get("message_id"), llm_call_id=body.get("llm_call_id"))
    return ctx.store.record_retrieval(**body)


def add_feedback(ctx: Context, body: FeedbackCreate) -> FeedbackRead:
    data: dict[str, Any] = dict(body)
    message_id = data.pop("message_id", None)
    conversation_id = data.pop("conversation_id", None)
    check_refs(ctx, message_id=message_id, conversation_id=conversation_id)
    return ctx.store.add_feedback(message_id, conversation_id=conversation_id, **data)


@router.post(
    "/llm-calls",
    response_model=LLMCallRead,
    status_code=201,
    tags=["llm calls"],
    responses={**R, 200: {"model": LLMCallRead, "description": "Already stored"}},
)
def create_llm_call(
    ctx: Writer, body: Annotated[LLMCallFields, Body()], response: Response
) -> LLMCallRead:
    """Record one model call (priced with genai-prices when no cost_nanos is given)."""
    call = record_llm_call(ctx, body)
    if call.duplicate:
        response.status_code = 200
    else:
        ctx.audit("llm_call.create", "llm_call", call.id)
    return call


@router.get("/llm-calls", response_model=Page[LLMCallRead], tags=["llm calls"], responses=R)
def list_llm_calls(
    ctx: Reader,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[Text | None, Query(max_length=64)] = None,
) -> Page[LLMCallRead]:
    """Model calls newest first, filtered; a bot sees its own agent's."""
    return ctx.store.list_llm_calls(
        conversation_id=conversation_id,
        message_id=message_id,
        agent_id=agent_filter(ctx, agent_id),
        limit=limit,
        cursor=cursor,
    )


@router.get("/llm-calls/{llm_call_id}", response_model=LLMCallRead, tags=["llm calls"], responses=R)
def get_llm_call(ctx: Reader, llm_call_id: uuid.UUID) -> LLMCallRead:
    return own_llm_call(ctx, llm_call_id)


@router.post(
    "/retrievals", response_model=RetrievalRead, status_code=201, tags=["retrievals"], responses=R
)
def create_retrieval(ctx: Writer, body: Annotated[RetrievalFields, Body()]) -> RetrievalRead:
    """Record a document an LLM call or a message used."""
    retrieval = record_retrieval(ctx, body)
    ctx.audit("retrieval.create", "retrieval", retrieval.id)
    return retrieval


@router.get("/retrievals", response_model=list[RetrievalRead], tags=["retrievals"], responses=R)
def list_retrievals(
    ctx: Reader, llm_call_id: uuid.UUID | None = None, message_id: uuid.UUID | None = None
) -> list[RetrievalRead]:
    """Retrievals of one LLM call or one message (a bot must name one of its own)."""
    if ctx.principal.agent_id is not None:
        if llm_call_id is None and message_id is None:
            raise InvalidInputError.single("llm_call_id", "required", "name a call or a message")
        check_refs(ctx, message_id=message_id, llm_call_id=llm_call_id)
    return ctx.store.list_retrievals(llm_call_id=llm_call_id, message_id=message_id)


@router.post(
    "/feedback", response_model=FeedbackRead, status_code=201, tags=["feedback"], responses=R
)
def create_feedback(ctx: Writer, body: Annotated[FeedbackCreate, Body()]) -> FeedbackRead:
    """Rate or comment a message, or a whole conversation (rating -1..5)."""
    feedback = add_feedback(ctx, body)
    ctx.audit("feedback.create", "feedback", feedback.id)
    return feedback


@router.get("/feedback", response_model=list[FeedbackRead], tags=["feedback"], responses=R)
def list_feedback(
    ctx: Reader, message_id: uuid.UUID | None = None, conversation_id: uuid.UUID | None = None
) -> list[FeedbackRead]:
    """Feedback on one message or one conversation (a bot must name one of its own)."""
    if ctx.principal.agent_id is not None:
        if message_id is None and conversation_id is None:
            raise InvalidInputError.single("message_id", "required", "name a message")
        check_refs(ctx, message_id=message_id, conversation_id=conversation_id)
    return ctx.store.list_feedback(message_id=message_id, conversation_id=conversation_id)


@router.get("/stats/totals", response_model=Totals, tags=["stats"], responses=R)
def totals(ctx: UserReader) -> Totals:
    """Counts and usage sums over the caller's tenant."""
    return ctx.store.totals()
