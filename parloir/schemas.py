"""Records the library returns. They are plain, frozen pydantic models, never ORM objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AgentRead",
    "ApiKeyCreated",
    "ApiKeyRead",
    "AuditEventRead",
    "ContactRead",
    "ConversationRead",
    "FeedbackRead",
    "LLMCallRead",
    "MessageRead",
    "Page",
    "PostRead",
    "RetrievalRead",
    "SearchHit",
    "SessionRead",
    "TenantRead",
    "Totals",
    "UserRead",
]

T = TypeVar("T")


class Record(BaseModel):
    """Base of the records the library returns."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class TenantRead(Record):
    """A tenant (workspace)."""

    id: uuid.UUID
    name: str
    slug: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class UserRead(Record):
    """A user; the password hash is never part of it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    username: str
    email: str | None
    role: str
    is_active: bool
    external_id: str | None
    last_login_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AgentRead(Record):
    """An agent (a bot) and its model settings."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    owner_user_id: uuid.UUID | None
    name: str
    role: str | None
    instructions: str | None
    provider: str | None
    model: str | None
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    is_active: bool
    external_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ApiKeyRead(Record):
    """An API key as stored: its public prefix, never the secret."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None
    name: str
    prefix: str
    scopes: list[str]
    created_by_user_id: uuid.UUID | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """A new API key with its secret, returned once and never stored."""

    key: str


class ContactRead(Record):
    """An end user on a channel."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    external_id: str
    name: str | None
    username: str | None
    profile_url: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ConversationRead(Record):
    """A conversation with its exact message counters."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    contact_id: uuid.UUID | None
    channel: str
    external_id: str | None
    title: str | None
    status: str
    metadata: dict[str, Any]
    message_count: int
    last_seq: int
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created: bool = False
    """True when the call that returned it created it."""


class MessageRead(Record):
    """A stored message."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    role: str
    direction: str
    content: str
    content_length: int
    command: str | None
    command_args: str | None
    idempotency_key: str | None
    external_id: str | None
    sources: list[Any] | None
    error_type: str | None
    error_message: str | None
    token_count: int | None
    response_time_ms: int | None
    delivered_at: datetime | None
    read_at: datetime | None
    edited_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None
    duplicate: bool = False
    """True when the message was already stored under the same key: nothing was written."""


class LLMCallRead(Record):
    """One model call of the usage ledger."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    message_id: uuid.UUID | None
    post_id: uuid.UUID | None
    channel: str | None = None
    operation: str
    provider: str | None
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    total_tokens: int
    latency_ms: int | None
    cost_nanos: int | None
    cost_source: str | None
    is_success: bool
    error_type: str | None
    error_message: str | None
    prompt: Any
    response: Any
    idempotency_key: str | None
    metadata: dict[str, Any]
    created_at: datetime
    duplicate: bool = False

    @property
    def cost_usd(self) -> float | None:
        """The cost in US dollars, for display only (sums use ``cost_nanos``)."""
        return None if self.cost_nanos is None else self.cost_nanos / 1e9


class RetrievalRead(Record):
    """A document a call or message used."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    llm_call_id: uuid.UUID | None
    message_id: uuid.UUID | None
    source: str | None
    content_preview: str | None
    score: float | None
    rank: int | None
    metadata: dict[str, Any]
    created_at: datetime


class FeedbackRead(Record):
    """A rating or comment on a message."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID | None
    message_id: uuid.UUID | None
    rating: int | None
    comment: str | None
    user_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    metadata: dict[str, Any]
    created_at: datetime


class SessionRead(Record):
    """A session's JSON context and expiry."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    key: str
    conversation_id: uuid.UUID | None
    context: Any
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AuditEventRead(Record):
    """An audit event."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    event_type: str
    actor: str | None
    correlation_id: str | None
    subject_type: str | None
    subject_id: str | None
    metadata: dict[str, Any]
    created_at: datetime


class PostRead(Record):
    """An outbound post and its lifecycle."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    channel: str
    external_id: str | None
    content: str
    status: str
    scheduled_for: datetime | None
    published_at: datetime | None
    error_message: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back to get the next one (None: the end)."""

    model_config = ConfigDict(frozen=True)
    items: list[T]
    next_cursor: str | None


class Totals(Record):
    """Counts and sums over the raw rows of one tenant (or of all tenants)."""

    tenants: int
    agents: int
    contacts: int
    conversations: int
    messages: int
    user_messages: int
    assistant_messages: int
    commands: int
    message_errors: int
    llm_calls: int
    llm_call_errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_nanos: int
    unpriced_llm_calls: int
    retrievals: int
    feedback: int
    sessions: int
    audit_events: int
    posts: int


class SearchHit(Record):
    """One message found by a search, with what a result list shows.

    ``snippet`` is an extract of the content with each match between the two markers asked
    for; ``snippet_parts`` is the same extract cut into ``(text, is_match)`` pairs, for a
    page that escapes text itself (HTML). ``score`` orders the hits (higher is better); it is
    comparable only within one search.
    """

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    contact_id: uuid.UUID | None
    channel: str
    role: str
    seq: int
    created_at: datetime
    score: float
    snippet: str
    snippet_parts: list[tuple[str, bool]]
