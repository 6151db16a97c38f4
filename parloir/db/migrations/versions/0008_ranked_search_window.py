"""The search window function ranks the rows it finds, and returns their scores.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parloir.db import search_index

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _replace(ranked: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    # Its result's columns change: the function must be dropped, not replaced.
    for statement in search_index.postgres_window_drop():
        op.execute(statement)
    for statement in search_index.postgres_window_ddl(schema, ranked=ranked):
        op.execute(statement)


def upgrade() -> None:
    _replace(ranked=True)


def downgrade() -> None:
    _replace(ranked=False)
