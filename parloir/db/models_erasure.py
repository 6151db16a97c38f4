"""Tables of erasure and retention: the erasure journal, the residues of the statistics, and
the per-agent retention policies.

``erasure_journal`` has one row per erased person: ids only (what was erased), never content,
so that a restored backup can be purged again (:func:`parloir.erasure_replay.replay_erasures`).

``rollup_residues`` holds, per rollup key (tenant, UTC day, agent, channel, model,
operation), the counters of conversations and messages that were erased or deleted by a
retention policy while the statistics keep counting them. It holds no personal data: keys and
counters only. The recount of the rollups (``parloir.rollups_rebuild.expected``) adds it to
the raw rows, so ``check_rollups()`` still agrees after an erasure.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from parloir.db.models import Base
from parloir.db.models_analytics import COUNTERS
from parloir.db.types import JSONType, UTCDateTime
from parloir.ids import uuid7

__all__ = ["ErasureJournalEntry", "RetentionPolicy", "RollupResidue"]


def _tenant(*, primary_key: bool = False) -> Any:
    return mapped_column(
        Uuid,
        ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


class ErasureJournalEntry(Base):
    __tablename__ = "erasure_journal"
    __table_args__ = (
        Index("ix_erasure_journal_tenant_id_subject_id", "tenant_id", "subject_type", "subject_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = _tenant()
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    erased: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RollupResidue(Base):
    __tablename__ = "rollup_residues"
    tenant_id: Mapped[uuid.UUID] = _tenant(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_conversation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


for _name in COUNTERS:
    setattr(
        RollupResidue,
        _name,
        mapped_column(BigInteger, nullable=False, server_default=text("0")),
    )


class RetentionPolicy(Base):
    __tablename__ = "retention_policies"
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = _tenant()
    drop_content_after_days: Mapped[int | None] = mapped_column(Integer)
    delete_after_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
