"""Where imported rows are written: one function per entity, bulk inserts in the caller's
transaction.

Every imported row has a deterministic id (:func:`parloir.importers.values.stable_id`), so a
second import finds its rows already there and skips them (reason ``already_imported``).
Rows that carry a natural key (a contact's channel id, a conversation's channel id, a
session key, a username, a post's channel id) are also matched on that key, so an import
merges into data the live bot already wrote instead of failing on a unique constraint.

Each ``write_*`` function is the single place where its entity is written by the importer:
statistics kept on write (rollups) hook in here, after the ``insert_rows`` call.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

from parloir.db.bulk import insert_rows
from parloir.db.engine import execute_for_tenant, set_tenant_now
from parloir.db.tables import (
    AGENTS,
    AUDIT_EVENTS,
    CONTACTS,
    CONVERSATIONS,
    FEEDBACK,
    LLM_CALLS,
    MESSAGES,
    POSTS,
    RETRIEVALS,
    SESSIONS,
    USERS,
)
from parloir.importers.report import ImportReport
from parloir.importers.values import as_time

__all__ = [
    "Resolved",
    "Sink",
    "existing_ids",
    "find_messages",
    "merge_message_metadata",
    "owners",
    "resolve_conversations",
    "set_message_tokens",
    "write_agents",
    "write_audit_events",
    "write_contacts",
    "write_conversations",
    "write_feedback",
    "write_llm_calls",
    "write_messages",
    "write_posts",
    "write_retrievals",
    "write_sessions",
    "write_users",
]

Row = dict[str, Any]
_IN = 500  # ids per IN (...) list


@dataclass
class Sink:
    """The target of an import: a connection (in the caller's transaction), one tenant."""

    connection: Connection
    tenant_id: uuid.UUID
    now: datetime
    max_content_length: int
    report: ImportReport
    capture_prompts: bool = True
    pending: dict[uuid.UUID, Row] = field(default_factory=dict)
    across_tenants: Connection | None = None
    """For lookups in every tenant (:func:`owners`): on PostgreSQL a connection of the admin
    role, which row-level security lets see every tenant; else the sink's own connection."""

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name


def _slices(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN):
        yield items[start : start + _IN]


def _param(sink: Sink, value: Any) -> Any:
    return value.hex if sink.dialect == "sqlite" and isinstance(value, uuid.UUID) else value


def _fetch(
    sink: Sink,
    sql: str,
    fixed: Sequence[Any],
    values: Sequence[Any],
    connection: Connection | None = None,
) -> list[Any]:
    """Rows of ``sql`` (``?`` placeholders; ``IN ({in})`` takes ``values``) straight through
    the driver, in slices of values; on PostgreSQL the list is one array parameter."""
    out: list[Any] = []
    connection = connection or sink.connection
    raw = connection.connection.driver_connection
    assert raw is not None
    head = [_param(sink, v) for v in fixed]
    sqlite = sink.dialect == "sqlite"
    for part in _slices(list(values)):
        if sqlite:
            text = sql.replace("{in}", ", ".join("?" * len(part)))
            given = [v.hex if isinstance(v, uuid.UUID) else v for v in part]
            out.extend(raw.execute(text, [*head, *given]).fetchall())
        else:
            text = sql.replace("IN ({in})", "= ANY(?)").replace("?", "%s")
            with raw.cursor() as cursor:
                execute_for_tenant(connection, cursor, text, [*head, list(part)])
                out.extend(cursor.fetchall())
    return out


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def existing_ids(sink: Sink, table: Table, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` already stored in ``table``."""
    rows = _fetch(sink, f'SELECT id FROM "{table.name}" WHERE id IN ({{in}})', [], list(set(ids)))
    return {_uuid(row[0]) for row in rows}


def owners(sink: Sink, table: Table, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The tenant of each of ``ids`` stored in ``table`` (in any tenant)."""
    sql = f'SELECT id, tenant_id FROM "{table.name}" WHERE id IN ({{in}})'
    found = _fetch(sink, sql, [], list(set(ids)), sink.across_tenants)
    return {_uuid(a): _uuid(b) for a, b in found}


def _new_rows(sink: Sink, table: Table, entity: str, rows: Sequence[Row]) -> list[Row]:
    """``rows`` minus those already stored (by id) or repeated in the batch."""
    present = existing_ids(sink, table, (r["id"] for r in rows))
    out: list[Row] = []
    seen: set[uuid.UUID] = set()
    for row in rows:
        if row["id"] in present or row["id"] in seen:
            sink.report.skip(entity, "already_imported")
            continue
        seen.add(row["id"])
        out.append(row)
    return out


def _insert(sink: Sink, table: Table, entity: str, rows: list[Row]) -> None:
    if rows:
        # Columns NULL in every row (and without a server default) are left out of the INSERT.
        count = len(rows)
        first = rows[0]
        names = [
            name
            for name in first
            if first[name] is not None
            or table.c[name].server_default is not None
            or list(map(itemgetter(name), rows)).count(None) < count
        ]
        insert_rows(sink.connection, table, rows, names, staged=table is MESSAGES)
        sink.report.add(entity, len(rows))


def _by_natural_key(
    sink: Sink, table: Table, columns: Sequence[str], keys: Iterable[tuple[Any, ...]]
) -> dict[tuple[Any, ...], uuid.UUID]:
    """Stored ids of this tenant by the natural key ``columns`` (the last one varies most)."""
    groups: dict[tuple[Any, ...], set[Any]] = defaultdict(set)
    for key in keys:
        groups[key[:-1]].add(key[-1])
    out: dict[tuple[Any, ...], uuid.UUID] = {}
    head = "".join(f' AND "{name}" = ?' for name in columns[:-1])
    sql = (
        (
            f'SELECT id, "{columns[-1]}" FROM "{table.name}" WHERE tenant_id = ?{head}'
            f' AND "{columns[-1]}" IN ({{in}})'
        )
        if columns
        else ""
    )
    for prefix, last in groups.items():
        for row_id, value in _fetch(sink, sql, [sink.tenant_id, *prefix], list(last)):
            out[(*prefix, value)] = _uuid(row_id)
    return out


Resolved = tuple[dict[uuid.UUID, uuid.UUID], set[uuid.UUID]]


def _key_getter(columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """The natural key ``columns`` of a row, as a tuple."""
    if len(columns) > 1:
        return itemgetter(*columns)
    return lambda row: tuple(row[name] for name in columns)


def _resolve(
    sink: Sink,
    table: Table,
    entity: str,
    rows: Sequence[Row],
    columns: Sequence[str],
    quiet: bool = False,
    insert: bool = True,
) -> Resolved:
    """Insert the rows not stored yet (by id or natural key).

    Returns each row id's stored id, and the ids inserted now.
    """
    key_of = _key_getter(tuple(columns))
    keys = [key_of(r) for r in rows]
    keyed = [key for key in keys if None not in key] if columns else []
    stored = _by_natural_key(sink, table, columns, keyed)
    present = existing_ids(sink, table, (r["id"] for r in rows))
    mapping: dict[uuid.UUID, uuid.UUID] = {}
    fresh: list[Row] = []
    taken: dict[tuple[Any, ...], uuid.UUID] = {}
    for row, key in zip(rows, keys, strict=True):
        found = (stored.get(key) or taken.get(key)) if columns and None not in key else None
        if row["id"] in present or row["id"] in mapping:
            mapping[row["id"]] = row["id"]
            if not quiet:
                sink.report.skip(entity, "already_imported")
        elif found is not None:
            mapping[row["id"]] = found
            if not quiet:
                sink.report.skip(entity, "already_exists")
        else:
            mapping[row["id"]] = row["id"]
            fresh.append(row)
            if columns and None not in key:
                taken[key] = row["id"]
    if insert:
        _insert(sink, table, entity, fresh)
    else:
        sink.pending = {r["id"]: r for r in fresh}
    return mapping, {r["id"] for r in fresh}


def write_users(sink: Sink, rows: Sequence[Row]) -> Resolved:
    """Users, matched on ``username``."""
    return _resolve(sink, USERS, "users", rows, ["username"])


def write_agents(sink: Sink, rows: Sequence[Row]) -> Resolved:
    """Agents, matched by id only (agents have no natural key)."""
    return _resolve(sink, AGENTS, "agents", rows, [])


def write_contacts(sink: Sink, rows: Sequence[Row], quiet: bool = False) -> Resolved:
    """Contacts, matched on ``(channel, external_id)``; ``quiet``: don't count the ones
    already stored as skipped (contacts derived from other rows, seen again and again)."""
    return _resolve(sink, CONTACTS, "contacts", rows, ["channel", "external_id"], quiet)


def write_conversations(sink: Sink, rows: Sequence[Row], quiet: bool = False) -> Resolved:
    """Conversations (counters at 0: :func:`write_messages` moves them), matched on
    ``(agent_id, channel, external_id)``; ``quiet`` as for :func:`write_contacts`."""
    columns = ["agent_id", "channel", "external_id"]
    return _resolve(sink, CONVERSATIONS, "conversations", rows, columns, quiet)


def resolve_conversations(sink: Sink, rows: Sequence[Row], quiet: bool = False) -> Resolved:
    """As :func:`write_conversations`, but the new conversations are written by the next
    :func:`write_messages` call, with their final counters (one write per row, no update)."""
    columns = ["agent_id", "channel", "external_id"]
    return _resolve(sink, CONVERSATIONS, "conversations", rows, columns, quiet, insert=False)


def write_posts(sink: Sink, rows: Sequence[Row]) -> Resolved:
    """Posts, matched on ``(channel, external_id)``."""
    return _resolve(sink, POSTS, "posts", rows, ["channel", "external_id"])


def write_sessions(sink: Sink, rows: Sequence[Row]) -> None:
    """Sessions, matched on ``key``."""
    _resolve(sink, SESSIONS, "sessions", rows, ["key"])


def write_llm_calls(sink: Sink, rows: Sequence[Row]) -> None:
    """LLM calls (the usage ledger), recognised again by their deterministic id; a call whose
    ``idempotency_key`` is already used in the tenant is skipped (``duplicate_key``)."""
    new = _new_rows(sink, LLM_CALLS, "llm_calls", rows)
    keys = [r["idempotency_key"] for r in new if r["idempotency_key"] is not None]
    if keys:
        taken = _by_natural_key(sink, LLM_CALLS, ["idempotency_key"], [(k,) for k in keys])
        kept = []
        for row in new:
            key = (row["idempotency_key"],)
            if row["idempotency_key"] is not None and key in taken:
                sink.report.skip("llm_calls", "duplicate_key")
                continue
            taken[key] = row["id"]
            kept.append(row)
        new = kept
    _insert(sink, LLM_CALLS, "llm_calls", _with_channels(sink, new))


def _with_channels(sink: Sink, rows: list[Row]) -> list[Row]:
    """Give each call its conversation's channel (as ``record_llm_call`` does), so that the
    statistics count it under that channel."""
    wanted = {r["conversation_id"] for r in rows if r["conversation_id"] and not r.get("channel")}
    if not wanted:
        return rows
    sql = 'SELECT id, channel FROM "conversations" WHERE id IN ({in})'
    channels = {_uuid(a): b for a, b in _fetch(sink, sql, [], list(wanted))}
    for row in rows:
        if row["conversation_id"] and not row.get("channel"):
            row["channel"] = channels.get(row["conversation_id"])
    return rows


def write_retrievals(sink: Sink, rows: Sequence[Row]) -> None:
    """Retrievals, recognised again by their deterministic id."""
    _insert(sink, RETRIEVALS, "retrievals", _new_rows(sink, RETRIEVALS, "retrievals", rows))


def write_feedback(sink: Sink, rows: Sequence[Row]) -> None:
    """Feedback, recognised again by its deterministic id."""
    _insert(sink, FEEDBACK, "feedback", _new_rows(sink, FEEDBACK, "feedback", rows))


def write_audit_events(sink: Sink, rows: Sequence[Row]) -> None:
    """Audit events, recognised again by their deterministic id."""
    entity = "audit_events"
    _insert(sink, AUDIT_EVENTS, entity, _new_rows(sink, AUDIT_EVENTS, entity, rows))


def find_messages(
    sink: Sink, conversation_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str, str], uuid.UUID]:
    """Stored messages of these conversations by ``(conversation, role, content)``."""
    sql = "SELECT conversation_id, role, content, id FROM messages WHERE conversation_id IN ({in})"
    rows = _fetch(sink, sql, [], list(set(conversation_ids)))
    return {(_uuid(c), role, content): _uuid(i) for c, role, content, i in rows}


def merge_message_metadata(sink: Sink, message_id: uuid.UUID, extra: dict[str, Any]) -> None:
    """Add ``extra``'s keys to a stored message's metadata."""
    from sqlalchemy import select, update

    from parloir.db.tables import MESSAGES as M

    query = select(M.c.metadata).where(M.c.id == message_id)
    current = sink.connection.execute(query).scalar_one()
    merged = {**(current or {}), **extra}
    sink.connection.execute(update(M).where(M.c.id == message_id).values(metadata=merged))


def set_message_tokens(sink: Sink, tokens: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Fill ``messages.token_count`` from the calls that produced them (where still NULL)."""
    if not tokens:
        return
    sql = "UPDATE messages SET token_count = ? WHERE id = ? AND token_count IS NULL"
    raw = sink.connection.connection.driver_connection
    assert raw is not None
    params = [(n, _param(sink, mid)) for mid, n in tokens]
    if sink.dialect == "sqlite":
        raw.executemany(sql, params)
    else:
        set_tenant_now(sink.connection)
        with raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), params)


@dataclass
class _Counters:
    last_seq: int
    count: int
    last_at: datetime | None


def _counters(sink: Sink, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Counters]:
    sql = (
        "SELECT id, last_seq, message_count, last_message_at FROM conversations"
        " WHERE tenant_id = ? AND id IN ({in}) ORDER BY id"
    )
    if sink.dialect == "postgresql":
        sql += " FOR UPDATE"  # a live append to the same conversation waits for the chunk
    rows = _fetch(sink, sql, [sink.tenant_id], ids)
    return {_uuid(r[0]): _Counters(r[1], r[2], as_time(r[3])) for r in rows}


def _taken_keys(
    sink: Sink, rows: Sequence[Row], counters: dict[uuid.UUID, _Counters]
) -> set[tuple[Any, ...]]:
    """``(conversation, 'k'|'e', key)`` already used in the stored conversations ``counters``
    by the keys of ``rows`` (one indexed lookup per conversation and kind of key; none for a
    conversation whose ``last_seq`` is 0, which has no message)."""
    wanted: dict[tuple[uuid.UUID, str], set[str]] = defaultdict(set)
    for row in rows:
        cid = row["conversation_id"]
        if cid in counters:
            if row["idempotency_key"] is not None:
                wanted[(cid, "k")].add(row["idempotency_key"])
            if row["external_id"] is not None:
                wanted[(cid, "e")].add(row["external_id"])
    taken: set[tuple[Any, ...]] = set()
    for (cid, kind), keys in wanted.items():
        if counters[cid].last_seq == 0:
            continue  # no message was ever appended to it: no key is used there
        column = "idempotency_key" if kind == "k" else "external_id"
        sql = f"SELECT {column} FROM messages WHERE conversation_id = ? AND {column} IN ({{in}})"
        taken.update((cid, kind, key) for (key,) in _fetch(sink, sql, [cid], list(keys)))
    return taken


def write_messages(
    sink: Sink, rows: Sequence[Row], fresh: set[uuid.UUID] | None = None
) -> set[uuid.UUID]:
    """Append ``rows`` (in time order within each conversation) to their conversations.

    Each new message gets its conversation's next ``seq``; ``message_count``, ``last_seq``
    and ``last_message_at`` move in the same transaction. Messages already imported (same id)
    or whose idempotency key or external id is already used in the conversation are skipped.
    ``fresh`` names conversations created in this transaction (nothing to look up for them).
    Returns the ids of the rows now stored (written now or before).
    """
    fresh = (fresh or set()) | sink.pending.keys()
    old = {r["conversation_id"] for r in rows} - fresh
    present = existing_ids(sink, MESSAGES, (r["id"] for r in rows if r["conversation_id"] in old))
    counters = _counters(sink, list(old))
    taken = _taken_keys(sink, rows, counters)
    stored: set[uuid.UUID] = set(present)
    new: list[Row] = []
    for row in rows:
        cid = row["conversation_id"]
        row_id = row["id"]
        if row_id in stored:  # stored before (``present``) or earlier in the batch
            sink.report.skip("messages", "already_imported")
            continue
        keys = []
        if row["idempotency_key"] is not None:
            keys.append((cid, "k", row["idempotency_key"]))
        if row["external_id"] is not None:
            keys.append((cid, "e", row["external_id"]))
        if keys and any(k in taken for k in keys):
            sink.report.skip("messages", "duplicate_key")
            continue
        state = counters.get(cid)
        if state is None:
            if cid not in fresh:
                sink.report.skip("messages", "orphan")
                continue
            state = counters[cid] = _Counters(0, 0, None)
        if keys:
            taken.update(keys)
        state.last_seq += 1
        state.count += 1
        if state.last_at is None or row["created_at"] > state.last_at:
            state.last_at = row["created_at"]
        row["seq"] = state.last_seq
        stored.add(row_id)
        new.append(row)
    pending, sink.pending = sink.pending, {}
    for cid, conversation in pending.items():  # new conversations: written with their counters
        state = counters.get(cid)
        if state is not None:
            conversation.update(
                last_seq=state.last_seq, message_count=state.count, last_message_at=state.last_at
            )
    _insert(sink, CONVERSATIONS, "conversations", list(pending.values()))
    _insert(sink, MESSAGES, "messages", new)
    _move_counters(sink, counters, {r["conversation_id"] for r in new} - pending.keys())
    return stored


def _move_counters(sink: Sink, counters: dict[uuid.UUID, _Counters], ids: set[uuid.UUID]) -> None:
    if not ids:
        return
    params = [
        (counters[cid].last_seq, counters[cid].count, counters[cid].last_at, cid)
        for cid in sorted(ids, key=lambda u: u.int)  # one lock order for every writer
    ]
    sql = (
        "UPDATE conversations SET last_seq = ?, message_count = ?, last_message_at = ? WHERE id = ?"
    )
    raw = sink.connection.connection.driver_connection
    assert raw is not None
    if sink.dialect == "sqlite":
        stamp = _stamp
        raw.executemany(sql, [(s, n, stamp(at), cid.hex) for s, n, at, cid in params])
    else:
        set_tenant_now(sink.connection)
        with raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), params)


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
