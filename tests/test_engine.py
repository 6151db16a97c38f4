"""The SQLite discipline: pragmas, BEGIN IMMEDIATE, one writer connection per process."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event

from parloir import NotFoundError, Settings, Store

pytestmark = pytest.mark.sqlite


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'p.db'}"


def _pragmas(engine):
    with engine.connect() as conn:
        return {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "secure_delete",
            )
        }


def test_every_sqlite_connection_is_wal_full_with_foreign_keys_and_busy_timeout(sqlite_url):
    # secure_delete is set off whatever the build's default (Debian's is on): only an
    # erasure zeroes what it frees.
    with Store.open(sqlite_url) as store:
        engines = store._shared.engines
        for engine in (engines.write, engines.read):
            assert _pragmas(engine) == {
                "journal_mode": "wal",
                "synchronous": 2,
                "foreign_keys": 1,
                "busy_timeout": 5000,
                "secure_delete": 0,
            }


def test_synchronous_normal_is_an_option(sqlite_url):
    settings = Settings(database_url=sqlite_url, sqlite_synchronous="NORMAL", busy_timeout_ms=9000)
    with Store.open(settings=settings) as store:
        pragmas = _pragmas(store._shared.engines.write)
    assert pragmas["synchronous"] == 1
    assert pragmas["busy_timeout"] == 9000


def test_every_write_transaction_begins_immediate_and_reads_do_not(sqlite_url):
    # Traced on the sqlite3 connections themselves: the single append runs on the driver.
    statements: list[tuple[str, str]] = []
    with Store.open(sqlite_url) as store:
        engines = store._shared.engines
        for name, engine in (("write", engines.write), ("read", engines.read)):
            engine.dispose()
            event.listen(
                engine,
                "connect",
                lambda raw, _record, n=name: raw.set_trace_callback(
                    lambda stmt, n=n: statements.append((n, stmt))
                ),
            )
        agent = store.create_agent(name="a")
        conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
        store.append_message(conv.id, role="user", content="hi")
        store.append_messages(conv.id, [{"role": "assistant", "content": "hello"}])
        store.get_conversation(conv.id)
        store.last_messages(conv.id)  # one statement, no transaction
        writes = [s for n, s in statements if n == "write" and not s.startswith("PRAGMA")]
        reads = [s for n, s in statements if n == "read" and not s.startswith("PRAGMA")]
    assert writes.count("BEGIN IMMEDIATE") == 4
    assert writes[0] == "BEGIN IMMEDIATE"
    assert writes.count("COMMIT") == 4
    assert reads[0] == "BEGIN"
    assert "BEGIN IMMEDIATE" not in reads
    assert reads.count("BEGIN") == 1


def test_one_writer_connection_per_process(sqlite_url):
    with Store.open(sqlite_url) as store:
        pool = store._shared.engines.write.pool
        assert pool.size() == 1
        assert pool._max_overflow == 0  # type: ignore[attr-defined]


@pytest.mark.postgresql
def test_a_dead_pooled_postgres_connection_is_replaced_before_use(postgres_url, monkeypatch):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from parloir.db import engine as engine_module

    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    with Store.open(postgres_url) as store:
        agent = store.create_agent(name="survivor")
        admin = create_engine(postgres_url, poolclass=NullPool)
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        admin.dispose()
        assert killed >= 1
        assert store.get_agent(agent.id).name == "survivor"
        conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
        assert store.append_message(conv.id, role="user", content="still here").seq == 1


def test_a_failed_single_append_rolls_back_and_returns_the_writer(sqlite_url):
    with Store.open(sqlite_url) as store:
        agent = store.create_agent(name="a")
        conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
        store.append_message(conv.id, role="user", content="hi", idempotency_key="k")
        with pytest.raises(NotFoundError):
            store.append_message(uuid.uuid4(), role="user", content="lost")
        again = store.append_message(conv.id, role="user", content="hi", idempotency_key="k")
        assert again.duplicate
        pool = store._shared.engines.write.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        with store._shared.engines.write.connect() as connection:
            assert not connection.connection.driver_connection.in_transaction
        assert store.get_conversation(conv.id).message_count == 1


def test_quick_reads_keep_one_connection_per_thread_and_close_them_with_the_store(sqlite_url):
    import sqlite3
    import threading

    store = Store.open(sqlite_url)
    agent = store.create_agent(name="a")
    conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
    store.append_message(conv.id, role="user", content="hi")
    readers = store._shared.readers
    seen = []

    def read() -> None:
        for _ in range(3):
            assert [m.content for m in store.last_messages(conv.id)] == ["hi"]
            seen.append(readers._local.kept.driver_connection)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(map(id, seen))) == 2  # one per thread, kept between reads
    assert not any(connection.in_transaction for connection in seen)  # no snapshot held
    store.close()
    for connection in seen:
        with pytest.raises(sqlite3.ProgrammingError):
            connection.execute("SELECT 1")


def test_a_write_locked_out_past_the_busy_timeout_is_a_busy_error_and_a_503(tmp_path):
    import sqlite3

    from fastapi.testclient import TestClient

    from parloir import BusyError
    from parloir.server.app import create_app

    path = tmp_path / "p.db"
    store = Store.open(f"sqlite:///{path}", settings=Settings(busy_timeout_ms=50))
    agent = store.create_agent(name="a")
    key = store.create_api_key(agent_id=agent.id, name="k").key
    conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(BusyError):
            store.append_message(conv.id, role="user", content="lost")
        with TestClient(create_app(store)) as client:
            answer = client.post(
                f"/v1/conversations/{conv.id}/messages",
                json={"role": "user", "content": "lost too"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "database_busy"
        assert answer.headers["Retry-After"] == "1"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.get_conversation(conv.id).message_count == 0
    assert store.append_message(conv.id, role="user", content="now").seq == 1
    store.close()
