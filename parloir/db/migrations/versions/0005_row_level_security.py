"""Row-level security on PostgreSQL for every tenant table (nothing on SQLite).

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from parloir.db import rls

revision = "0005"
down_revision = "0001"
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
)


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _run(rls.create_roles())
    # The tenants table is keyed by id; the application only reads its own tenant.
    _run(rls.protect_table("tenants", column="id", app_privileges="SELECT"))
    for table in TENANT_TABLES:
        _run(rls.protect_table(table))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*reversed(TENANT_TABLES), "tenants"):
            _run(rls.unprotect_table(table))
        _run(rls.revoke_schema())
