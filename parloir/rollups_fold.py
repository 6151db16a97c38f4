"""On SQLite, the single append's counts reach the rollups by an incremental fold.

A single append on SQLite writes no rollup row. The messages it leaves uncounted are those
whose ``rowid`` is above the watermark kept in ``rollup_watermark`` (migration 0009). A fold
adds them up with one ``INSERT ... SELECT ... GROUP BY`` into the daily rows and one into the
totals, and moves the watermark to the last ``rowid`` it counted, all in one write
transaction: a message is counted once, by the fold that moves the watermark past it.

- SQLite gives a new row the largest ``rowid`` plus one, so a new message is always above
  the watermark. A trigger lowers the watermark when a delete leaves it above the largest
  remaining ``rowid``, so no ``rowid`` below it is ever handed out again.
- Every write that reads or changes the message counts folds first, in its own transaction:
  deleting a message or a conversation, an erasure or a retention run, a batch append (which
  counts its own rows, then moves the watermark past them), a check or rebuild of the rollups.
- Each process folds after every :data:`FOLD_EVERY` single appends, in the append's own
  transaction, and as the store closes; the statistics methods fold before they read, and
  the ``agent_statistics`` view adds the messages above the watermark to what it reads.

PostgreSQL counts each append in its own statement (``parloir.messages``): nothing to fold.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects import sqlite

from parloir.db.bulk import run_sqlite
from parloir.db.tables_analytics import ROLLUPS, TOTALS, WATERMARK_TABLE
from parloir.rollups import KEY, MESSAGE_COUNTERS, TOTAL_KEY
from parloir.rollups_rebuild import message_sums

__all__ = ["FOLD_EVERY", "due", "fold", "mark_counted", "pending"]

FOLD_EVERY = 64
"""Single appends of one process between two folds."""

_appends = itertools.count(1)

_WATERMARK = f"SELECT message_rowid FROM {WATERMARK_TABLE}"
_TOP = "SELECT coalesce(max(rowid), 0) FROM messages"


def due() -> bool:
    """Count one single append of this process; True on every :data:`FOLD_EVERY`-th."""
    return next(_appends) % FOLD_EVERY == 0


def _upsert(table: Any, key: tuple[str, ...], source: Any) -> Any:
    statement = sqlite.insert(table).from_select([*key, *MESSAGE_COUNTERS], source)
    excluded = statement.excluded
    changes = {name: table.c[name] + excluded[name] for name in MESSAGE_COUNTERS}
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)


@functools.cache
def _statements() -> tuple[Any, Any]:
    """The two upserts of a fold: daily rows, then totals, from the messages in
    ``(:low, :high]`` by ``rowid``."""
    rowid: Any = literal_column("messages.rowid")
    low, high = (bindparam(name, type_=BigInteger()) for name in ("low", "high"))
    daily = message_sums("sqlite").where(rowid > low, rowid <= high)
    sums = daily.subquery()
    columns = list(sums.c)
    # A WHERE before ON CONFLICT: without it SQLite would read ON as a join's constraint.
    daily_source = select(*columns[:4], literal(""), literal(""), *columns[4:]).where(true())
    totals_source = select(
        columns[0],
        columns[2],
        columns[3],
        literal(""),
        literal(""),
        *(func.sum(column) for column in columns[4:]),
    ).group_by(columns[0], columns[2], columns[3])
    return _upsert(ROLLUPS, KEY, daily_source), _upsert(TOTALS, TOTAL_KEY, totals_source)


def _raw(connection: Connection) -> Any:
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def _range(raw: Any) -> tuple[int, int]:
    """The watermark and the largest ``rowid``: the messages in between wait for a fold."""
    return raw.execute(_WATERMARK).fetchone()[0], raw.execute(_TOP).fetchone()[0]


def pending(connection: Connection) -> bool:
    """True if messages wait to be folded (always False on PostgreSQL)."""
    if connection.dialect.name != "sqlite":
        return False
    low, high = _range(_raw(connection))
    return high > low


def fold(connection: Connection) -> None:
    """Count the messages above the watermark and move it past them (in the caller's write
    transaction; nothing on PostgreSQL)."""
    if connection.dialect.name != "sqlite":
        return
    raw = _raw(connection)
    low, high = _range(raw)
    if high <= low:
        return
    for statement in _statements():
        run_sqlite(connection, statement, {"low": low, "high": high})
    raw.execute(f"UPDATE {WATERMARK_TABLE} SET message_rowid = ?", (high,))


def mark_counted(connection: Connection) -> None:
    """Move the watermark past every message: for a write that has just counted every
    message itself (after :func:`fold`, in the same transaction)."""
    if connection.dialect.name == "sqlite":
        _raw(connection).execute(f"UPDATE {WATERMARK_TABLE} SET message_rowid = ({_TOP})")
