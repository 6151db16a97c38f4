"""The unified schema: one ORM model per table.

Every table carries ``tenant_id`` (the ``tenants`` table is the root: its ``id`` *is* the
tenant id). Ids are UUIDv7 made in Python; timestamps are aware UTC; JSON is JSONB on
PostgreSQL; money is ``cost_nanos``, an integer count of billionths of a US dollar.

These models describe the schema for Alembic and for the services. They never leave a
transaction: the facade returns ``parloir.schemas`` records instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from parloir.db.types import JSONType, UTCDateTime
from parloir.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
"""The tenant every database starts with; a single-bot deployment never needs another."""

Json = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid7)


def _tenant() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _fk(target: str, ondelete: str, *, nullable: bool = True) -> Any:
    return mapped_column(Uuid, ForeignKey(target, ondelete=ondelete), nullable=nullable)


def _meta() -> Mapped[Json]:
    return mapped_column("metadata", JSONType, nullable=False, default=dict)


def _ts(*, nullable: bool = False) -> Any:
    return mapped_column(UTCDateTime, nullable=nullable)


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, default=0, server_default=text("0"))


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name="role"),
        Index("ix_users_tenant_id_external_id", "tenant_id", "external_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    external_id: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = _ts(nullable=True)
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_tenant_id_name", "tenant_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    owner_user_id: Mapped[uuid.UUID | None] = _fk("users.id", "SET NULL")
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str | None] = mapped_column(String(255))
    instructions: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    temperature: Mapped[float | None] = mapped_column()
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    top_p: Mapped[float | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    external_id: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_id_agent_id", "tenant_id", "agent_id"),)
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", "CASCADE")
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    created_by_user_id: Mapped[uuid.UUID | None] = _fk("users.id", "SET NULL")
    last_used_at: Mapped[datetime | None] = _ts(nullable=True)
    expires_at: Mapped[datetime | None] = _ts(nullable=True)
    revoked_at: Mapped[datetime | None] = _ts(nullable=True)
    created_at: Mapped[datetime] = _ts()


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "external_id"),)
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    profile_url: Mapped[str | None] = mapped_column(String(2048))
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "agent_id", "channel", "external_id"),
        CheckConstraint("status IN ('active', 'archived', 'blocked')", name="status"),
        Index("ix_conversations_tenant_id_id", "tenant_id", "id"),
        Index("ix_conversations_tenant_id_agent_id_id", "tenant_id", "agent_id", "id"),
        Index("ix_conversations_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_conversations_contact_id", "contact_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID] = _fk("agents.id", "CASCADE", nullable=False)
    contact_id: Mapped[uuid.UUID | None] = _fk("contacts.id", "SET NULL")
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    meta: Mapped[Json] = _meta()
    message_count: Mapped[int] = _count()
    last_seq: Mapped[int] = _count()
    last_message_at: Mapped[datetime | None] = _ts(nullable=True)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # Partial: most messages carry no key, and an append should not pay for NULL entries.
        Index(
            "uq_messages_conversation_id_idempotency_key",
            "conversation_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "uq_messages_conversation_id_external_id",
            "conversation_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        CheckConstraint("role IN ('user', 'assistant', 'system', 'tool')", name="role"),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        Index("ix_messages_tenant_id_created_at", "tenant_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    conversation_id: Mapped[uuid.UUID] = _fk("conversations.id", "CASCADE", nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_length: Mapped[int] = mapped_column(Integer, nullable=False)
    command: Mapped[str | None] = mapped_column(String(64))
    command_args: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    sources: Mapped[list[Any] | None] = mapped_column(JSONType)
    error_type: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = _ts(nullable=True)
    read_at: Mapped[datetime | None] = _ts(nullable=True)
    edited_at: Mapped[datetime | None] = _ts(nullable=True)
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime | None] = _ts(nullable=True)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "external_id"),
        CheckConstraint("status IN ('draft', 'scheduled', 'published', 'failed')", name="status"),
        Index("ix_posts_tenant_id_status_scheduled_for", "tenant_id", "status", "scheduled_for"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", "SET NULL")
    contact_id: Mapped[uuid.UUID | None] = _fk("contacts.id", "SET NULL")
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    scheduled_for: Mapped[datetime | None] = _ts(nullable=True)
    published_at: Mapped[datetime | None] = _ts(nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class LLMCall(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint(
            "input_tokens >= 0 AND output_tokens >= 0 AND cached_tokens >= 0"
            " AND reasoning_tokens >= 0 AND total_tokens >= 0",
            name="tokens",
        ),
        Index("ix_llm_calls_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_llm_calls_conversation_id", "conversation_id"),
        Index("ix_llm_calls_message_id", "message_id"),
        Index("ix_llm_calls_post_id", "post_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", "SET NULL")
    conversation_id: Mapped[uuid.UUID | None] = _fk("conversations.id", "SET NULL")
    message_id: Mapped[uuid.UUID | None] = _fk("messages.id", "SET NULL")
    post_id: Mapped[uuid.UUID | None] = _fk("posts.id", "SET NULL")
    channel: Mapped[str | None] = mapped_column(String(32))  # the conversation's, for rollups
    operation: Mapped[str] = mapped_column(String(32), nullable=False)
    provider: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    input_tokens: Mapped[int] = _count()
    output_tokens: Mapped[int] = _count()
    cached_tokens: Mapped[int] = _count()
    reasoning_tokens: Mapped[int] = _count()
    total_tokens: Mapped[int] = _count()
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger)
    cost_source: Mapped[str | None] = mapped_column(String(16))
    is_success: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    error_type: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    response: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()


class Retrieval(Base):
    __tablename__ = "retrievals"
    __table_args__ = (
        CheckConstraint("llm_call_id IS NOT NULL OR message_id IS NOT NULL", name="target"),
        Index("ix_retrievals_llm_call_id", "llm_call_id"),
        Index("ix_retrievals_message_id", "message_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    llm_call_id: Mapped[uuid.UUID | None] = _fk("llm_calls.id", "CASCADE")
    message_id: Mapped[uuid.UUID | None] = _fk("messages.id", "CASCADE")
    source: Mapped[str | None] = mapped_column(String(2048))
    content_preview: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column()
    rank: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("message_id IS NOT NULL OR conversation_id IS NOT NULL", name="target"),
        Index("ix_feedback_message_id", "message_id"),
        Index("ix_feedback_conversation_id", "conversation_id"),
        Index("ix_feedback_tenant_id_created_at", "tenant_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    conversation_id: Mapped[uuid.UUID | None] = _fk("conversations.id", "CASCADE")
    message_id: Mapped[uuid.UUID | None] = _fk("messages.id", "CASCADE")
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = _fk("users.id", "SET NULL")
    contact_id: Mapped[uuid.UUID | None] = _fk("contacts.id", "SET NULL")
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_sessions_expires_at", "expires_at"),
        Index("ix_sessions_conversation_id", "conversation_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    conversation_id: Mapped[uuid.UUID | None] = _fk("conversations.id", "CASCADE")
    context: Mapped[Any] = mapped_column(JSONType, nullable=False)
    meta: Mapped[Json] = _meta()
    expires_at: Mapped[datetime | None] = _ts(nullable=True)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_audit_events_tenant_id_event_type", "tenant_id", "event_type", "created_at"),
        Index("ix_audit_events_tenant_id_correlation_id", "tenant_id", "correlation_id"),
        Index("ix_audit_events_tenant_id_subject", "tenant_id", "subject_type", "subject_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[Json] = _meta()
    created_at: Mapped[datetime] = _ts()


TENANT_TABLES = tuple(t for t in Base.metadata.sorted_tables if "tenant_id" in t.c)
"""Every table that holds tenant rows (all but ``tenants`` itself)."""

from parloir.db import (  # noqa: E402,F401
    models_analytics,
    models_erasure,
    models_isolation,
    models_server,
)
