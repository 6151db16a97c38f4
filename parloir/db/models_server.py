"""Tables of the REST server: login tokens, login failures, idempotency records, widget tokens.

Tokens and widget secrets are stored only as SHA-256 hashes; the secret itself is shown once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from parloir.db.models import Base
from parloir.db.types import UTCDateTime
from parloir.ids import uuid7


def _tenant() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _ts(*, nullable: bool = False) -> Any:
    return mapped_column(UTCDateTime, nullable=nullable)


class AuthToken(Base):
    """A bearer token given at login: random, stored hashed, expiring, revocable."""

    __tablename__ = "auth_tokens"
    __table_args__ = (Index("ix_auth_tokens_expires_at", "expires_at"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = _tenant()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    revoked_at: Mapped[datetime | None] = _ts(nullable=True)


class LoginFailure(Base):
    """One failed login, kept for the rate-limit windows (per user and per address)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_tenant_id_username", "tenant_id", "username", "created_at"),
        Index("ix_login_failures_address_created_at", "address", "created_at"),
        Index("ix_login_failures_created_at", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = _tenant()
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _ts()


class IdempotencyRecord(Base):
    """The first answer to a POST with an ``Idempotency-Key``, replayed to repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "caller", "key"),
        Index("ix_idempotency_records_expires_at", "expires_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = _tenant()
    caller: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()


class WidgetToken(Base):
    """The secret a widget received when it opened a conversation (hashed)."""

    __tablename__ = "widget_tokens"
    __table_args__ = (
        Index("ix_widget_tokens_tenant_id_conversation_id", "tenant_id", "conversation_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = _tenant()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _ts()
