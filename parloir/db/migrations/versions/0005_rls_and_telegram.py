"""Row-level security on PostgreSQL for every tenant table; Telegram ingestion tables.

Row-level security and its roles are PostgreSQL-only (SQLite gets the tables alone).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parloir.db import rls
from parloir.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Every table with a tenant_id column (tests/test_security.py checks that none is missing).
TENANT_TABLES = (
    "users",
    "agents",
    "api_keys",
    "contacts",
    "conversations",
    "messages",
    "llm_calls",
    "retrievals",
    "feedback",
    "sessions",
    "audit_events",
    "posts",
    "usage_rollups",
    "usage_totals",
    "auth_tokens",
    "login_failures",
    "idempotency_records",
    "widget_tokens",
    "telegram_webhooks",
    "telegram_updates",
    "telegram_quarantine",
)

VIEWS = ("agent_statistics", "conversation_stats")


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _create_telegram_tables() -> None:
    op.create_table(
        "telegram_webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("telegram_webhooks", "tenant_id", "tenants", "CASCADE"),
        _fk("telegram_webhooks", "agent_id", "agents", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_webhooks")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_telegram_webhooks_agent_id")),
    )
    op.create_table(
        "telegram_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("telegram_updates", "tenant_id", "tenants", "CASCADE"),
        _fk("telegram_updates", "agent_id", "agents", "CASCADE"),
        _fk("telegram_updates", "conversation_id", "conversations", "SET NULL"),
        _fk("telegram_updates", "message_id", "messages", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_updates")),
        sa.UniqueConstraint(
            "agent_id", "update_id", name=op.f("uq_telegram_updates_agent_id_update_id")
        ),
    )
    op.create_index(
        "ix_telegram_updates_tenant_id_created_at",
        "telegram_updates",
        ["tenant_id", "created_at"],
    )
    op.create_index("ix_telegram_updates_message_id", "telegram_updates", ["message_id"])
    op.create_table(
        "telegram_quarantine",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("telegram_quarantine", "tenant_id", "tenants", "CASCADE"),
        _fk("telegram_quarantine", "agent_id", "agents", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_quarantine")),
    )
    op.create_index(
        "ix_telegram_quarantine_tenant_id_created_at",
        "telegram_quarantine",
        ["tenant_id", "created_at"],
    )
    op.create_index("ix_telegram_quarantine_agent_id", "telegram_quarantine", ["agent_id"])


def upgrade() -> None:
    _create_telegram_tables()
    if op.get_bind().dialect.name != "postgresql":
        return
    _run(rls.create_roles())
    # The tenants table is keyed by id; the application only reads its own tenant.
    _run(rls.protect_table("tenants", column="id", app_privileges="SELECT"))
    for table in TENANT_TABLES:
        _run(rls.protect_table(table))
    # The statistics views run with their caller's rights (security_invoker): the rows the
    # caller's tenant may see.
    op.execute(f"GRANT SELECT ON {', '.join(VIEWS)} TO {rls.APP_ROLE}, {rls.ADMIN_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"REVOKE ALL ON {', '.join(VIEWS)} FROM {rls.APP_ROLE}, {rls.ADMIN_ROLE}")
        for table in (*reversed(TENANT_TABLES), "tenants"):
            _run(rls.unprotect_table(table))
        _run(rls.revoke_schema())
    for table in ("telegram_quarantine", "telegram_updates", "telegram_webhooks"):
        op.drop_table(table)
