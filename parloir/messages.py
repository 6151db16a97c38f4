"""Appending messages: sequence numbers, idempotency, counters, commands, receipts.

An append is one UPDATE of the conversation row (which takes its lock, gives the next ``seq``
and keeps ``message_count`` and ``last_message_at`` exact) followed by one
``INSERT ... ON CONFLICT DO NOTHING``. When the insert is a no-op the key was already used:
:class:`Duplicate` is raised so the store rolls the transaction back (undoing the counter) and
returns the stored message instead. Because the conversation row is locked before the insert,
two concurrent appends with the same key cannot both pass. The message's rollup rows
(``parloir.rollups``) are moved in the same statement on PostgreSQL; on SQLite a fold counts
single appends in groups (``parloir.rollups_fold``). A batch counts its rows itself, in its
transaction, on both.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    Date,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from parloir import history, rollups, rollups_fold
from parloir.db.bulk import insert_rows, run_postgres, run_sqlite
from parloir.db.tables import CONVERSATIONS, MESSAGES
from parloir.db.tables_analytics import ROLLUPS, TOTALS
from parloir.db.types import UTCDateTime
from parloir.errors import ConflictError, NotFoundError
from parloir.ids import uuid7, uuid7_many
from parloir.inputs import MessageFields
from parloir.schemas import MessageRead
from parloir.scope import Scope, to_record
from parloir.validation import check_length

__all__ = ["Duplicate", "append_message", "append_messages", "find_duplicate", "parse_command"]


ROLLUPS_ON_APPEND = True
"""Whether appends keep the rollups; switched off only by the benchmark that measures them."""

STAGED_FROM = 8
"""Batches of at least this many new messages go through a staging table on SQLite
(``insert_rows(..., staged=True)``): the full-text trigger then runs within one statement, which
costs about 16 µs less per message; below, the staging's few extra statements cost more."""

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?\s*$", re.DOTALL)


class Duplicate(Exception):
    """Raised inside a transaction when a message's key is already stored."""


def parse_command(text: str) -> tuple[str | None, str | None]:
    """Split ``/start@MyBot arg`` into ``("start", "arg")``; ``(None, None)`` if no command."""
    match = _COMMAND.match(text)
    if match is None:
        return None, None
    args = match.group(2)
    return match.group(1).lower(), (args.strip() or None) if args else None


def _row(
    scope: Scope,
    conversation_id: uuid.UUID,
    data: MessageFields,
    field: str = "content",
    row_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    content = data["content"]
    check_length(field, content, scope.max_content_length)
    role = data["role"]
    command, args = parse_command(content) if role == "user" else (None, None)
    return {
        "id": row_id or uuid7(),
        "tenant_id": scope.tenant_id,
        "conversation_id": conversation_id,
        "seq": 0,  # given by the conversation counter
        "role": role,
        "direction": "in" if role == "user" else "out",
        "content": content,
        "content_length": len(content),
        "command": command,
        "command_args": args,
        "idempotency_key": data.get("idempotency_key"),
        "external_id": data.get("external_id"),
        "sources": data.get("sources"),
        "error_type": data.get("error_type"),
        "error_message": data.get("error_message"),
        "token_count": data.get("token_count"),
        "response_time_ms": data.get("response_time_ms"),
        "delivered_at": data.get("delivered_at"),
        "read_at": data.get("read_at"),
        "edited_at": None,
        "metadata": data.get("metadata") or {},
        "created_at": data.get("created_at") or now or scope.now(),
        "updated_at": None,
    }


_AT = bindparam("at", type_=UTCDateTime())
_CID = bindparam("cid", type_=Uuid())
_TID = bindparam("tid", type_=Uuid())
_NOW = bindparam("now", type_=UTCDateTime())


def _latest(dialect: str, column: Any) -> Any:
    """``column`` moved forward to ``:at`` if that is later (NULL counts as earliest)."""
    greatest = func.greatest if dialect == "postgresql" else func.max
    return case((column.is_(None), _AT), else_=greatest(column, _AT))


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any]:
    """``bump`` takes the conversation's lock and the next seqs; ``add`` inserts one message.

    Built once per dialect: SQLAlchemy then reuses their compiled form.
    """
    c = CONVERSATIONS.c
    count = bindparam("n", type_=Integer())
    bump = (
        update(CONVERSATIONS)
        .where(c.id == _CID, c.tenant_id == _TID)
        .values(
            last_seq=c.last_seq + count,
            message_count=c.message_count + count,
            last_message_at=_latest(dialect, c.last_message_at),
            updated_at=_NOW,
        )
        .returning(c.last_seq, c.agent_id, c.channel)
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    add = insert(MESSAGES).on_conflict_do_nothing().returning(MESSAGES.c.id)
    return bump, add


def _rollup_ctes(locked: Any, inserted: Any) -> tuple[Any, Any]:
    """The message's upserts of its daily rollup row and of its totals row, as CTEs that run
    only if the message was inserted.

    The totals upsert reads the rollup upsert's output, so PostgreSQL runs them in that order:
    the order every other write takes these rows' locks in (no deadlock between them).
    """
    names = rollups.MESSAGE_COUNTERS
    deltas = [bindparam(f"r_{name}", type_=Integer()) for name in names]
    key = [_TID, bindparam("r_day", type_=Date()), locked.c.agent_id, locked.c.channel]
    source = select(*key, literal(""), literal(""), *deltas).select_from(inserted)
    daily = _upsert_cte(ROLLUPS, rollups.KEY, source.join(locked, true()), "rollup")
    total_source = select(
        _TID, daily.c.agent_id, daily.c.channel, literal(""), literal(""), *deltas
    ).select_from(daily)
    return daily, _upsert_cte(TOTALS, rollups.TOTAL_KEY, total_source, "total")


def _upsert_cte(table: Any, key: tuple[str, ...], source: Any, name: str) -> Any:
    names = rollups.MESSAGE_COUNTERS
    upsert = postgresql.insert(table).from_select([*key, *names], source)
    changes = {n: table.c[n] + upsert.excluded[n] for n in names}
    statement = upsert.on_conflict_do_update(index_elements=list(key), set_=changes)
    return statement.returning(table.c.agent_id, table.c.channel).cte(name)


@functools.cache
def _one_statement_append(with_rollups: bool = True) -> Any:
    """The whole append as one PostgreSQL statement, atomic on its own (autocommit).

    It locks the conversation row (``FOR UPDATE`` waits for a concurrent append, then reads its
    committed counter), inserts the message with the next seq unless its key is taken, and
    moves the counters only if the insert happened. One round trip; nothing written on a
    duplicate.
    """
    c = CONVERSATIONS.c
    locked = (
        select(c.last_seq, c.agent_id, c.channel)
        .where(c.id == _CID, c.tenant_id == _TID)
        .with_for_update()
    )
    locked_cte = locked.cte("locked")
    names = [col.name for col in MESSAGES.c if col.name != "seq"]
    # Prefixed names: a parameter named like a conversations column would join the UPDATE's SET.
    values = [bindparam(f"m_{name}", type_=MESSAGES.c[name].type) for name in names]
    inserted = (
        postgresql.insert(MESSAGES)
        .from_select([*names, "seq"], select(*values, locked_cte.c.last_seq + 1))
        .on_conflict_do_nothing()
        .returning(MESSAGES.c.seq, MESSAGES.c.conversation_id)
        .cte("inserted")
    )
    counters = (
        update(CONVERSATIONS)
        .where(c.id == inserted.c.conversation_id)  # no row inserted, no update
        .values(
            last_seq=inserted.c.seq,
            message_count=c.message_count + 1,
            last_message_at=_latest("postgresql", c.last_message_at),
            updated_at=_NOW,
        )
        .returning(c.id)
        .cte("counters")
    )
    statement = select(inserted.c.seq).add_cte(counters)
    if with_rollups:
        statement = statement.add_cte(*_rollup_ctes(locked_cte, inserted))
    return statement


def _bump(scope: Scope, conversation_id: uuid.UUID, count: int, last_at: Any) -> Any:
    """Move the conversation's counters; its row (last seq, agent, channel) or None."""
    bump = _statements(scope.dialect)[0]
    params = {
        "cid": conversation_id,
        "tid": scope.tenant_id,
        "n": count,
        "at": last_at,
        "now": scope.now(),
    }
    if scope.dialect == "sqlite":
        rows = run_sqlite(scope.session, bump, params)
        return rows[0] if rows else None
    return scope.session.execute(bump, params).first()


def append_message(scope: Scope, conversation_id: uuid.UUID, data: MessageFields) -> MessageRead:
    """Append one message; raise :class:`Duplicate` if its key is already stored.

    On PostgreSQL ``scope`` may be in autocommit: the append is one atomic statement there.
    """
    row = _row(scope, conversation_id, data)
    if scope.dialect == "postgresql":
        params = {f"m_{key}": value for key, value in row.items()}
        params.update(cid=conversation_id, tid=scope.tenant_id)
        params.update(at=row["created_at"], now=scope.now())
        if ROLLUPS_ON_APPEND:
            deltas = rollups.message_deltas(row)
            params.update({f"r_{name}": value for name, value in deltas.items()})
            params["r_day"] = rollups.day_of(row["created_at"])
        rows = run_postgres(scope.session, _one_statement_append(ROLLUPS_ON_APPEND), params)
        seq = rows[0][0] if rows else None
        if seq is None:  # no conversation, or the key is taken: tell which
            history.ensure_conversation(scope, conversation_id)
            raise Duplicate(row.get("idempotency_key") or row.get("external_id"))
    else:
        bumped = _bump(scope, conversation_id, 1, row["created_at"])
        if bumped is None:
            raise NotFoundError("conversation", conversation_id)
        seq = row["seq"] = bumped[0]
        if not run_sqlite(scope.session, _statements(scope.dialect)[1], row):
            raise Duplicate(row.get("idempotency_key") or row.get("external_id"))
        if ROLLUPS_ON_APPEND and rollups_fold.due():
            rollups_fold.fold(scope.session)
    row["seq"] = seq
    return MessageRead.model_validate(row)


def find_duplicate(scope: Scope, conversation_id: uuid.UUID, data: MessageFields) -> MessageRead:
    """Return the stored message that shares ``data``'s key, marked as a duplicate."""
    existing = _existing(scope, conversation_id, [data])
    for row in existing:
        if _same_key(row, data):
            _check_same(row, data)
            return to_record(MessageRead, row, duplicate=True)
    # Another unique rule of the database refused the row (none exists in parloir's schema).
    raise ConflictError("the message conflicts with a stored one")


def _keys(items: Sequence[MessageFields]) -> tuple[list[str], list[str]]:
    keys = [k for i in items if (k := i.get("idempotency_key")) is not None]
    exts = [e for i in items if (e := i.get("external_id")) is not None]
    return keys, exts


def _existing(
    scope: Scope, conversation_id: uuid.UUID, items: Sequence[MessageFields]
) -> list[dict[str, Any]]:
    """The stored messages of the conversation that share a key or external id with ``items``,
    as dicts ready for a :class:`MessageRead`."""
    keys, exts = _keys(items)
    if not keys and not exts:
        return []
    if scope.dialect == "sqlite":
        params: dict[str, Any] = {"cid": conversation_id, "tid": scope.tenant_id}
        params.update(keys=json.dumps(keys), exts=json.dumps(exts))
        rows = run_sqlite(scope.session, _existing_sqlite(), params)
        return [dict(zip(_NAMES, row, strict=True)) for row in rows]
    c = MESSAGES.c
    clauses = []
    if keys:
        clauses.append(c.idempotency_key.in_(keys))
    if exts:
        clauses.append(c.external_id.in_(exts))
    query = select(MESSAGES).where(
        and_(c.conversation_id == conversation_id, c.tenant_id == scope.tenant_id, or_(*clauses))
    )
    return [dict(row._mapping) for row in scope.session.execute(query)]


_NAMES = tuple(column.name for column in MESSAGES.c)


@functools.cache
def _existing_sqlite() -> Any:
    """The lookup of stored keys on SQLite, built once: the keys come as one JSON list each, and
    ``CROSS JOIN`` makes each key one probe of its unique index (without it, and without
    statistics, SQLite may pick the tenant's index and read all the tenant's messages)."""
    names = ", ".join(f'm."{name}"' for name in _NAMES)
    where = "m.conversation_id = :cid AND m.tenant_id = :tid"
    sql = (
        f"SELECT {names} FROM json_each(:keys) AS k CROSS JOIN messages AS m"
        f" WHERE {where} AND m.idempotency_key = k.value"
        f" UNION ALL SELECT {names} FROM json_each(:exts) AS e CROSS JOIN messages AS m"
        f" WHERE {where} AND m.external_id = e.value"
    )
    keys, exts = bindparam("keys", type_=String()), bindparam("exts", type_=String())
    return text(sql).bindparams(_CID, _TID, keys, exts).columns(*MESSAGES.c)


def _same_key(row: dict[str, Any], data: MessageFields) -> bool:
    key, ext = data.get("idempotency_key"), data.get("external_id")
    return (key is not None and row["idempotency_key"] == key) or (
        ext is not None and row["external_id"] == ext
    )


def _check_same(row: Any, data: MessageFields) -> None:
    if row["role"] != data["role"] or row["content"] != data["content"]:
        given = data.get("idempotency_key")
        key = (
            "idempotency_key"
            if given is not None and row["idempotency_key"] == given
            else "external_id"
        )
        raise ConflictError(
            f"{key} {row[key]!r} is already used by message {uuid.UUID(str(row['id']))} "
            "with a different role or content"
        )


Appended = list[tuple[dict[str, Any], bool]]
"""What :func:`append_message_rows` wrote: each item's row, and whether it was a duplicate."""


def append_messages(
    scope: Scope, conversation_id: uuid.UUID, items: Sequence[MessageFields]
) -> list[MessageRead]:
    """Append several messages in order, in the caller's transaction; duplicates are returned."""
    return records(append_message_rows(scope, conversation_id, items))


def records(appended: Appended) -> list[MessageRead]:
    """The records of :func:`append_message_rows`'s rows. A store builds them after its commit,
    so that the writer's lock is not held while they are."""
    return _RECORDS.validate_python(
        [({**row, "duplicate": True} if dup else row) for row, dup in appended]
    )


def append_message_rows(
    scope: Scope, conversation_id: uuid.UUID, items: Sequence[MessageFields]
) -> Appended:
    """:func:`append_messages`, up to the rows: the stored or new row of each item."""
    scope.get_row(CONVERSATIONS, conversation_id, "conversation", lock=True)
    by_key: dict[tuple[str, str], Any] = {}
    for row in _existing(scope, conversation_id, items):
        _index(by_key, row)
    results: Appended = []
    rows: list[dict[str, Any]] = []
    ids = iter(uuid7_many(len(items)))
    now = scope.now()  # one time for the whole batch, as for one transaction
    for index, item in enumerate(items):
        match = by_key.get(("k", item.get("idempotency_key") or "")) or by_key.get(
            ("e", item.get("external_id") or "")
        )
        if match is not None:
            _check_same(match, item)
            results.append((match, True))
            continue
        row = _row(scope, conversation_id, item, f"items.{index}.content", next(ids), now)
        rows.append(row)
        _index(by_key, row)
        results.append((row, False))
    if rows:
        last_at = max(r["created_at"] for r in rows)
        bumped = _bump(scope, conversation_id, len(rows), last_at)
        assert bumped is not None
        last = bumped[0]
        for offset, row in enumerate(rows):
            row["seq"] = last - len(rows) + 1 + offset
        if ROLLUPS_ON_APPEND:
            rollups_fold.fold(scope.session)  # the others' rows first: the batch counts its own
        insert_rows(scope.session, MESSAGES, rows, staged=len(rows) >= STAGED_FROM)
        if ROLLUPS_ON_APPEND:
            _count_batch(scope, bumped, rows)
    return results


_RECORDS = TypeAdapter(list[MessageRead])


def _count_batch(scope: Scope, bumped: Any, rows: list[dict[str, Any]]) -> None:
    """Add a batch's messages up in Python: one rollup upsert per day they fall on."""
    agent = uuid.UUID(hex=bumped[1]) if isinstance(bumped[1], str) else bumped[1]
    pending: dict[rollups.Key, rollups.Deltas] = {}
    tenant, channel = scope.tenant_id, bumped[2]
    days: dict[datetime, rollups.Key] = {}  # a batch shares one time, or a few

    def key_of(row: dict[str, Any]) -> rollups.Key:
        at = row["created_at"]
        key = days.get(at)
        if key is None:
            key = days[at] = rollups.message_key(tenant, agent, channel, at)
        return key

    rollups.count_messages(pending, key_of, rows)
    rollups.apply(scope.session, pending)
    rollups_fold.mark_counted(scope.session)


def _index(by_key: dict[tuple[str, str], Any], row: dict[str, Any]) -> None:
    if row["idempotency_key"] is not None:
        by_key[("k", row["idempotency_key"])] = row
    if row["external_id"] is not None:
        by_key[("e", row["external_id"])] = row
