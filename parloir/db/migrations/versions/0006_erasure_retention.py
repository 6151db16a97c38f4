"""Erasure journal, rollup residues and retention policies.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parloir.db import rls
from parloir.db.models_analytics import COUNTERS
from parloir.db.types import JSONType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _tenant_fk(owner: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{owner}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


TABLES = ("erasure_journal", "rollup_residues", "retention_policies")


def _protect() -> None:
    """Row-level security on PostgreSQL, as for every tenant table (migration 0005)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.protect_table(table):
                op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "erasure_journal",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("erased", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _tenant_fk("erasure_journal"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_journal")),
    )
    op.create_index(
        "ix_erasure_journal_tenant_id_subject_id",
        "erasure_journal",
        ["tenant_id", "subject_type", "subject_id"],
    )
    op.create_table(
        "rollup_residues",
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
        _tenant_fk("rollup_residues"),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "day",
            "agent_id",
            "channel",
            "model",
            "operation",
            name=op.f("pk_rollup_residues"),
        ),
    )
    op.create_table(
        "retention_policies",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("drop_content_after_days", sa.Integer(), nullable=True),
        sa.Column("delete_after_days", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_retention_policies_agent_id_agents"),
            ondelete="CASCADE",
        ),
        _tenant_fk("retention_policies"),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_retention_policies")),
    )
    _protect()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in reversed(TABLES):
            for statement in rls.unprotect_table(table):
                op.execute(statement)
    op.drop_table("retention_policies")
    op.drop_table("rollup_residues")
    op.drop_index("ix_erasure_journal_tenant_id_subject_id", table_name="erasure_journal")
    op.drop_table("erasure_journal")
