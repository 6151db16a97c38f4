"""The fold that counts SQLite's single appends in the rollups (parloir.rollups_fold)."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from parloir import Store, rollups_fold
from parloir.compaction import recount_rollups
from parloir.config import Settings
from parloir.db import migrate
from parloir.rollups_rebuild import compare, expected, stored, with_totals


@pytest.fixture
def path(sqlite_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "parloir.db"
    shutil.copy(sqlite_template, target)
    return target


@pytest.fixture
def lite(path: Path, tmp_path: Path) -> Iterator[Store]:
    # Its own home: an erasure writes its journal there.
    settings = Settings(database_url=f"sqlite:///{path}", home=tmp_path / "home")
    store = Store.open(settings=settings)
    yield store
    store.close()


@pytest.fixture
def conversation(lite: Store) -> uuid.UUID:
    agent = lite.create_agent(name="folded").id
    return lite.get_or_create_conversation(agent_id=agent, channel="web", external_id="a").id


@pytest.fixture(autouse=True)
def fresh_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts a fold period of its own (the count is per process)."""
    monkeypatch.setattr(rollups_fold, "_appends", itertools.count(1))


def _query(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(sql).fetchone()[0] or 0)


def _counted(path: Path) -> int:
    """The messages the totals rows count."""
    return _query(path, "SELECT sum(messages) FROM usage_totals")


def _append(store: Store, conversation: uuid.UUID, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        role = "user" if i % 2 else "assistant"
        store.append_message(conversation, role=role, content=f"m{i}", token_count=i)


def test_single_appends_are_counted_by_a_fold(lite, path, conversation):
    _append(lite, conversation, 5)
    assert _counted(path) == 0
    # The view adds what no fold has counted yet; the statistics methods fold first.
    assert _query(path, "SELECT total_messages FROM agent_statistics") == 5
    assert _query(path, "SELECT total_tokens_used FROM agent_statistics") == 10
    assert [row.messages for row in lite.agent_statistics()] == [5]
    assert _counted(path) == 5
    assert lite.fold_rollups() is False  # nothing left


def test_every_64th_append_folds(lite, path, conversation):
    _append(lite, conversation, rollups_fold.FOLD_EVERY - 1)
    assert _counted(path) == 0
    _append(lite, conversation, 1, start=100)
    assert _counted(path) == rollups_fold.FOLD_EVERY
    assert lite.check_rollups().differences == []


def test_closing_the_store_folds(path, conversation, lite):
    _append(lite, conversation, 3)
    lite.close()
    assert _counted(path) == 3


def test_a_deleted_last_rowid_is_not_handed_out_below_the_watermark(lite, path, conversation):
    _append(lite, conversation, 4)
    last = lite.last_messages(conversation, 1)[0]
    lite.delete_message(last.id)  # folds the four, then takes the last one back
    assert _counted(path) == 3
    # SQLite gives the next message the rowid the deleted one had: above the watermark still.
    watermark = _query(path, "SELECT message_rowid FROM rollup_watermark")
    assert _query(path, "SELECT max(rowid) FROM messages") == watermark
    _append(lite, conversation, 2, start=10)
    assert lite.fold_rollups() is True
    assert _counted(path) == 5
    assert lite.check_rollups().differences == []


def test_a_batch_counts_its_own_rows_and_the_pending_ones(lite, path, conversation):
    _append(lite, conversation, 3)
    items = [{"role": "user", "content": f"b{i}"} for i in range(10)]
    lite.append_messages(conversation, items)
    assert _counted(path) == 13
    assert lite.fold_rollups() is False
    assert lite.check_rollups().differences == []


def test_erasure_and_conversation_deletion_count_pending_messages(lite, path):
    agent = lite.create_agent(name="erased").id
    contact = lite.upsert_contact(channel="telegram", external_id="42", name="Ann").id
    kept, gone = (
        lite.get_or_create_conversation(
            agent_id=agent, channel="telegram", external_id=name, contact_id=contact
        ).id
        for name in ("kept", "gone")
    )
    _append(lite, kept, 3)
    _append(lite, gone, 2, start=5)
    lite.delete_conversation(gone)
    assert _counted(path) == 3
    _append(lite, kept, 2, start=10)
    lite.erase_contact(contact)
    assert _counted(path) == 5  # an erasure keeps the counts (its residues match them)
    assert lite.check_rollups().differences == []


def test_recount_after_renumbered_rowids_leaves_nothing_to_fold(lite, path, conversation):
    _append(lite, conversation, 6)
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        recount_rollups(connection)
    engine.dispose()
    assert _counted(path) == 6
    assert lite.fold_rollups() is False
    assert lite.check_rollups().differences == []


def test_the_migration_starts_past_the_stored_messages_and_folds_on_downgrade(
    lite, path, conversation
):
    _append(lite, conversation, 4)
    lite.close()
    engine = create_engine(f"sqlite:///{path}")
    migrate.downgrade(engine, "0008")  # the older code counts in the transaction: fold
    with engine.begin() as connection:
        want = with_totals(*expected(connection, None))[0]
        assert compare(stored(connection, None), want) == []
        connection.exec_driver_sql("DELETE FROM usage_totals")
        connection.exec_driver_sql("DELETE FROM usage_rollups")
    migrate.upgrade(engine)
    # Every message stored before the revision counts as counted already.
    assert _query(path, "SELECT message_rowid FROM rollup_watermark") == _query(
        path, "SELECT max(rowid) FROM messages"
    )
    engine.dispose()
    assert _counted(path) == 0
