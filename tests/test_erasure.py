"""Erasing one person (ER-01, ER-04 idempotence) and replaying the journal (BR-07)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from erasure_support import (
    Person,
    canary,
    digests,
    occurrences,
    owned_ids,
    populate,
)
from sqlalchemy.engine import make_url

from parloir import Store
from parloir.config import Settings
from parloir.errors import InvalidInputError, NotFoundError


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "erasure-journal.jsonl"


@pytest.fixture
def estore(make_store, clock, journal: Path) -> Store:
    return make_store(clock=clock, settings=Settings(home=journal.parent, erasure_journal=journal))


def _world(store: Store) -> tuple[Person, Person]:
    agents = [store.create_agent(name=name, model="gpt-4o-mini").id for name in ("front", "back")]
    person = populate(store, agents, "x-1", messages=100)
    other = populate(store, agents, "y-2", messages=12)
    return person, other


def _search_hits(store: Store, tokens: list[str]) -> int:
    return sum(len(store.search(token).items) for token in tokens)


def _file_bytes(url: str) -> bytes:
    path = Path(str(make_url(url).database))
    out = b""
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            out += candidate.read_bytes()
    return out


def test_erase_contact_leaves_nothing_of_the_person(
    estore: Store, database_url: str, journal: Path
) -> None:
    person, other = _world(estore)
    assert _search_hits(estore, person.texts[:3]) == 3
    before_stats = estore.global_statistics()
    before_check = estore.check_rollups()
    assert before_check.differences == []

    report = estore.erase_contact(
        person.contact_id, actor="dpo", reason="art. 17 request", correlation_id="req-1"
    )
    assert not report.already_erased
    assert (report.conversations, report.messages) == (3, 100)
    assert report.llm_calls_scrubbed == 3 and report.posts == 1 and report.sessions == 3

    needles = [str(person.contact_id), *person.canaries]
    assert occurrences(estore, needles, index=False) == []
    assert _search_hits(estore, person.canaries) == 0
    assert _search_hits(estore, other.texts[:2]) == 2
    assert estore.check_rollups().differences == []
    assert estore.global_statistics() == before_stats
    calls = estore.list_llm_calls(agent_id=None).items
    assert len(calls) == 6 and sum(c.prompt is None for c in calls) == 3

    compaction = estore.compact()
    assert occurrences(estore, needles) == []
    if estore.dialect == "sqlite":
        data = _file_bytes(database_url)
        for token in person.canaries:
            assert token.encode() not in data and token[-14:].encode() not in data
        assert other.texts[5][-14:].encode() in data
        assert not compaction.wal_busy
    assert _search_hits(estore, other.texts[:2]) == 2
    assert estore.check_rollups().differences == []

    lines = journal.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["subject_id"] == str(person.contact_id)
    assert not any(token in lines[0] for token in person.canaries)
    events = estore.list_audit_events(event_type="contact.erased").items
    assert [(e.subject_id, e.actor, e.correlation_id) for e in events] == [
        (entry["id"], "dpo", "req-1")
    ]


def test_other_tables_are_unchanged(estore: Store) -> None:
    person, _ = _world(estore)
    owned = owned_ids(estore, person)
    estore.fold_rollups()  # SQLite: the appends counted before, as an erasure folds first
    before = digests(estore, owned)
    estore.erase_contact(person.contact_id)
    after = digests(estore, owned_ids(estore, person) | owned)
    changed = {name for name in before if before[name] != after[name]}
    # The erasure's own audit event and journal entry, the residues and the scrubbed calls.
    assert changed <= {"audit_events", "erasure_journal", "rollup_residues"}
    assert {"usage_rollups", "usage_totals", "messages", "contacts"}.isdisjoint(changed)


def test_erasing_twice_is_a_no_op(estore: Store, journal: Path) -> None:
    person, _ = _world(estore)
    first = estore.erase_contact(person.contact_id)
    state = digests(estore, set())
    again = estore.erase_contact(person.contact_id)
    assert again.already_erased and again.journal_id == first.journal_id
    assert digests(estore, set()) == state
    assert len(journal.read_text().splitlines()) == 1
    with pytest.raises(NotFoundError):
        estore.erase_contact(uuid.uuid4())
    with pytest.raises(InvalidInputError):
        estore.erase_contact(person.contact_id, reason="x" * 1001)
    with pytest.raises(InvalidInputError):
        estore.erase_contact(person.contact_id, actor="x" * 256)
    with pytest.raises(InvalidInputError):
        estore.erase_contact(person.contact_id, correlation_id="x" * 256)


def test_replay_erases_a_person_the_database_still_holds(estore: Store, journal: Path) -> None:
    person, other = _world(estore)
    entry = {
        "id": "01900000-0000-7000-8000-0000000000aa",
        "tenant_id": str(estore.tenant_id),
        "subject_type": "contact",
        "subject_id": str(person.contact_id),
        "erased": {"conversations": [], "messages": [], "posts": [], "llm_calls": []},
        "created_at": "2026-01-10T00:00:00+00:00",
    }
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(json.dumps(entry) + "\n" + '{"id": "torn')
    assert estore.replay_erasures() == 1
    assert occurrences(estore, [str(person.contact_id), *person.canaries]) == []
    assert _search_hits(estore, other.texts[:2]) == 2
    assert estore.replay_erasures() == 0
    assert estore.erase_contact(person.contact_id).already_erased
    assert estore.check_rollups().differences == []


@pytest.mark.sqlite
def test_restored_backup_does_not_bring_the_person_back(
    estore: Store, database_url: str, tmp_path: Path, journal: Path, clock
) -> None:
    if estore.dialect != "sqlite":
        pytest.skip("file copy of a SQLite database")
    person, other = _world(estore)
    backup = tmp_path / "backup.db"
    source = sqlite3.connect(str(make_url(database_url).database))
    target = sqlite3.connect(str(backup))
    source.backup(target)
    source.close()
    target.close()
    estore.erase_contact(person.contact_id)

    restored = Store.open(
        f"sqlite:///{backup}",
        settings=Settings(home=tmp_path, erasure_journal=journal),
        clock=clock,
    )
    try:
        assert restored.get_contact(person.contact_id).id == person.contact_id
        assert restored.replay_erasures() == 1
        assert occurrences(restored, [str(person.contact_id), *person.canaries]) == []
        assert _search_hits(restored, person.canaries) == 0
        assert _search_hits(restored, other.texts[:2]) == 2
        assert restored.erase_contact(person.contact_id).already_erased
        assert restored.check_rollups().differences == []
    finally:
        restored.close()


def test_erase_finds_a_contact_by_channel_and_external_id(estore: Store) -> None:
    person, _ = _world(estore)
    assert estore.find_contact_id("telegram", "x-1") == person.contact_id
    with pytest.raises(NotFoundError):
        estore.find_contact_id("telegram", "nobody")
    assert canary() != canary()


def test_the_journal_file_is_read_strictly_but_forgives_a_torn_end(tmp_path: Path) -> None:
    from parloir import erasure_journal
    from parloir.errors import ConfigError

    path = tmp_path / "j.jsonl"
    assert list(erasure_journal.read(path)) == []
    path.write_text('{"id": 1}\n\n{"id": 2}\n{"id"')
    assert [e["id"] for e in erasure_journal.read(path)] == [1, 2]
    path.write_text('{"id"\n{"id": 2}\n')
    with pytest.raises(ConfigError):
        list(erasure_journal.read(path))


def test_the_journal_file_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(home=tmp_path).erasure_journal_path == tmp_path / "erasure-journal.jsonl"
    monkeypatch.setenv("PARLOIR_ERASURE_JOURNAL", str(tmp_path / "j.jsonl"))
    assert Settings.from_env().erasure_journal == tmp_path / "j.jsonl"


def test_a_contact_of_another_tenant_is_not_found(estore: Store) -> None:
    tenant = estore.create_tenant(name="Other", slug="other")
    elsewhere = estore.for_tenant(tenant.id)
    agent = elsewhere.create_agent(name="a", model="m").id
    person = populate(elsewhere, [agent], "x-9", messages=3)
    with pytest.raises(NotFoundError):
        estore.erase_contact(person.contact_id)
    assert elsewhere.erase_contact(person.contact_id).conversations == 3


@pytest.mark.sqlite
def test_compact_rebuilds_the_index_when_rowids_move(
    estore: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parloir import compaction

    if estore.dialect != "sqlite":
        pytest.skip("SQLite's rowids")
    person, other = _world(estore)
    estore.erase_contact(person.contact_id)
    digests_seen = iter(["before", "after"])
    monkeypatch.setattr(compaction, "_rowids", lambda _connection: next(digests_seen))
    report = estore.compact()
    assert report.fts_rebuilt and "fts rebuild" in report.steps
    assert _search_hits(estore, other.texts[:3]) == 3


def test_stored_idempotent_answers_about_the_person_go(estore: Store, clock) -> None:
    from parloir.db.tables_server import IDEMPOTENCY_RECORDS

    person, other = _world(estore)
    rows = [
        (person.conversation_ids[1], "k1"),
        (other.conversation_ids[0], "k2"),
    ]
    with estore._write() as scope:
        for conversation_id, key in rows:
            scope.session.execute(
                IDEMPOTENCY_RECORDS.insert().values(
                    id=uuid.uuid4(),
                    tenant_id=estore.tenant_id,
                    caller="key:1",
                    key=key,
                    request_hash="0" * 64,
                    status_code=201,
                    body=json.dumps({"conversation_id": str(conversation_id)}).encode(),
                    created_at=clock.now,
                    expires_at=clock.now,
                )
            )
    estore.erase_contact(person.contact_id)
    with estore._read() as scope:
        keys = scope.session.execute(IDEMPOTENCY_RECORDS.select()).all()
    assert [row.key for row in keys] == ["k2"]
