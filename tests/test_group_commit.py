"""Group commit: appends queued from many threads share transactions, each as if alone.

``Store.queue_message_audited`` on both databases (on PostgreSQL it runs at once), and the
SQLite :class:`~parloir.db.group_commit.GroupCommitter` itself, with groups formed on purpose
by holding the writer thread until the jobs are queued.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from parloir import Store
from parloir.db.errors import translate_db_errors
from parloir.db.group_commit import GroupCommitter
from parloir.errors import InvalidInputError, NotFoundError
from tests.test_concurrency import assert_gapless, run_together

EVENT = {"event_type": "message.create", "actor": "test", "subject_type": "message"}


def queue(store: Store, conversation_id: uuid.UUID, **fields: object) -> Future:
    return store.queue_message_audited(conversation_id, EVENT, **fields)  # type: ignore[arg-type]


def test_threads_queueing_appends_get_gapless_seqs_and_their_events(store, conversation_id):
    def work(i: int) -> list:
        futures = [
            queue(
                store, conversation_id, role="user", content=f"{i}-{n}", idempotency_key=f"{i}-{n}"
            )
            for n in range(25)
        ]
        return [future.result(timeout=60) for future in futures]

    results = [m for batch in run_together(8, work) for m in batch]
    assert len({m.id for m in results}) == 200
    assert not any(m.duplicate for m in results)
    stored = assert_gapless(store, conversation_id, 200)
    assert {m.id for m in stored} == {m.id for m in results}
    events = store.list_audit_events(event_type="message.create", limit=1000).items
    assert sorted(e.subject_id for e in events) == sorted(str(m.id) for m in results)
    assert store.check_rollups().differences == []


def test_a_repeated_key_returns_the_stored_message_as_a_duplicate(store, conversation_id):
    first = queue(store, conversation_id, role="user", content="hi", idempotency_key="k").result()
    again = queue(store, conversation_id, role="user", content="hi", idempotency_key="k").result()
    assert again.duplicate and again.id == first.id
    assert store.get_conversation(conversation_id).message_count == 1
    assert len(store.list_audit_events(event_type="message.create").items) == 1


def test_a_failing_append_does_not_touch_the_others(store, agent_id, conversation_id):
    other = store.create_agent(name="other").id
    futures = [
        queue(store, conversation_id, role="user", content="one"),
        queue(store, uuid.uuid4(), role="user", content="lost"),
        queue(store, conversation_id, role="user", content="wrong agent", agent_id=other),
        queue(store, conversation_id, role="assistant", content="two", agent_id=agent_id),
    ]
    for failing in futures[1:3]:
        with pytest.raises(NotFoundError):
            failing.result(timeout=30)
    assert [f.result(timeout=30).seq for f in (futures[0], futures[3])] == [1, 2]
    assert_gapless(store, conversation_id, 2)
    assert len(store.list_audit_events(event_type="message.create").items) == 2


def test_bad_fields_are_refused_at_once_and_nothing_is_written(store, conversation_id):
    with pytest.raises(InvalidInputError) as caught:
        queue(store, conversation_id, role="robot", content="x")
    assert caught.value.errors[0].field == "role"
    assert store.get_conversation(conversation_id).message_count == 0


def test_only_sqlite_groups_writes(store):
    assert store.groups_writes == (store.dialect == "sqlite")


# The committer itself, on a SQLite file of its own.


@pytest.fixture
def committer(tmp_path: Path):
    engine = create_engine(
        f"sqlite:///{tmp_path / 'group.db'}",
        pool_size=1,
        max_overflow=0,
        connect_args={"isolation_level": None},
    )
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY)")
        connection.commit()
    made = GroupCommitter(engine, translate_db_errors)
    yield made, tmp_path / "group.db"
    made.close()
    engine.dispose()


def insert(n: int):
    def job(connection):
        connection.connection.driver_connection.execute("INSERT INTO t VALUES (?)", (n,))
        return n

    return job


def held_group(committer: GroupCommitter, jobs: list) -> list[Future]:
    """Submit ``jobs`` while the writer thread is busy, so that they form one group."""
    started, release = threading.Event(), threading.Event()

    def hold(_connection):
        started.set()
        release.wait(timeout=30)

    committer.submit(hold)
    started.wait(timeout=30)
    futures = [committer.submit(job) for job in jobs]
    release.set()
    return futures


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [n for (n,) in connection.execute("SELECT n FROM t ORDER BY n")]


def test_a_job_that_raises_is_undone_alone(committer):
    made, path = committer

    def duplicate_key(connection):
        insert(3)(connection)
        insert(1)(connection)  # the primary key is taken: the job fails after a write

    futures = held_group(made, [insert(1), duplicate_key, insert(2)])
    assert futures[0].result(timeout=30) == 1 and futures[2].result(timeout=30) == 2
    assert isinstance(futures[1].exception(timeout=30), Exception)
    assert rows(path) == [1, 2]


def test_a_job_that_ends_the_transaction_fails_the_whole_group(committer):
    made, path = committer

    def ends_it(connection):
        connection.connection.driver_connection.execute("ROLLBACK")
        raise RuntimeError("rolled back")

    futures = held_group(made, [insert(1), ends_it, insert(2)])
    for future in futures:
        assert future.exception(timeout=30) is not None
    assert rows(path) == []


def test_close_runs_what_is_queued_then_refuses(committer):
    made, path = committer
    futures = held_group(made, [insert(n) for n in range(1, 6)])
    made.close()
    assert [f.result(timeout=0) for f in futures] == [1, 2, 3, 4, 5]
    assert rows(path) == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError):
        made.submit(insert(9))
