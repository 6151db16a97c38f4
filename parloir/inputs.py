"""The fields each write accepts, as TypedDicts checked by pydantic.

Optional fields may be given as None, which means "not given".

The facade takes them as keyword arguments (``store.append_message(cid, role=..., content=...)``)
so that they are typed for the caller and validated in one place. Unknown fields, NUL characters,
lone surrogates, NaN, naive datetimes and negative counts are rejected with the field and the
rule named (see :mod:`parloir.validation`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, Required

from pydantic import AfterValidator, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from parloir.validation import Json, JsonValue, Text, Timestamp, check_text

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
    "SessionFields",
    "TenantFields",
    "UserFields",
    "UserRole",
]

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
# Length and pattern are checked on the string itself, then NUL and surrogates.
CHECK_TEXT = AfterValidator(check_text)
INT32 = 2**31 - 1

Role = Literal["user", "assistant", "system", "tool"]
UserRole = Literal["owner", "admin", "member", "viewer"]
ConversationStatus = Literal["active", "archived", "blocked"]

Count = Annotated[int, Field(ge=0, le=INT32, strict=True)]
Millis = Annotated[int, Field(ge=0, le=INT32, strict=True)]
Nanos = Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)]
Channel = Annotated[Text, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")]
Key = Annotated[str, Field(min_length=1, max_length=255), CHECK_TEXT]
ShortText = Annotated[str, Field(max_length=255), CHECK_TEXT]
LongText = Annotated[str, Field(max_length=1_000_000), CHECK_TEXT]
Url = Annotated[str, Field(max_length=2048), CHECK_TEXT]
Unit = Annotated[float, Field(ge=0, le=1)]


@with_config(_CONFIG)
class TenantFields(TypedDict, total=False):
    name: Required[Annotated[str, Field(min_length=1, max_length=200), CHECK_TEXT]]
    slug: Required[Annotated[Text, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9-]+$")]]
    metadata: Json | None


@with_config(_CONFIG)
class UserFields(TypedDict, total=False):
    username: Required[Annotated[str, Field(min_length=1, max_length=150), CHECK_TEXT]]
    password: Annotated[str, Field(min_length=8, max_length=1024), CHECK_TEXT] | None
    password_hash: Annotated[str, Field(pattern=r"^\$", max_length=255), CHECK_TEXT] | None
    role: UserRole | None
    email: Annotated[str, Field(max_length=320), CHECK_TEXT] | None
    is_active: bool | None
    external_id: Key | None
    metadata: Json | None


@with_config(_CONFIG)
class AgentFields(TypedDict, total=False):
    name: Required[Annotated[str, Field(min_length=1, max_length=255), CHECK_TEXT]]
    role: ShortText | None
    instructions: LongText | None
    provider: Annotated[str, Field(max_length=100), CHECK_TEXT] | None
    model: Annotated[str, Field(max_length=200), CHECK_TEXT] | None
    temperature: Annotated[float, Field(ge=0, le=2)] | None
    max_tokens: Annotated[int, Field(ge=1, le=INT32, strict=True)] | None
    top_p: Unit | None
    is_active: bool | None
    external_id: Key | None
    owner_user_id: uuid.UUID | None
    metadata: Json | None


@with_config(_CONFIG)
class ContactFields(TypedDict, total=False):
    channel: Required[Channel]
    external_id: Required[Key]
    name: ShortText | None
    username: ShortText | None
    profile_url: Url | None
    metadata: Json | None


@with_config(_CONFIG)
class ConversationFields(TypedDict, total=False):
    agent_id: Required[uuid.UUID]
    channel: Required[Channel]
    external_id: Key | None
    contact_id: uuid.UUID | None
    title: Annotated[str, Field(max_length=500), CHECK_TEXT] | None
    status: ConversationStatus | None
    metadata: Json | None
    created_at: Timestamp | None


@with_config(_CONFIG)
class ConversationUpdate(TypedDict, total=False):
    title: Annotated[str, Field(max_length=500), CHECK_TEXT] | None
    status: ConversationStatus
    metadata: Json
    contact_id: uuid.UUID | None


@with_config(_CONFIG)
class MessageFields(TypedDict, total=False):
    role: Required[Role]
    content: Required[Text]
    idempotency_key: Key | None
    external_id: Key | None
    created_at: Timestamp | None
    sources: list[JsonValue] | None
    error_type: Annotated[str, Field(max_length=100), CHECK_TEXT] | None
    error_message: LongText | None
    token_count: Count | None
    response_time_ms: Millis | None
    delivered_at: Timestamp | None
    read_at: Timestamp | None
    metadata: Json | None


@with_config(_CONFIG)
class LLMCallFields(TypedDict, total=False):
    model: Required[Annotated[str, Field(min_length=1, max_length=200), CHECK_TEXT]]
    operation: Annotated[str, Field(min_length=1, max_length=32), CHECK_TEXT] | None
    provider: Annotated[str, Field(max_length=100), CHECK_TEXT] | None
    agent_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    message_id: uuid.UUID | None
    post_id: uuid.UUID | None
    input_tokens: Count | None
    output_tokens: Count | None
    cached_tokens: Count | None
    reasoning_tokens: Count | None
    total_tokens: Count | None
    latency_ms: Millis | None
    cost_nanos: Nanos | None
    is_success: bool | None
    error_type: Annotated[str, Field(max_length=100), CHECK_TEXT] | None
    error_message: LongText | None
    prompt: JsonValue | None
    response: JsonValue | None
    idempotency_key: Key | None
    created_at: Timestamp | None
    metadata: Json | None


@with_config(_CONFIG)
class RetrievalFields(TypedDict, total=False):
    llm_call_id: uuid.UUID | None
    message_id: uuid.UUID | None
    source: Url | None
    content_preview: LongText | None
    score: float | None
    rank: Count | None
    metadata: Json | None
    created_at: Timestamp | None


@with_config(_CONFIG)
class FeedbackFields(TypedDict, total=False):
    rating: Annotated[int, Field(ge=-1, le=5, strict=True)] | None
    comment: LongText | None
    user_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    metadata: Json | None
    created_at: Timestamp | None


@with_config(_CONFIG)
class SessionFields(TypedDict, total=False):
    key: Required[Key]
    context: Required[JsonValue]
    metadata: Json | None


@with_config(_CONFIG)
class AuditEventFields(TypedDict, total=False):
    event_type: Required[Annotated[str, Field(min_length=1, max_length=100), CHECK_TEXT]]
    actor: ShortText | None
    correlation_id: ShortText | None
    subject_type: Annotated[str, Field(max_length=64), CHECK_TEXT] | None
    subject_id: ShortText | None
    metadata: Json | None
    created_at: Timestamp | None


@with_config(_CONFIG)
class PostFields(TypedDict, total=False):
    content: Required[LongText]
    channel: Required[Channel]
    agent_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    external_id: Key | None
    scheduled_for: Timestamp | None
    metadata: Json | None
