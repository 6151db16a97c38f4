"""Import of the legacy question/response table (seed 004), from SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store
from parloir.errors import InvalidInputError
from parloir.importers import ImportOptions
from parloir.importers.framework import GC_THRESHOLD

DDL = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    session_id TEXT,
    user_id TEXT,
    question TEXT,
    response TEXT,
    preview TEXT,
    feedback INTEGER,
    language TEXT,
    created_at {ts}
);
"""
T0 = datetime(2025, 10, 11, 9, 30, tzinfo=UTC)
RTL = "שלום, מה שלומך? مرحبا كيف حالك"
EMOJI = "Bonjour 👋🏽 ça va ? 🇫🇷"


def _rows(kind: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "id": str(uuid.UUID(int=i + 1, version=4)),
            "session_id": f"s{i % 2}",
            "user_id": f"user-{i % 3}",
            "question": f"{EMOJI} #{i}",
            "response": f"{RTL} #{i}",
            "preview": EMOJI,
            "feedback": i,
            "language": "fr",
            "created_at": T0 + timedelta(minutes=i),
        }
        for i in range(6)
    ]
    rows.append(
        {
            "id": "conv_legacy_1",
            "user_id": "user-0",
            "question": "q",
            "response": "r",
            "created_at": T0,
        }
    )
    rows.append({"id": "42", "question": "only a question", "response": None, "created_at": None})
    rows.append({"id": "too-long", "question": "x" * 70_000, "response": "r", "created_at": T0})
    rows.append(
        {"id": str(uuid.UUID(int=99, version=4)), "question": "x" * 70_000, "response": "y"}
    )
    if kind == "sqlite":  # PostgreSQL text cannot hold NUL: only a SQLite source can
        rows.append({"id": "nul", "question": "a\x00b", "response": "r", "created_at": T0})
    return rows


@pytest.fixture
def legacy(make_source, source_kind: str) -> SourceDB:  # noqa: F811
    return make_source(DDL, {"conversations": _rows(source_kind)})


def test_legacy_rows_become_conversations_of_two_messages(store: Store, legacy: SourceDB) -> None:
    before = legacy.fingerprint()
    report = store.import_source(legacy.location)

    assert report.layout == "legacy-qa"
    assert dict(report.imported) == {
        "agents": 1,
        "contacts": 3,
        "conversations": 8,
        "messages": 15,
    }
    skipped = {"content_too_long": 2} | ({"invalid_content": 1} if legacy.kind == "sqlite" else {})
    assert report.to_dict()["skipped"] == {"conversations": skipped}
    assert report.notes["non_uuid_ids"] == 3 + (legacy.kind == "sqlite")
    convs = {c.external_id: c for c in store.list_conversations(limit=100).items}
    assert set(convs) == {
        *(str(uuid.UUID(int=i + 1, version=4)) for i in range(6)),
        "conv_legacy_1",
        "42",
    }
    first = convs[str(uuid.UUID(int=1, version=4))]
    assert (first.message_count, first.last_seq, first.last_message_at) == (2, 2, T0)
    assert first.title == EMOJI and first.channel == "web"
    assert first.metadata == {"feedback": 0, "language": "fr", "session_id": "s0"}
    messages = store.last_messages(first.id)
    assert [(m.seq, m.role, m.content) for m in messages] == [
        (1, "user", f"{EMOJI} #0"),
        (2, "assistant", f"{RTL} #0"),
    ]
    assert messages[0].created_at == T0
    lonely = store.last_messages(convs["42"].id)
    assert [(m.role, m.content) for m in lonely] == [("user", "only a question")]
    assert convs["42"].created_at == store._shared.clock()  # no source time: the import's
    assert store.get_contact(convs["conv_legacy_1"].contact_id).external_id == "user-0"
    assert legacy.fingerprint() == before


def test_importing_again_imports_nothing(store: Store, legacy: SourceDB) -> None:
    first = store.import_source(legacy.location)
    again = store.import_source(legacy.location)
    assert again.total_imported == 0
    assert again.skipped["messages"]["already_imported"] == first.imported["messages"]
    assert store.totals().messages == first.imported["messages"]


def test_dry_run_writes_nothing(store: Store, legacy: SourceDB) -> None:
    dry = store.import_source(legacy.location, dry_run=True)
    assert dry.dry_run and dry.imported["messages"] == 15
    assert store.totals().messages == 0 and store.totals().conversations == 0
    real = store.import_source(legacy.location)
    assert dict(real.imported) == dict(dry.imported)


def test_garbage_is_collected_less_often_during_an_import_only(
    store: Store, legacy: SourceDB
) -> None:
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    store.import_source(legacy.location, progress=lambda n: during.append(gc.get_threshold()))
    assert during and all(seen == (GC_THRESHOLD, *before[1:]) for seen in during)
    assert gc.get_threshold() == before


def test_small_chunks_give_the_same_result(store: Store, legacy: SourceDB) -> None:
    report = store.import_source(legacy.location, options=ImportOptions(chunk_size=2))
    assert report.imported["messages"] == 15


@pytest.mark.parametrize("source_kind", ["sqlite"], indirect=True)
def test_unknown_sources_are_refused(store: Store, tmp_path, make_source) -> None:  # noqa: F811
    with pytest.raises(InvalidInputError, match="no file"):
        store.import_source(str(tmp_path / "missing.db"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InvalidInputError, match="neither"):
        store.import_source(str(text))
    other = make_source("CREATE TABLE things (id INTEGER);", {})
    with pytest.raises(InvalidInputError, match="no known layout"):
        store.import_source(other.location)
    with pytest.raises(InvalidInputError, match="unknown layout"):
        store.import_source(other.location, options=ImportOptions(layout="nope"))


def test_rows_without_time_get_the_same_id_with_a_real_clock(make_store, legacy: SourceDB) -> None:
    store = make_store()  # the real clock: the import's time changes between runs
    first = store.import_source(legacy.location)
    assert store.import_source(legacy.location).total_imported == 0
    assert store.totals().conversations == first.imported["conversations"]


@pytest.mark.parametrize("source_kind", ["sqlite"], indirect=True)
def test_invalid_utf8_in_a_sqlite_source_is_skipped(store: Store, make_source) -> None:  # noqa: F811
    import sqlite3

    source = make_source(DDL, {"conversations": [{"id": "ok", "question": "q", "response": "r"}]})
    db = sqlite3.connect(source.location)
    db.execute(
        "INSERT INTO conversations (id, question, response) "
        "VALUES ('bad', CAST(X'C328' AS TEXT), 'r')"
    )
    db.commit()
    db.close()
    report = store.import_source(source.location, options=ImportOptions(chunk_size=1))
    assert report.imported["conversations"] == 1
    assert report.skipped["conversations"]["invalid_content"] == 1


@pytest.mark.parametrize("source_kind", ["sqlite"], indirect=True)
def test_cli_import_json_report(database_url: str, make_source) -> None:  # noqa: F811
    import json

    from typer.testing import CliRunner

    from parloir.cli import app

    source = make_source(DDL, {"conversations": _rows("sqlite")})
    with Store.open(database_url) as store:
        store.create_tenant(name="Acme", slug="acme")
    result = CliRunner().invoke(
        app,
        [
            "--database-url",
            database_url,
            "import",
            source.location,
            "--tenant",
            "acme",
            "--json",
            "--chunk-size",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["imported"]["messages"] == 15 and report["notes"]["non_uuid_ids"] == 4
    bad = CliRunner().invoke(
        app, ["--database-url", database_url, "import", source.location, "--cost-unit", "kg"]
    )
    assert isinstance(bad.exception, InvalidInputError) and "cost_unit" in str(bad.exception)


def test_import_keeps_the_statistics_rollups_exact(store: Store, legacy: SourceDB) -> None:
    report = store.import_source(legacy.location)
    assert store.check_rollups().differences == []
    assert store.global_statistics().messages == report.imported["messages"]
    assert store.global_statistics().conversations == report.imported["conversations"]


def test_imported_messages_are_searchable(store: Store, legacy: SourceDB) -> None:
    store.import_source(legacy.location, options=ImportOptions(chunk_size=3))
    lonely = next(c for c in store.list_conversations(limit=100).items if c.external_id == "42")
    hits = store.search("only question").items
    assert [hit.message_id for hit in hits] == [store.last_messages(lonely.id)[0].id]
    assert store.search("only question", role="assistant").items == []
    if store.dialect == "sqlite":  # the full-text index matches the stored rows exactly
        with store._shared.engines.write.connect() as connection:
            connection.exec_driver_sql(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
            )
