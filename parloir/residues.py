"""Residues: what erased or expired conversations still count in the statistics.

Erasing a person (or deleting conversations by a retention policy) removes their rows, but
the statistics keep their totals: the rollups are not decremented. So that a recount of the
rollups from the raw rows (``parloir.rollups_rebuild``) still agrees with them, the counters
of the removed conversations and messages are added to ``rollup_residues``, keyed like the
daily rollups: tenant, UTC day, agent, channel (and empty model and operation). The table
holds keys and counters only, nothing that identifies a person.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from parloir.db.models_analytics import COUNTERS
from parloir.db.tables_erasure import RESIDUES
from parloir.rollups import KEY, Deltas, Key, add_deltas

__all__ = ["add_residues", "record"]


def record(connection: Connection, pending: Mapping[Key, Deltas], last: Mapping[Key, Any]) -> None:
    """Add counters (and the latest conversation start times) to the residues."""
    if not pending:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    columns = [*KEY, *COUNTERS, "last_conversation_at"]
    values = {name: bindparam(name, type_=RESIDUES.c[name].type) for name in columns}
    statement = insert(RESIDUES).values(values)
    excluded = statement.excluded
    changes: dict[str, Any] = {name: RESIDUES.c[name] + excluded[name] for name in COUNTERS}
    latest = func.greatest if connection.dialect.name == "postgresql" else func.max
    stored = RESIDUES.c.last_conversation_at
    changes["last_conversation_at"] = func.coalesce(
        latest(stored, excluded.last_conversation_at), stored, excluded.last_conversation_at
    )
    rows = [
        {
            **dict(zip(KEY, key, strict=True)),
            **{name: pending[key].get(name, 0) for name in COUNTERS},
            "last_conversation_at": last.get(key),
        }
        for key in sorted(pending, key=lambda k: (str(k[0]), k[1], str(k[2]), *k[3:]))
    ]
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(KEY), set_=changes), rows
    )


def add_residues(
    connection: Connection,
    tenant_id: uuid.UUID | None,
    rows: dict[Key, Deltas],
    last: dict[Key, Any],
) -> None:
    """Add the stored residues to rollup rows computed from the raw rows (in place).

    Nothing to add while the schema is older than the residues (migration 0002 recounts).
    """
    if not inspect(connection).has_table(RESIDUES.name):
        return
    query = select(RESIDUES)
    if tenant_id is not None:
        query = query.where(RESIDUES.c.tenant_id == tenant_id)
    for row in connection.execute(query).mappings():
        key: Key = tuple(row[name] for name in KEY)
        add_deltas(rows, key, {name: int(row[name]) for name in COUNTERS if row[name]})
        at = row["last_conversation_at"]
        if at is not None and (last.get(key) is None or at > last[key]):
            last[key] = at
