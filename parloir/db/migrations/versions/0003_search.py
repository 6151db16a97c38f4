"""Full-text search over message content (FTS5 on SQLite, tsvector + GIN on PostgreSQL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from parloir.db import search_index
from parloir.errors import SchemaError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        if not search_index.sqlite_has_fts5(bind):
            raise SchemaError(
                "this Python's SQLite was built without FTS5, which full-text search needs: "
                "use a Python whose sqlite3 module has it (CPython's official builds do)"
            )
        _run(search_index.sqlite_ddl())
    else:
        _run(search_index.postgres_ddl())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(search_index.sqlite_drop())
    else:
        _run(search_index.postgres_drop())
