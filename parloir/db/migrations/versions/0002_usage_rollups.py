"""Usage rollups (daily and all-time), the statistics views, and each model call's channel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parloir.db.models_analytics import COUNTERS
from parloir.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SUM = "CAST(SUM({0}) AS BIGINT)"

AGENT_STATISTICS = """
CREATE VIEW agent_statistics{options} AS
SELECT
    a.id AS agent_id,
    a.tenant_id,
    a.owner_user_id AS user_id,
    a.name,
    COALESCE(r.conversations, 0) AS total_conversations,
    COALESCE(r.messages, 0) AS total_messages,
    COALESCE(r.user_messages, 0) AS user_messages,
    COALESCE(r.assistant_messages, 0) AS assistant_messages,
    CASE WHEN r.message_tokens_n > 0 THEN r.message_tokens END AS total_tokens_used,
    CASE WHEN r.response_time_n > 0
        THEN r.response_time_sum_ms * 1.0 / r.response_time_n END AS avg_response_time_ms,
    r.last_conversation_at AS last_conversation_date,
    COALESCE(r.llm_calls, 0) AS llm_calls,
    COALESCE(r.total_tokens, 0) AS llm_total_tokens,
    COALESCE(r.cost_nanos, 0) AS cost_nanos
FROM agents a
LEFT JOIN (
    SELECT tenant_id, agent_id,
        {sums},
        MAX(last_conversation_at) AS last_conversation_at
    FROM usage_totals
    GROUP BY tenant_id, agent_id
) r ON r.tenant_id = a.tenant_id AND r.agent_id = a.id
"""

CONVERSATION_STATS = """
CREATE VIEW conversation_stats{options} AS
SELECT
    c.id AS conversation_id,
    c.tenant_id,
    c.agent_id,
    c.channel,
    c.status,
    c.title,
    c.message_count,
    c.created_at,
    c.last_message_at
FROM conversations c
"""

_VIEW_COLUMNS = (
    "conversations",
    "messages",
    "user_messages",
    "assistant_messages",
    "message_tokens",
    "message_tokens_n",
    "response_time_sum_ms",
    "response_time_n",
    "llm_calls",
    "total_tokens",
    "cost_nanos",
)


def _create_views() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    options = " WITH (security_invoker = true)" if postgres else ""
    sums = ",\n        ".join(f"{_SUM.format(name)} AS {name}" for name in _VIEW_COLUMNS)
    op.execute(AGENT_STATISTICS.format(options=options, sums=sums))
    op.execute(CONVERSATION_STATS.format(options=options))


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
    _create_views()
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
