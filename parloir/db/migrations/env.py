"""Alembic environment: runs on the connection parloir hands over (see parloir.db.migrate)."""

from __future__ import annotations

from alembic import context

from parloir.db.models import Base
from parloir.db.search_index import include_object

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always driven through parloir.db.migrate
    raise RuntimeError("run migrations with `parloir db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The search index is made by its migration alone (FTS5 and its shadow tables, the
    # tsvector column): the models do not describe it, so comparisons must not see it.
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
