"""The fields each write accepts, as TypedDicts checked by pydantic.

The facade takes them as keyword arguments (``store.append_message(cid, role=..., content=...)``)
so that they are typed for the caller and validated in one place. Unknown fields, NUL characters,
lone surrogates, NaN, naive datetimes and negative counts are rejected with the field and the
rule named (see :mod:`parloir.validation`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, Required

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from parloir.validation import Json, JsonValue, Name, Text, Timestamp

__all__ = [
    "AgentFields",
    "AuditEventFields",
    "ContactFields",
    "ConversationFields",
    "ConversationUpdate",
    "FeedbackFields",
    "LLMCallFields",
    "MessageFields",
    "PostFields",
    "RetrievalFields",
    "Role",
    "TenantFields",
    "UserFields",
    "UserRole",
]

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
INT32 = 2**31 - 1

Role = Literal["user", "assistant", "system", "tool"]
UserRole = Literal["owner", "admin", "member", "viewer"]
ConversationStatus = Literal["active", "archived", "blocked"]

Count = Annotated[int, Field(ge=0, le=INT32, strict=True)]
Millis = Annotated[int, Field(ge=0, le=INT32, strict=True)]
Nanos = Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)]
Channel = Annotated[Text, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")]
Key = Annotated[Text, Field(min_length=1, max_length=255)]
ShortText = Annotated[Text, Field(max_length=255)]
LongText = Annotated[Text, Field(max_length=1_000_000)]
Url = Annotated[Text, Field(max_length=2048)]
Unit = Annotated[float, Field(ge=0, le=1)]


@with_config(_CONFIG)
class TenantFields(TypedDict, total=False):
    name: Required[Annotated[Text, Field(min_length=1, max_length=200)]]
    slug: Required[Annotated[Text, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9-]+$")]]
    metadata: Json


@with_config(_CONFIG)
class UserFields(TypedDict, total=False):
    username: Required[Annotated[Text, Field(min_length=1, max_length=150)]]
    password: Annotated[Text, Field(min_length=8, max_length=1024)]
    password_hash: Annotated[Text, Field(pattern=r"^\$", max_length=255)]
    role: UserRole
    email: Annotated[Text, Field(max_length=320)]
    is_active: bool
    external_id: Key
    metadata: Json


@with_config(_CONFIG)
class AgentFields(TypedDict, total=False):
    name: Required[Name]
    role: ShortText
    instructions: LongText
    provider: Annotated[Text, Field(max_length=100)]
    model: Annotated[Text, Field(max_length=200)]
    temperature: Annotated[float, Field(ge=0, le=2)]
    max_tokens: Annotated[int, Field(ge=1, le=INT32, strict=True)]
    top_p: Unit
    is_active: bool
    external_id: Key
    owner_user_id: uuid.UUID
    metadata: Json


@with_config(_CONFIG)
class ContactFields(TypedDict, total=False):
    channel: Required[Channel]
    external_id: Required[Key]
    name: ShortText
    username: ShortText
    profile_url: Url
    metadata: Json


@with_config(_CONFIG)
class ConversationFields(TypedDict, total=False):
    agent_id: Required[uuid.UUID]
    channel: Required[Channel]
    external_id: Key
    contact_id: uuid.UUID
    title: Annotated[Text, Field(max_length=500)]
    status: ConversationStatus
    metadata: Json
    created_at: Timestamp


@with_config(_CONFIG)
class ConversationUpdate(TypedDict, total=False):
    title: Annotated[Text, Field(max_length=500)] | None
    status: ConversationStatus
    metadata: Json
    contact_id: uuid.UUID | None


@with_config(_CONFIG)
class MessageFields(TypedDict, total=False):
    role: Required[Role]
    content: Required[Text]
    idempotency_key: Key
    external_id: Key
    created_at: Timestamp
    sources: list[JsonValue]
    error_type: Annotated[Text, Field(max_length=100)]
    error_message: LongText
    token_count: Count
    response_time_ms: Millis
    delivered_at: Timestamp
    read_at: Timestamp
    metadata: Json


@with_config(_CONFIG)
class LLMCallFields(TypedDict, total=False):
    model: Required[Annotated[Text, Field(min_length=1, max_length=200)]]
    operation: Annotated[Text, Field(min_length=1, max_length=32)]
    provider: Annotated[Text, Field(max_length=100)]
    agent_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    post_id: uuid.UUID
    input_tokens: Count
    output_tokens: Count
    cached_tokens: Count
    reasoning_tokens: Count
    latency_ms: Millis
    cost_nanos: Nanos
    is_success: bool
    error_type: Annotated[Text, Field(max_length=100)]
    error_message: LongText
    prompt: JsonValue
    response: JsonValue
    idempotency_key: Key
    created_at: Timestamp
    metadata: Json


@with_config(_CONFIG)
class RetrievalFields(TypedDict, total=False):
    llm_call_id: uuid.UUID
    message_id: uuid.UUID
    source: Url
    content_preview: LongText
    score: float
    rank: Count
    metadata: Json
    created_at: Timestamp


@with_config(_CONFIG)
class FeedbackFields(TypedDict, total=False):
    rating: Annotated[int, Field(ge=-1, le=5, strict=True)]
    comment: LongText
    user_id: uuid.UUID
    contact_id: uuid.UUID
    metadata: Json
    created_at: Timestamp


@with_config(_CONFIG)
class AuditEventFields(TypedDict, total=False):
    event_type: Required[Annotated[Text, Field(min_length=1, max_length=100)]]
    actor: ShortText
    correlation_id: ShortText
    subject_type: Annotated[Text, Field(max_length=64)]
    subject_id: ShortText
    metadata: Json
    created_at: Timestamp


@with_config(_CONFIG)
class PostFields(TypedDict, total=False):
    content: Required[LongText]
    channel: Required[Channel]
    agent_id: uuid.UUID
    contact_id: uuid.UUID
    external_id: Key
    scheduled_for: Timestamp
    metadata: Json
