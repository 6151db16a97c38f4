"""The rollups computed from the raw rows, to rebuild them or to check the stored ones."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, Uuid, and_, case, cast, func, literal, select, type_coerce

from parloir import residues
from parloir.db.models_analytics import COUNTERS, LATENCY_BOUNDS_MS, LATENCY_COLUMNS, NO_AGENT
from parloir.db.tables import CONVERSATIONS, LLM_CALLS, MESSAGES
from parloir.db.tables_analytics import ROLLUPS, TOTALS
from parloir.rollups import KEY, MESSAGE_COUNTERS, TOTAL_KEY, Deltas, Key, add_deltas

__all__ = [
    "Difference",
    "compare",
    "conversation_messages",
    "conversations_messages",
    "expected",
    "message_sums",
    "rebuild",
    "stored",
]

Difference = tuple[Any, str, int, int]
"""A rollup row's key, a column, its stored value and the value the raw rows give.

Rows of the all-time totals are keyed like daily rows with ``None`` as their day."""


def _day(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return type_coerce(func.date(column), Date)


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def message_sums(dialect: str) -> Any:
    """Per (tenant, UTC day, agent, channel): the message counters (``MESSAGE_COUNTERS``, in
    that order) the raw messages give, unfiltered."""
    m, c = MESSAGES.c, CONVERSATIONS.c
    roles = [_count_if(m.role == role) for role in ("user", "assistant", "system", "tool")]
    return (
        select(
            m.tenant_id,
            _day(dialect, m.created_at).label("day"),
            c.agent_id,
            c.channel,
            func.count(),
            *roles,
            func.count(m.command),
            func.count(m.error_type),
            func.coalesce(func.sum(m.token_count), 0),
            func.count(m.token_count),
            func.coalesce(func.sum(m.response_time_ms), 0),
            func.count(m.response_time_ms),
        )
        .join(CONVERSATIONS, c.id == m.conversation_id)
        .group_by(m.tenant_id, "day", c.agent_id, c.channel)
    )


def _message_rows(
    connection: Connection,
    tenant_id: uuid.UUID | None,
    conversation_ids: Sequence[uuid.UUID] | None = None,
) -> list[Any]:
    m = MESSAGES.c
    query = message_sums(connection.dialect.name)
    if tenant_id is not None:
        query = query.where(m.tenant_id == tenant_id)
    if conversation_ids is not None:
        query = query.where(m.conversation_id.in_(conversation_ids))
    return list(connection.execute(query))


def conversation_messages(
    connection: Connection, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> dict[Key, Deltas]:
    """What the messages of one conversation add to the rollups, per day."""
    return conversations_messages(connection, tenant_id, [conversation_id])


def conversations_messages(
    connection: Connection, tenant_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[Key, Deltas]:
    """What the messages of some conversations add to the rollups, per day."""
    out: dict[Key, Deltas] = {}
    for row in _message_rows(connection, tenant_id, conversation_ids):
        key = _key((*row[:4], "", ""))
        add_deltas(out, key, {n: int(v) for n, v in zip(MESSAGE_COUNTERS, row[4:], strict=True)})
    return out


def _conversation_rows(connection: Connection, tenant_id: uuid.UUID | None) -> list[Any]:
    c = CONVERSATIONS.c
    query = select(
        c.tenant_id,
        _day(connection.dialect.name, c.created_at).label("day"),
        c.agent_id,
        c.channel,
        func.count(),
        func.max(c.created_at),
    ).group_by(c.tenant_id, "day", c.agent_id, c.channel)
    if tenant_id is not None:
        query = query.where(c.tenant_id == tenant_id)
    return list(connection.execute(query))


def _buckets(latency: Any) -> list[Any]:
    out, lower = [], None
    for bound in LATENCY_BOUNDS_MS:
        out.append(
            _count_if(
                latency <= bound if lower is None else and_(latency > lower, latency <= bound)
            )
        )
        lower = bound
    out.append(_count_if(latency > lower))
    return out


_CALL_SUMS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")


def _call_rows(connection: Connection, tenant_id: uuid.UUID | None) -> list[Any]:
    k = LLM_CALLS.c
    agent = func.coalesce(k.agent_id, literal(NO_AGENT, Uuid()))
    channel = func.coalesce(k.channel, "")
    query = select(
        k.tenant_id,
        _day(connection.dialect.name, k.created_at).label("day"),
        agent,
        channel,
        k.model,
        k.operation,
        func.count(),
        _count_if(k.is_success.is_(False)),
        *(func.sum(k[name]) for name in _CALL_SUMS),
        func.coalesce(func.sum(k.cost_nanos), 0),
        func.count() - func.count(k.cost_nanos),
        func.coalesce(func.sum(k.latency_ms), 0),
        func.count(k.latency_ms),
        *_buckets(k.latency_ms),
    ).group_by(k.tenant_id, "day", agent, channel, k.model, k.operation)
    if tenant_id is not None:
        query = query.where(k.tenant_id == tenant_id)
    return list(connection.execute(query))


_CALL_NAMES = (
    "llm_calls",
    "llm_call_errors",
    *_CALL_SUMS,
    "cost_nanos",
    "unpriced_llm_calls",
    "latency_sum_ms",
    "latency_n",
    *LATENCY_COLUMNS,
)


def _key(values: Any) -> Key:
    day = values[1]
    if not isinstance(day, date):
        day = date.fromisoformat(str(day))
    return (values[0], day, values[2], values[3], *values[4:6])


def expected(
    connection: Connection, tenant_id: uuid.UUID | None
) -> tuple[dict[Key, Deltas], dict[Key, Any]]:
    """The rollup rows (counters, and last conversation times) the raw rows give, with the
    residues of erased and expired conversations (``parloir.residues``) added."""
    rows: dict[Key, Deltas] = {}
    last: dict[Key, Any] = {}
    for row in _conversation_rows(connection, tenant_id):
        key = _key((*row[:4], "", ""))
        add_deltas(rows, key, {"conversations": int(row[4])})
        last[key] = row[5]
    for row in _message_rows(connection, tenant_id):
        key = _key((*row[:4], "", ""))
        add_deltas(rows, key, {n: int(v) for n, v in zip(MESSAGE_COUNTERS, row[4:], strict=True)})
    for row in _call_rows(connection, tenant_id):
        key = _key(row[:6])
        add_deltas(rows, key, {n: int(v) for n, v in zip(_CALL_NAMES, row[6:], strict=True)})
    residues.add_residues(connection, tenant_id, rows, last)
    return rows, last


def with_totals(
    daily: Mapping[Any, Deltas], last: Mapping[Any, Any]
) -> tuple[dict[Any, Deltas], dict[Any, Any]]:
    """The daily rows and the all-time totals they add up to (keyed with day ``None``)."""
    rows: dict[Any, Deltas] = dict(daily)
    latest: dict[Any, Any] = dict(last)
    for key, counters in daily.items():
        total = (key[0], None, *key[2:])
        add_deltas(rows, total, counters)
        at = last.get(key)
        if at is not None and (latest.get(total) is None or at > latest[total]):
            latest[total] = at
    return rows, latest


def stored(connection: Connection, tenant_id: uuid.UUID | None) -> dict[Any, Deltas]:
    """The stored daily and totals rows that count something."""
    out: dict[Any, Deltas] = {}
    for table in (ROLLUPS, TOTALS):
        query = select(table)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        for row in connection.execute(query).mappings():
            counters = {name: int(row[name]) for name in COUNTERS}
            if any(counters.values()):
                values = [row.get(name) for name in KEY]
                out[(*values[:1], values[1], *values[2:])] = counters
    return out


def _order(key: Any) -> tuple[Any, ...]:
    return (str(key[0]), str(key[1]), str(key[2]), *key[3:])


def compare(have: Mapping[Any, Deltas], want: Mapping[Any, Deltas]) -> list[Difference]:
    """Every (row, column) whose stored value differs from the raw rows' value."""
    out: list[Difference] = []
    for key in sorted(set(have) | set(want), key=_order):
        a, b = have.get(key, {}), want.get(key, {})
        for name in COUNTERS:
            if a.get(name, 0) != b.get(name, 0):
                out.append((key, name, a.get(name, 0), b.get(name, 0)))
    return out


def rebuild(connection: Connection, tenant_id: uuid.UUID | None) -> list[Difference]:
    """Replace the rollups and totals with the raw rows' figures; return what differed.

    On PostgreSQL the rollup tables are locked first (EXCLUSIVE: reads go on, writes wait), so
    a concurrent write is either committed and seen by the recount, or adds its delta after
    this transaction commits: never lost, never counted twice. SQLite has one writer anyway.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE usage_rollups, usage_totals IN EXCLUSIVE MODE")
    want, last = with_totals(*expected(connection, tenant_id))
    differences = compare(stored(connection, tenant_id), want)
    rows: dict[Any, list[dict[str, Any]]] = {ROLLUPS: [], TOTALS: []}
    for key, counters in want.items():
        table, names = (TOTALS, TOTAL_KEY) if key[1] is None else (ROLLUPS, KEY)
        row: dict[str, Any] = dict(zip(KEY, key, strict=True))
        row = {name: row[name] for name in names}
        row.update({name: counters.get(name, 0) for name in COUNTERS})
        row["last_conversation_at"] = last.get(key)
        rows[table].append(row)
    for table, values in rows.items():
        delete = table.delete()
        if tenant_id is not None:
            delete = delete.where(table.c.tenant_id == tenant_id)
        connection.execute(delete)
        if values:
            connection.execute(table.insert(), values)
    return differences
