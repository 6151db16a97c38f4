"""SQLite: the single append's counts reach the rollups by a fold with a watermark.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

``rollup_watermark`` holds the ``rowid`` of the last message counted (``parloir.rollups_fold``);
every message stored before this revision is counted already. A trigger lowers it when a delete
leaves it above the largest remaining ``rowid`` (SQLite hands out the largest plus one: a
``rowid`` at or below the watermark must never come back). ``agent_statistics`` adds the
messages above the watermark. PostgreSQL counts every append in its statement: nothing changes.
"""

from __future__ import annotations

from alembic import op

from parloir.db import stat_views
from parloir.db.tables_analytics import WATERMARK_TABLE
from parloir.rollups_fold import fold

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TOP = "(SELECT coalesce(max(rowid), 0) FROM messages)"
_TRIGGER = f"""
CREATE TRIGGER messages_rollup_watermark AFTER DELETE ON messages
WHEN OLD.rowid >= (SELECT message_rowid FROM {WATERMARK_TABLE})
BEGIN
    UPDATE {WATERMARK_TABLE} SET message_rowid = {_TOP} WHERE message_rowid > {_TOP};
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE TABLE {WATERMARK_TABLE} ("
        "id INTEGER PRIMARY KEY CHECK (id = 1), message_rowid INTEGER NOT NULL)"
    )
    op.execute(f"INSERT INTO {WATERMARK_TABLE} (id, message_rowid) VALUES (1, {_TOP})")
    op.execute(_TRIGGER)
    stat_views.replace_agent_statistics("sqlite", pending=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    fold(op.get_bind())  # what the fold has not counted yet, counted as the older code counts
    stat_views.replace_agent_statistics("sqlite", pending=False)
    op.execute("DROP TRIGGER messages_rollup_watermark")
    op.execute(f"DROP TABLE {WATERMARK_TABLE}")
