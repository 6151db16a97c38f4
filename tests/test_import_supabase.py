"""Import of the Supabase agents layout (seed 003), from SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store

DDL = """
CREATE TABLE agents (
    id {uuid} PRIMARY KEY,
    user_id {uuid},
    name VARCHAR(255),
    role VARCHAR(255),
    instructions TEXT,
    model VARCHAR(100),
    temperature DECIMAL(3,2),
    max_tokens INTEGER,
    top_p DECIMAL(3,2),
    api_key VARCHAR(500),
    is_active BOOLEAN,
    created_at {ts},
    updated_at {ts}
);
CREATE TABLE conversations (
    id {uuid} PRIMARY KEY,
    agent_id {uuid},
    session_id VARCHAR(255),
    visitor_id VARCHAR(255),
    metadata {json},
    created_at {ts},
    updated_at {ts}
);
CREATE TABLE messages (
    id {uuid} PRIMARY KEY,
    conversation_id {uuid},
    role VARCHAR(50),
    content TEXT,
    tokens_used INTEGER,
    response_time_ms INTEGER,
    created_at {ts}
);
"""
AUTH = "CREATE SCHEMA auth; CREATE TABLE auth.users (id UUID PRIMARY KEY, email TEXT);"
T0 = datetime(2025, 11, 3, 14, 0, tzinfo=UTC)
OWNER, AGENT, LAZY, CONV, LOST = (str(uuid.UUID(int=n, version=4)) for n in (1, 2, 3, 4, 5))
KEY = "sk_widget_" + "a1b2c3d4" * 4


def _data(kind: str) -> dict[str, list[dict[str, object]]]:
    data: dict[str, list[dict[str, object]]] = {
        "agents": [
            {
                "id": AGENT,
                "user_id": OWNER,
                "name": "Support",
                "role": "assistant",
                "instructions": "Réponds en français.",
                "model": "mistral-small-latest",
                "temperature": 0.7,
                "max_tokens": 500,
                "top_p": 0.9,
                "api_key": KEY,
                "is_active": True,
                "created_at": T0,
            },
            {
                "id": LAZY,
                "user_id": OWNER,
                "name": "Short key",
                "api_key": "tooshort",
                "created_at": T0,
            },
        ],
        "conversations": [
            {
                "id": CONV,
                "agent_id": AGENT,
                "session_id": "sess-1",
                "visitor_id": "v-9",
                "metadata": {"url": "https://example.com/prix", "ua": "Firefox"},
                "created_at": T0,
            },
            {"id": LOST, "agent_id": str(uuid.UUID(int=77, version=4)), "session_id": "x"},
        ],
        "messages": [
            {
                "id": str(uuid.UUID(int=100 + i, version=4)),
                "conversation_id": CONV,
                "role": role,
                "content": text,
                "tokens_used": tokens,
                "response_time_ms": ms,
                "created_at": T0 + timedelta(seconds=i),
            }
            for i, (role, text, tokens, ms) in enumerate(
                [
                    ("user", "Quel est le prix ? 💶", 7, None),
                    ("assistant", "C'est 10 €.", 12, 640),
                    ("moderator", "?", None, None),
                    ("user", None, None, None),
                ]
            )
        ]
        + [
            {
                "id": str(uuid.UUID(int=200, version=4)),
                "conversation_id": LOST,
                "role": "user",
                "content": "orphan",
            }
        ],
    }
    if kind == "postgresql":
        data = {"auth.users": [{"id": OWNER, "email": "owner@example.com"}], **data}
    return data


@pytest.fixture
def supabase(make_source, source_kind: str) -> SourceDB:  # noqa: F811
    ddl = (AUTH if source_kind == "postgresql" else "") + DDL
    return make_source(ddl, _data(source_kind))


def test_supabase_import(store: Store, supabase: SourceDB) -> None:
    before = supabase.fingerprint()
    report = store.import_source(supabase.location)

    assert report.layout == "supabase-agents"
    assert dict(report.imported) == {
        "agents": 2,
        "api_keys": 1,
        "contacts": 1,
        "conversations": 1,
        "messages": 3,
        "users": 1,
    }
    assert report.to_dict()["skipped"] == {
        "api_keys": {"key_length": 1},
        "conversations": {"orphan": 1},
        "messages": {"bad_role": 1, "orphan": 1},
    }
    agents = {a.name: a for a in store.list_agents()}
    support = agents["Support"]
    assert (support.model, support.provider, support.temperature, support.max_tokens) == (
        "mistral-small-latest",
        "mistral",
        0.7,
        500,
    )
    owner = store.get_user(support.owner_user_id)
    assert owner.external_id == OWNER and owner.role == "owner"
    expected = "owner@example.com" if supabase.kind == "postgresql" else OWNER
    assert owner.username == expected
    verified = store.verify_api_key(KEY)
    assert verified is not None and verified.agent_id == support.id
    (conv,) = store.list_conversations().items
    assert (conv.external_id, conv.agent_id, conv.message_count) == ("sess-1", support.id, 3)
    assert conv.metadata["url"] == "https://example.com/prix"
    assert store.get_contact(conv.contact_id).external_id == "v-9"
    messages = store.last_messages(conv.id)
    assert [(m.role, m.content, m.token_count) for m in messages] == [
        ("user", "Quel est le prix ? 💶", 7),
        ("assistant", "C'est 10 €.", 12),
        ("user", "", None),
    ]
    assert messages[1].response_time_ms == 640
    assert supabase.fingerprint() == before

    again = store.import_source(supabase.location)
    assert again.total_imported == 0
    assert len(store.list_api_keys()) == 1
