"""Import of the Telegram bot layout (seed 000), from SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store
from parloir.importers import ImportOptions

# The seed's DDL; the UNIQUE on telegram_update_id and the foreign keys are left out, as in
# a database that lost them: duplicates and orphans must still be handled.
DDL = """
CREATE TABLE telegram_conversations (
    id {serial},
    telegram_chat_id BIGINT UNIQUE NOT NULL,
    telegram_user_id BIGINT,
    is_active BOOLEAN DEFAULT true,
    created_at {ts},
    updated_at {ts}
);
CREATE TABLE telegram_messages (
    id {serial},
    conversation_id BIGINT,
    telegram_update_id BIGINT,
    telegram_message_id BIGINT,
    direction VARCHAR(10) NOT NULL,
    text TEXT,
    text_length INTEGER,
    is_command BOOLEAN DEFAULT false,
    command_name VARCHAR(50),
    openai_used BOOLEAN DEFAULT false,
    openai_model VARCHAR(50),
    openai_tokens_used INTEGER,
    openai_latency_ms INTEGER,
    error_type VARCHAR(50),
    error_message TEXT,
    created_at {ts}
);
CREATE TABLE telegram_sessions (
    id {serial},
    conversation_id BIGINT,
    session_key VARCHAR(255) UNIQUE,
    context {json},
    metadata {json},
    expires_at {ts},
    created_at {ts},
    updated_at {ts}
);
CREATE TABLE audit_logs (
    id {serial},
    event_type VARCHAR(50) NOT NULL,
    correlation_id VARCHAR(50),
    update_id BIGINT,
    chat_id BIGINT,
    metadata {json},
    created_at {ts}
);
"""
T0 = datetime(2025, 12, 29, 8, 0, tzinfo=UTC)
RTL = "مرحبا 👋 שלום"


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _data() -> dict[str, list[dict[str, object]]]:
    msgs: list[dict[str, object]] = [
        {
            "conversation_id": 1,
            "telegram_update_id": 100,
            "telegram_message_id": 1,
            "direction": "in",
            "text": "/start@GanopaBot hello",
            "is_command": True,
            "command_name": "start",
            "created_at": _at(0),
        },
        {
            "conversation_id": 1,
            "telegram_update_id": None,
            "telegram_message_id": 2,
            "direction": "out",
            "text": RTL,
            "openai_used": True,
            "openai_model": "gpt-4o-mini",
            "openai_tokens_used": 321,
            "openai_latency_ms": 850,
            "created_at": _at(1),
        },
        # Telegram re-delivered update 100: same key, imported once.
        {
            "conversation_id": 1,
            "telegram_update_id": 100,
            "telegram_message_id": 1,
            "direction": "in",
            "text": "/start@GanopaBot hello",
            "created_at": _at(2),
        },
        {
            "conversation_id": 1,
            "telegram_update_id": 101,
            "direction": "in",
            "text": None,
            "created_at": _at(3),
        },
        {
            "conversation_id": 1,
            "direction": "out",
            "text": "sorry",
            "openai_used": True,
            "openai_model": "gpt-4o-mini",
            "error_type": "timeout",
            "error_message": "OpenAI timed out",
            "created_at": _at(4),
        },
        {
            "conversation_id": 2,
            "telegram_update_id": 200,
            "direction": "in",
            "text": "salut",
            "created_at": _at(5),
        },
        {
            "conversation_id": 99,
            "telegram_update_id": 300,
            "direction": "in",
            "text": "orphan",
            "created_at": _at(6),
        },
        {
            "conversation_id": 2,
            "telegram_update_id": 201,
            "direction": "sideways",
            "text": "?",
            "created_at": _at(7),
        },
    ]
    return {
        "telegram_conversations": [
            {"telegram_chat_id": 123456, "telegram_user_id": 777, "created_at": T0},
            {
                "telegram_chat_id": -100200,
                "telegram_user_id": None,
                "is_active": False,
                "created_at": T0,
            },
        ],
        "telegram_messages": msgs,
        "telegram_sessions": [
            {
                "conversation_id": 1,
                "session_key": "chat_123456",
                "context": {"last": [1, 2]},
                "metadata": {"lang": "fr"},
                "expires_at": datetime(2099, 1, 1, tzinfo=UTC),
                "created_at": T0,
            },
            {
                "conversation_id": 2,
                "session_key": "old",
                "context": None,
                "expires_at": datetime(2020, 1, 1, tzinfo=UTC),
                "created_at": T0,
            },
        ],
        "audit_logs": [
            {
                "event_type": "webhook_received",
                "correlation_id": "c-1",
                "update_id": 100,
                "chat_id": 123456,
                "metadata": {"ip": "1.2.3.4"},
                "created_at": T0,
            },
        ],
    }


@pytest.fixture
def telegram(make_source) -> SourceDB:  # noqa: F811
    return make_source(DDL, _data())


def test_telegram_import(store: Store, telegram: SourceDB) -> None:
    before = telegram.fingerprint()
    report = store.import_source(telegram.location)

    assert report.layout == "telegram"
    assert dict(report.imported) == {
        "agents": 1,
        "audit_events": 1,
        "contacts": 1,
        "conversations": 2,
        "llm_calls": 2,
        "messages": 5,
        "sessions": 1,
    }
    assert report.to_dict()["skipped"] == {
        "messages": {"bad_role": 1, "duplicate_key": 1, "orphan": 1},
        "sessions": {"expired": 1},
    }
    convs = {c.external_id: c for c in store.list_conversations(limit=10).items}
    chat = convs["123456"]
    assert (chat.message_count, chat.last_seq, chat.last_message_at) == (4, 4, _at(4))
    assert convs["-100200"].status == "archived" and convs["-100200"].contact_id is None
    assert store.get_contact(chat.contact_id).external_id == "777"
    messages = store.last_messages(chat.id)
    assert [(m.seq, m.role, m.content) for m in messages] == [
        (1, "user", "/start@GanopaBot hello"),
        (2, "assistant", RTL),
        (3, "user", ""),
        (4, "assistant", "sorry"),
    ]
    assert (messages[0].command, messages[0].command_args) == ("start", "hello")
    assert messages[0].idempotency_key == "100" and messages[0].external_id == "1"
    assert messages[1].token_count == 321
    assert messages[3].error_type == "timeout"
    calls = store.list_llm_calls(conversation_id=chat.id).items
    by_message = {c.message_id: c for c in calls}
    ok = by_message[messages[1].id]
    assert (ok.model, ok.provider, ok.total_tokens, ok.latency_ms, ok.is_success) == (
        "gpt-4o-mini",
        "openai",
        321,
        850,
        True,
    )
    assert ok.input_tokens == 0 and ok.cost_nanos is None
    assert by_message[messages[3].id].is_success is False
    session = store.get_session("chat_123456")
    assert session is not None and session.context == {"last": [1, 2]}
    assert session.conversation_id == chat.id and session.metadata["lang"] == "fr"
    assert store.get_session("old") is None
    event = store.list_audit_events().items[0]
    assert (event.subject_type, event.subject_id) == ("conversation", str(chat.id))
    assert event.metadata["telegram_update_id"] == 100
    assert telegram.fingerprint() == before

    again = store.import_source(telegram.location)
    assert again.total_imported == 0
    assert store.totals().messages == 5


def test_telegram_dry_run(store: Store, telegram: SourceDB) -> None:
    report = store.import_source(telegram.location, dry_run=True)
    assert report.imported["messages"] == 5
    totals = store.totals()
    assert (totals.messages, totals.conversations, totals.llm_calls) == (0, 0, 0)


def test_chunks_split_conversations_and_merge_into_live_data(
    store: Store, telegram: SourceDB
) -> None:
    agent = store.create_agent(name="live")
    assert agent.id  # another agent: the import makes its own
    first = store.import_source(telegram.location, options=ImportOptions(chunk_size=2))
    assert first.imported["messages"] == 5
    assert first.to_dict()["skipped"]["messages"] == {
        "bad_role": 1,
        "duplicate_key": 1,
        "orphan": 1,
    }
    chat = next(c for c in store.list_conversations().items if c.external_id == "123456")
    # The live bot goes on appending; a later import continues after it.
    store.append_message(chat.id, role="user", content="live", created_at=_at(30))
    again = store.import_source(telegram.location, options=ImportOptions(chunk_size=3))
    assert again.total_imported == 0
    messages = store.last_messages(chat.id)
    assert [m.seq for m in messages] == [1, 2, 3, 4, 5]
    assert store.get_conversation(chat.id).message_count == 5


def test_prompts_are_not_kept_when_capture_is_off(make_store, telegram: SourceDB) -> None:
    from parloir.config import Settings

    store = make_store(settings=Settings(capture_prompts=False))
    store.import_source(telegram.location)
    assert all(c.prompt is None for c in store.list_llm_calls().items)
