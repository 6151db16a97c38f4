"""Retention policies (ER-03): exactly the rows past the cutoff go, the rest is untouched."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from erasure_support import canary, digests

from parloir import Store
from parloir.errors import InvalidInputError

SECOND = timedelta(seconds=1)


def _fts_ok(store: Store) -> None:
    if store.dialect == "sqlite":
        with store._write() as scope:
            scope.session.exec_driver_sql(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
            )


def _hits(store: Store, token: str) -> int:
    return len(store.search(token).items)


def _conversation(store: Store, agent: uuid.UUID, clock, at, name: str) -> tuple[uuid.UUID, str]:
    """A conversation whose one message (with a model call and a retrieval) is made at ``at``."""
    clock.now = at
    conv = store.get_or_create_conversation(agent_id=agent, channel="web", external_id=name)
    token = canary()
    message = store.append_message(conv.id, role="user", content=f"hello {token}")
    call = store.record_llm_call(
        model="gpt-4o-mini",
        agent_id=agent,
        conversation_id=conv.id,
        message_id=message.id,
        prompt=[{"role": "user", "content": token}],
        response={"text": token},
    )
    store.record_retrieval(llm_call_id=call.id, content_preview=token)
    return conv.id, token


def test_drop_content_takes_exactly_the_messages_before_the_cutoff(store: Store, clock) -> None:
    agent = store.create_agent(name="a", model="m").id
    other = store.create_agent(name="b", model="m").id
    base = clock.now
    convs = [_conversation(store, agent, clock, base + n * SECOND, f"c{n}") for n in range(3)]
    untouched = _conversation(store, other, clock, base, "other")
    store.set_retention_policy(agent, drop_content_after_days=30)
    clock.now = base + SECOND + timedelta(days=30)  # the cutoff is the second message's time
    before = {c: store.get_conversation(c) for c, _ in [*convs, untouched]}
    stats = store.global_statistics()

    report = store.apply_retention()
    assert report.messages_emptied == 1 and report.conversations_deleted == 0
    assert report.llm_calls_scrubbed == 1
    emptied, *kept = convs
    message = store.last_messages(emptied[0])[0]
    assert message.content == "" and message.content_length == len(f"hello {emptied[1]}")
    assert _hits(store, emptied[1]) == 0
    assert [_hits(store, token) for _, token in [*kept, untouched]] == [1, 1, 1]
    calls = {c.conversation_id: c for c in store.list_llm_calls().items}
    assert calls[emptied[0]].prompt is None and calls[emptied[0]].response is None
    assert all(calls[c].prompt is not None for c, _ in [*kept, untouched])
    assert {c: store.get_conversation(c) for c in before} == before
    assert store.global_statistics() == stats
    assert store.check_rollups().differences == []
    _fts_ok(store)
    again = store.apply_retention()
    assert (again.messages_emptied, again.llm_calls_scrubbed) == (0, 0)


def test_delete_takes_exactly_the_conversations_past_the_cutoff(store: Store, clock) -> None:
    agent = store.create_agent(name="a", model="m").id
    base = clock.now
    convs = [_conversation(store, agent, clock, base + n * SECOND, f"c{n}") for n in range(3)]
    clock.now = base
    store.set_session("expired", {"x": 1}, ttl=60)
    store.set_session("alive", {"x": 2}, ttl=timedelta(days=400))
    store.set_retention_policy(agent, delete_after_days=60)
    clock.now = base + SECOND + timedelta(days=60)
    stats = store.global_statistics()

    report = store.apply_retention()
    assert (report.conversations_deleted, report.messages_deleted) == (1, 1)
    assert report.sessions_purged == 1 and store.get_session("alive") is not None
    remaining = [c.id for c in store.list_conversations(agent_id=agent).items]
    assert sorted(remaining) == sorted(c for c, _ in convs[1:])
    assert all(store.get_conversation(c).message_count == 1 for c in remaining)
    assert _hits(store, convs[0][1]) == 0 and _hits(store, convs[1][1]) == 1
    calls = store.list_llm_calls().items
    assert len(calls) == 3 and sum(c.prompt is None for c in calls) == 1
    assert store.global_statistics() == stats
    assert store.check_rollups().differences == []
    _fts_ok(store)
    if store.dialect == "sqlite":
        assert report.auto_vacuum == "incremental"


def test_the_deletion_wins_and_a_dry_run_changes_nothing(
    store: Store, clock, tmp_path: Path
) -> None:
    agent = store.create_agent(name="a", model="m").id
    base = clock.now
    old, _ = _conversation(store, agent, clock, base, "old")
    middle, _ = _conversation(store, agent, clock, base + timedelta(days=10), "middle")
    _conversation(store, agent, clock, base + timedelta(days=20), "new")
    store.set_retention_policy(agent, drop_content_after_days=10, delete_after_days=20)
    assert store.get_retention_policy(agent).delete_after_days == 20  # type: ignore[union-attr]
    clock.now = base + timedelta(days=25)
    state = digests(store, set())

    dry = store.apply_retention(dry_run=True)
    assert digests(store, set()) == state
    archive = tmp_path / "archive.jsonl"
    report = store.apply_retention(archive=archive)
    assert dry.model_copy(update={"dry_run": False}) == report.model_copy(
        update={"auto_vacuum": None, "pages_freed": 0}
    )
    assert (report.conversations_deleted, report.messages_emptied) == (1, 1)
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted([str(old), str(middle)])
    assert all(line["messages"][0]["content"].startswith("hello") for line in lines)
    assert store.check_rollups().differences == []


def test_policies_are_checked_and_removable(store: Store) -> None:
    agent = store.create_agent(name="a", model="m").id
    with pytest.raises(InvalidInputError):
        store.set_retention_policy(agent, delete_after_days=0)
    with pytest.raises(InvalidInputError):
        store.set_retention_policy(uuid.uuid4(), delete_after_days=3)
    first = store.set_retention_policy(agent, delete_after_days=3)
    assert first is not None and first.drop_content_after_days is None
    changed = store.set_retention_policy(agent, drop_content_after_days=1, delete_after_days=5)
    assert changed is not None and changed.created_at == first.created_at
    assert store.list_retention_policies() == [changed]
    assert store.set_retention_policy(agent) is None
    assert store.get_retention_policy(agent) is None


@pytest.mark.sqlite
def test_a_file_without_incremental_auto_vacuum_is_reported(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE legacy (x)")
    connection.close()
    with Store.open(f"sqlite:///{path}") as store:
        report = store.apply_retention()
    assert (report.auto_vacuum, report.pages_freed) == ("none", 0)
