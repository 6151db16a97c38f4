"""Helpers of the erasure and retention tests: canary-laden data, and generic scans."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from parloir import Store
from parloir.db.models import Base


def canary() -> str:
    """A unique lowercase token (FTS5 folds case), random from its first character so that
    the index's prefix compression cannot hide much of it."""
    return secrets.token_hex(12)


@dataclass
class Person:
    contact_id: uuid.UUID
    canaries: list[str] = field(default_factory=list)
    conversation_ids: list[uuid.UUID] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the canaries of message contents

    def mark(self) -> str:
        token = canary()
        self.canaries.append(token)
        return token


def populate(store: Store, agents: list[uuid.UUID], external_id: str, messages: int) -> Person:
    """A contact with conversations on every agent (3 in all), messages, model calls with
    prompts, retrievals, feedback, sessions, posts and audit events, each with a canary."""
    person = Person(uuid.uuid4())
    contact = store.upsert_contact(
        channel="telegram", external_id=external_id, name=f"name {person.mark()}"
    )
    person.contact_id = contact.id
    homes = [agents[0], agents[-1], agents[0]]
    for index, agent in enumerate(homes):
        conv = store.get_or_create_conversation(
            agent_id=agent,
            channel="telegram",
            external_id=f"{external_id}-{index}",
            contact_id=contact.id,
            title=f"title {person.mark()}",
        )
        person.conversation_ids.append(conv.id)
        for n in range(messages // 3 + (index < messages % 3)):
            role = "user" if n % 2 == 0 else "assistant"
            token = person.mark()
            person.texts.append(token)
            store.append_message(conv.id, role=role, content=f"text {token} {n}")
        last = store.last_messages(conv.id, limit=1)[0]
        call = store.record_llm_call(
            model="gpt-4o-mini",
            agent_id=agent,
            conversation_id=conv.id,
            message_id=last.id,
            input_tokens=10,
            output_tokens=5,
            latency_ms=120,
            prompt=[{"role": "user", "content": person.mark()}],
            response={"text": person.mark()},
        )
        store.record_retrieval(llm_call_id=call.id, content_preview=person.mark())
        store.record_retrieval(message_id=last.id, content_preview=person.mark())
        store.add_feedback(last.id, rating=4, comment=person.mark(), contact_id=contact.id)
        store.add_feedback(conversation_id=conv.id, comment=person.mark())
        store.set_session(f"s-{external_id}-{index}", {"t": person.mark()}, conversation_id=conv.id)
        store.record_audit_event(
            event_type="conversation.opened",
            subject_type="conversation",
            subject_id=str(conv.id),
            metadata={"note": person.mark()},
        )
    store.record_audit_event(
        event_type="contact.seen",
        subject_type="contact",
        subject_id=str(contact.id),
        metadata={"note": person.mark()},
    )
    store.create_post(channel="telegram", content=person.mark(), contact_id=contact.id)
    return person


def database_tables(store: Store) -> list[str]:
    """Every table the database has (not only the models'): FTS shadow tables included."""
    with store._read() as scope:
        if store.dialect == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        else:
            query = (
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        return [row[0] for row in scope.session.exec_driver_sql(query)]


def _text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


SKIP_FOR_ID = {("erasure_journal", "subject_id"), ("erasure_journal", "erased")}


def occurrences(
    store: Store, needles: list[str], *, index: bool = True
) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every cell of every table holding a needle (raw SQL);
    without ``index``, SQLite's FTS5 shadow tables are left out (their old segments keep
    deleted terms until the index is merged: ``Store.compact``)."""
    found = []
    for table in database_tables(store):
        if not index and table.startswith("messages_fts"):
            continue
        with store._read() as scope:
            result = scope.session.exec_driver_sql(f'SELECT * FROM "{table}"')
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = _text(value)
                    # The journal keeps the erased ids (never text): only canaries count there.
                    wanted = (
                        [n for n in needles if len(n) != 36]
                        if (table, column) in SKIP_FOR_ID
                        else needles
                    )
                    found += [(table, column, n) for n in wanted if n in text]
    return found


def digests(store: Store, exclude: set[Any]) -> dict[str, str]:
    """Per model table, a digest of its rows except those whose id is in ``exclude``."""
    out = {}
    with store._read() as scope:
        for table in Base.metadata.sorted_tables:
            rows = []
            for row in scope.session.execute(select(table)).mappings():
                if row.get("id") in exclude:
                    continue
                rows.append(repr(sorted((k, _text(v)) for k, v in row.items())))
            out[table.name] = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
    return out


def owned_ids(store: Store, person: Person) -> set[Any]:
    """Every row id tied to ``person`` (their rows, and the model calls linked to them)."""
    with store._read() as scope:
        ids: set[Any] = {person.contact_id}
        for table in Base.metadata.sorted_tables:
            if "id" not in table.c:
                continue
            for row in scope.session.execute(select(table)).mappings():
                text = str(dict(row))
                needles = [*map(str, [person.contact_id, *person.conversation_ids])]
                if any(n in text for n in [*needles, *person.canaries]):
                    ids.add(row["id"])
    return ids
