"""Outbound posts: draft -> scheduled -> published / failed."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from parloir.inputs import PostFields
from parloir.schemas import Page, PostRead
from parloir.server.deps import UserReader, UserWriter
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.validation import Text

router = APIRouter(prefix="/v1/posts", tags=["posts"], route_class=IdempotentRoute)
R = responses(403, 404, 409)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    at: AwareDatetime | None = None


class Failed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: Annotated[Text, Field(min_length=1, max_length=1_000_000)]


@router.post("", response_model=PostRead, status_code=201, responses=R)
def create_post(ctx: UserWriter, body: Annotated[PostFields, Body()]) -> PostRead:
    """A draft post, or a scheduled one when ``scheduled_for`` is given."""
    post = ctx.store.create_post(**body)
    ctx.audit("post.create", "post", post.id)
    return post


@router.get("", response_model=Page[PostRead], responses=R)
def list_posts(
    ctx: UserReader,
    status: Literal["draft", "scheduled", "published", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[Text | None, Query(max_length=64)] = None,
) -> Page[PostRead]:
    return ctx.store.list_posts(status=status, limit=limit, cursor=cursor)


@router.get("/{post_id}", response_model=PostRead, responses=R)
def get_post(ctx: UserReader, post_id: uuid.UUID) -> PostRead:
    return ctx.store.get_post(post_id)


@router.post("/{post_id}/schedule", response_model=PostRead, responses=R)
def schedule_post(ctx: UserWriter, post_id: uuid.UUID, body: Schedule) -> PostRead:
    post = ctx.store.schedule_post(post_id, body.at)
    ctx.audit("post.schedule", "post", post_id)
    return post


@router.post("/{post_id}/published", response_model=PostRead, responses=R)
def mark_published(ctx: UserWriter, post_id: uuid.UUID, body: Published) -> PostRead:
    post = ctx.store.mark_post_published(post_id, external_id=body.external_id, at=body.at)
    ctx.audit("post.publish", "post", post_id)
    return post


@router.post("/{post_id}/failed", response_model=PostRead, responses=R)
def mark_failed(ctx: UserWriter, post_id: uuid.UUID, body: Failed) -> PostRead:
    post = ctx.store.mark_post_failed(post_id, body.error)
    ctx.audit("post.fail", "post", post_id)
    return post
