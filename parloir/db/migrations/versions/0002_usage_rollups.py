"""Usage rollups (daily and all-time), the statistics views, and each model call's channel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parloir.db import stat_views
from parloir.db.models_analytics import COUNTERS
from parloir.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("llm_calls", sa.Column("channel", sa.String(length=32), nullable=True))
    op.create_table(
        "usage_rollups",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("last_conversation_at", UTCDateTime(), nullable=True),
        *(
            sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for name in COUNTERS
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_rollups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "day",
            "agent_id",
            "channel",
            "model",
            "operation",
            name=op.f("pk_usage_rollups"),
        ),
    )
    op.create_table(
        "usage_totals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("last_conversation_at", UTCDateTime(), nullable=True),
        *(
            sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for name in COUNTERS
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_totals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "agent_id", "channel", "model", "operation", name=op.f("pk_usage_totals")
        ),
    )
    op.create_index(
        "ix_usage_rollups_tenant_id_agent_id_day",
        "usage_rollups",
        ["tenant_id", "agent_id", "day"],
        unique=False,
    )
    stat_views.create(op.get_bind().dialect.name, pending=False)
    # Existing rows: the call's channel is its conversation's; the rollups are computed once.
    op.execute(
        "UPDATE llm_calls SET channel = (SELECT c.channel FROM conversations c"
        " WHERE c.id = llm_calls.conversation_id) WHERE conversation_id IS NOT NULL"
    )
    from parloir.rollups_rebuild import rebuild

    rebuild(op.get_bind(), None)


def downgrade() -> None:
    op.execute("DROP VIEW conversation_stats")
    op.execute("DROP VIEW agent_statistics")
    op.drop_index("ix_usage_rollups_tenant_id_agent_id_day", table_name="usage_rollups")
    op.drop_table("usage_totals")
    op.drop_table("usage_rollups")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("channel")
