"""Daily rollups, kept in the transaction of the writes they count.

Every write that changes a counted figure adds its *delta* to one rollup row per
(tenant, day, agent, channel, model, operation) with an ``INSERT ... ON CONFLICT DO UPDATE``
that adds the new values to the stored ones. A batch adds up its deltas in Python first and
writes one upsert per rollup row. The single append folds its upsert into its one PostgreSQL
statement (see ``parloir.messages``). Deletions add negative deltas.

:func:`rebuild` computes the same rows from the raw tables with ``GROUP BY`` queries;
``parloir stats --recompute --check`` compares both.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite

from parloir.db.models_analytics import COUNTERS, LATENCY_BOUNDS_MS, LATENCY_COLUMNS, NO_AGENT
from parloir.db.tables_analytics import ROLLUPS, TOTALS

__all__ = [
    "KEY",
    "MESSAGE_COUNTERS",
    "TOTAL_KEY",
    "Deltas",
    "Key",
    "add_deltas",
    "apply",
    "call_deltas",
    "latency_column",
    "message_deltas",
]

KEY = ("tenant_id", "day", "agent_id", "channel", "model", "operation")
TOTAL_KEY = ("tenant_id", "agent_id", "channel", "model", "operation")
Key = tuple[uuid.UUID, date, uuid.UUID, str, str, str]
TotalKey = tuple[uuid.UUID, uuid.UUID, str, str, str]


def total_key(key: Key) -> TotalKey:
    """The all-time totals row of a daily rollup row."""
    return (key[0], key[2], key[3], key[4], key[5])


Deltas = dict[str, int]

MESSAGE_COUNTERS = COUNTERS[COUNTERS.index("messages") : COUNTERS.index("llm_calls")]
"""The counters an appended message moves (the single append's upsert sets only these)."""


def day_of(at: datetime) -> date:
    """The UTC day of an aware time (times are stored in UTC)."""
    offset = at.utcoffset()
    return (at - offset).date() if offset else at.date()


def latency_column(latency_ms: int) -> str:
    """The histogram column a latency falls in (bounds are inclusive)."""
    for bound, column in zip(LATENCY_BOUNDS_MS, LATENCY_COLUMNS, strict=False):
        if latency_ms <= bound:
            return column
    return LATENCY_COLUMNS[-1]


def message_key(tenant_id: uuid.UUID, agent_id: uuid.UUID, channel: str, at: datetime) -> Key:
    return (tenant_id, day_of(at), agent_id, channel, "", "")


def message_deltas(row: Mapping[str, Any], sign: int = 1) -> Deltas:
    """What one message adds to (or, with ``sign=-1``, takes from) its rollup row."""
    tokens, response = row["token_count"], row["response_time_ms"]
    out = dict.fromkeys(MESSAGE_COUNTERS, 0)
    out["messages"] = sign
    out[f"{row['role']}_messages"] = sign
    out["commands"] = sign if row["command"] is not None else 0
    out["message_errors"] = sign if row["error_type"] is not None else 0
    if tokens is not None:
        out["message_tokens"], out["message_tokens_n"] = sign * tokens, sign
    if response is not None:
        out["response_time_sum_ms"], out["response_time_n"] = sign * response, sign
    return out


def count_messages(into: dict[Key, Deltas], key_of: Any, rows: Any) -> None:
    """Add the deltas of many new messages to ``into``, keyed by ``key_of(row)``: the same
    sums as :func:`message_deltas` and :func:`add_deltas` row by row, without a dict per row."""
    for row in rows:
        key = key_of(row)
        out = into.get(key)
        if out is None:
            out = into[key] = dict.fromkeys(MESSAGE_COUNTERS, 0)
        out["messages"] += 1
        out[f"{row['role']}_messages"] += 1
        if row["command"] is not None:
            out["commands"] += 1
        if row["error_type"] is not None:
            out["message_errors"] += 1
        if (tokens := row["token_count"]) is not None:
            out["message_tokens"] += tokens
            out["message_tokens_n"] += 1
        if (response := row["response_time_ms"]) is not None:
            out["response_time_sum_ms"] += response
            out["response_time_n"] += 1


def call_key(row: Mapping[str, Any]) -> Key:
    agent = row["agent_id"] or NO_AGENT
    channel = row["channel"] or ""
    return (
        row["tenant_id"],
        day_of(row["created_at"]),
        agent,
        channel,
        row["model"],
        row["operation"],
    )


def call_deltas(row: Mapping[str, Any]) -> Deltas:
    """What one model call adds to its rollup row."""
    cost, latency = row["cost_nanos"], row["latency_ms"]
    out: Deltas = {
        "llm_calls": 1,
        "llm_call_errors": 0 if row["is_success"] else 1,
        "cost_nanos": cost or 0,
        "unpriced_llm_calls": 1 if cost is None else 0,
    }
    for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
        out[name] = row[name]
    out["total_tokens"] = row["total_tokens"]
    if latency is not None:
        out["latency_sum_ms"], out["latency_n"] = latency, 1
        out[latency_column(latency)] = 1
    return out


def add_deltas(into: dict[Key, Deltas], key: Key, deltas: Mapping[str, int]) -> None:
    """Add ``deltas`` to the pending ones of ``key`` (a batch writes each key once)."""
    pending = into.get(key)
    if pending is None:
        into[key] = dict(deltas)
        return
    for name, value in deltas.items():
        pending[name] = pending.get(name, 0) + value


@functools.cache
def upsert(
    dialect: str, names: tuple[str, ...], with_last: bool = False, total: bool = False
) -> Any:
    """``INSERT`` a rollup row (or, with ``total``, a totals row) with the given counters,
    adding them to the stored row if any.

    With ``with_last``, ``last_conversation_at`` is moved forward to the given time.
    """
    table, key = (TOTALS, TOTAL_KEY) if total else (ROLLUPS, KEY)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [*key, *names] + (["last_conversation_at"] if with_last else [])
    values = {name: bindparam(name, type_=table.c[name].type) for name in columns}
    statement = insert(table).values(values)
    excluded = statement.excluded
    changes: dict[str, Any] = {name: table.c[name] + excluded[name] for name in names}
    if with_last:
        stored = table.c.last_conversation_at
        latest = func.greatest if dialect == "postgresql" else func.max
        changes["last_conversation_at"] = func.coalesce(
            latest(stored, excluded.last_conversation_at), excluded.last_conversation_at
        )
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)


def apply(connection: Connection, pending: Mapping[Key, Mapping[str, int]]) -> None:
    """Write pending deltas to the daily rows and to the totals: one upsert per row, in key
    order (a fixed lock order)."""
    if not pending:
        return
    names = tuple(sorted({name for deltas in pending.values() for name in deltas}))
    totals: dict[TotalKey, dict[str, int]] = {}
    rows = []
    for key in sorted(pending, key=_sort_key):
        deltas = pending[key]
        rows.append({**dict(zip(KEY, key, strict=True)), **{n: deltas.get(n, 0) for n in names}})
        into = totals.setdefault(total_key(key), dict.fromkeys(names, 0))
        for name, value in deltas.items():
            into[name] += value
    dialect = connection.dialect.name
    connection.execute(upsert(dialect, names), rows)
    total_rows = [
        {**dict(zip(TOTAL_KEY, key, strict=True)), **totals[key]}
        for key in sorted(totals, key=lambda k: (str(k[0]), str(k[1]), *k[2:]))
    ]
    connection.execute(upsert(dialect, names, total=True), total_rows)


def _sort_key(key: Key) -> tuple[Any, ...]:
    return (str(key[0]), key[1], str(key[2]), *key[3:])


def add_conversation(
    connection: Connection, tenant_id: uuid.UUID, agent_id: uuid.UUID, channel: str, at: datetime
) -> None:
    """Count a conversation started at ``at``."""
    key = message_key(tenant_id, agent_id, channel, at)
    values = {"conversations": 1, "last_conversation_at": at}
    dialect = connection.dialect.name
    daily = upsert(dialect, ("conversations",), True)
    connection.execute(daily, {**dict(zip(KEY, key, strict=True)), **values})
    total = upsert(dialect, ("conversations",), True, True)
    connection.execute(total, {**dict(zip(TOTAL_KEY, total_key(key), strict=True)), **values})


def prune(connection: Connection, keys: Iterable[Key]) -> None:
    """Remove rollup and totals rows left counting nothing (after deletions)."""
    for key in keys:
        for table, names, values in (
            (ROLLUPS, KEY, key),
            (TOTALS, TOTAL_KEY, total_key(key)),
        ):
            c = table.c
            condition = [c[name] == value for name, value in zip(names, values, strict=True)]
            empty = [c.conversations == 0, c.messages == 0, c.llm_calls == 0]
            connection.execute(table.delete().where(*condition, *empty))


def totals_of(rows: Iterable[Mapping[str, Any]]) -> defaultdict[str, int]:
    """Sum the counters of several rows (for tests and checks)."""
    out: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        for name in COUNTERS:
            out[name] += int(row[name] or 0)
    return out
