"""Telegram ingestion tables: webhook secrets, received update ids, and quarantined updates."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from parloir.db.models import Base, _id, _tenant, _ts


class TelegramWebhook(Base):
    """An agent's webhook secret, as a SHA-256 hash (the secret itself is never stored)."""

    __tablename__ = "telegram_webhooks"
    __table_args__ = (UniqueConstraint("agent_id"),)
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class TelegramUpdate(Base):
    """One received update id per agent: the deduplication key (equality, never ordering)."""

    __tablename__ = "telegram_updates"
    __table_args__ = (
        UniqueConstraint("agent_id", "update_id"),
        Index("ix_telegram_updates_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_telegram_updates_message_id", "message_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    update_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="SET NULL")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _ts()


class TelegramQuarantine(Base):
    """An update that could not be stored as a message: its reason and raw payload."""

    __tablename__ = "telegram_quarantine"
    __table_args__ = (
        Index("ix_telegram_quarantine_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_telegram_quarantine_agent_id", "agent_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    # Text, not JSON: a payload that PostgreSQL's jsonb would refuse (NUL, lone surrogates)
    # must still be kept; it is stored as ASCII-escaped JSON text.
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _ts()
