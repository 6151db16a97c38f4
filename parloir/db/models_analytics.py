"""Rollups of conversations, messages and model calls: daily, and all-time totals.

``usage_rollups`` has one row per (tenant, UTC day, agent, channel, model, operation);
``usage_totals`` the same counters without the day, so that all-time figures read a few rows
per agent whatever the number of days. Rows counting conversations
and messages have ``model = ''`` and ``operation = ''``; a model call without an agent has the
nil UUID as ``agent_id``, one without a channel ``channel = ''``. The rollups are kept in the
transaction of the writes they count (see ``parloir.rollups``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from parloir.db.models import Base
from parloir.db.types import UTCDateTime

__all__ = [
    "COUNTERS",
    "LATENCY_BOUNDS_MS",
    "LATENCY_COLUMNS",
    "NO_AGENT",
    "UsageRollup",
    "UsageTotal",
]

NO_AGENT = uuid.UUID(int=0)
"""The ``agent_id`` of the rollups of model calls made for no agent."""

LATENCY_BOUNDS_MS = (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000)
"""Upper bounds (inclusive) of the latency histogram's buckets; one more bucket holds the rest."""

LATENCY_COLUMNS = (*(f"latency_le_{b}" for b in LATENCY_BOUNDS_MS), "latency_gt_10000")

COUNTERS = (
    "conversations",
    "messages",
    "user_messages",
    "assistant_messages",
    "system_messages",
    "tool_messages",
    "commands",
    "message_errors",
    "message_tokens",
    "message_tokens_n",
    "response_time_sum_ms",
    "response_time_n",
    "llm_calls",
    "llm_call_errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_nanos",
    "unpriced_llm_calls",
    "latency_sum_ms",
    "latency_n",
    *LATENCY_COLUMNS,
)
"""Every additive column of a rollup row."""


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default=text("0"))


class UsageRollup(Base):
    __tablename__ = "usage_rollups"
    __table_args__ = (
        Index("ix_usage_rollups_tenant_id_agent_id_day", "tenant_id", "agent_id", "day"),
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_conversation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class UsageTotal(Base):
    __tablename__ = "usage_totals"
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_conversation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


for _name in COUNTERS:  # same type for all: declared in one place
    setattr(UsageRollup, _name, _counter())
    setattr(UsageTotal, _name, _counter())
