"""Import of the LinkedIn bot layout (seed 002), from SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store
from parloir.importers import ImportOptions

DDL = """
CREATE TABLE users (
    id {serial}, linkedin_id VARCHAR(255), name VARCHAR(255), profile_url VARCHAR(512),
    created_at {ts}, updated_at {ts}
);
CREATE TABLE conversations (
    id {serial}, user_id INTEGER, linkedin_conversation_id VARCHAR(255), status VARCHAR(20),
    created_at {ts}, updated_at {ts}, last_message_at {ts}, metadata {json}
);
CREATE TABLE messages (
    id {serial}, conversation_id INTEGER, linkedin_message_id VARCHAR(255), content TEXT,
    is_from_bot BOOLEAN, sent_at {ts}, delivered_at {ts}, read_at {ts}, metadata {json}
);
CREATE TABLE posts (
    id {serial}, user_id INTEGER, linkedin_post_id VARCHAR(255), content TEXT,
    status VARCHAR(20), scheduled_for {ts}, published_at {ts}, created_at {ts},
    updated_at {ts}, metadata {json}
);
CREATE TABLE ai_interactions (
    id {serial}, message_id INTEGER, post_id INTEGER, model_name VARCHAR(100), prompt TEXT,
    response TEXT, tokens_used INTEGER, duration_ms INTEGER, cost INTEGER, success BOOLEAN,
    error TEXT, metadata {json}, created_at {ts}
);
"""
T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def _data() -> dict[str, list[dict[str, object]]]:
    return {
        "users": [
            {
                "linkedin_id": "ACoAAB123",
                "name": "Jeanne Dupont",
                "profile_url": "https://linkedin.com/in/jeanne",
                "created_at": T0,
            },
            {"linkedin_id": None, "name": "ghost"},
        ],
        "conversations": [
            {
                "user_id": 1,
                "linkedin_conversation_id": "conv123",
                "status": "archived",
                "metadata": {"topic": "business"},
                "created_at": T0,
            },
            {
                "user_id": 1,
                "linkedin_conversation_id": "conv124",
                "status": "weird",
                "created_at": T0,
            },
        ],
        "messages": [
            {
                "conversation_id": 1,
                "linkedin_message_id": "m1",
                "content": "Bonjour !",
                "is_from_bot": True,
                "sent_at": T0,
                "delivered_at": T0 + timedelta(seconds=3),
                "read_at": T0 + timedelta(minutes=1),
            },
            {
                "conversation_id": 1,
                "linkedin_message_id": "m2",
                "content": "Merci 🙏",
                "is_from_bot": False,
                "sent_at": T0 + timedelta(minutes=2),
            },
            {
                "conversation_id": 7,
                "linkedin_message_id": "m3",
                "content": "orphan",
                "is_from_bot": False,
                "sent_at": T0,
            },
        ],
        "posts": [
            {
                "user_id": 1,
                "linkedin_post_id": "p1",
                "content": "Mon post LinkedIn",
                "status": "scheduled",
                "scheduled_for": T0 + timedelta(days=1),
                "created_at": T0,
            },
        ],
        "ai_interactions": [
            {
                "message_id": 1,
                "model_name": "gpt-4",
                "prompt": "Générer une réponse",
                "response": "Réponse générée",
                "tokens_used": 150,
                "duration_ms": 1200,
                "cost": 50,
                "success": True,
                "created_at": T0,
            },
            {
                "post_id": 1,
                "model_name": "gpt-4",
                "tokens_used": 80,
                "cost": None,
                "success": False,
                "error": "rate limited",
                "created_at": T0,
            },
        ],
    }


@pytest.fixture
def linkedin(make_source) -> SourceDB:  # noqa: F811
    return make_source(DDL, _data())


def test_linkedin_import(store: Store, linkedin: SourceDB) -> None:
    before = linkedin.fingerprint()
    report = store.import_source(linkedin.location)

    assert report.layout == "linkedin"
    assert dict(report.imported) == {
        "agents": 1,
        "contacts": 1,
        "conversations": 2,
        "llm_calls": 2,
        "messages": 2,
        "posts": 1,
    }
    assert report.to_dict()["skipped"] == {
        "contacts": {"missing_linkedin_id": 1},
        "messages": {"orphan": 1},
    }
    convs = {c.external_id: c for c in store.list_conversations().items}
    conv = convs["conv123"]
    assert conv.status == "archived" and conv.metadata["topic"] == "business"
    assert convs["conv124"].status == "active"
    assert convs["conv124"].metadata["legacy_status"] == "weird"
    assert store.get_contact(conv.contact_id).name == "Jeanne Dupont"
    bot, person = store.last_messages(conv.id)
    assert (bot.role, bot.content, bot.external_id) == ("assistant", "Bonjour !", "m1")
    assert bot.read_at == T0 + timedelta(minutes=1) and bot.token_count == 150
    assert (person.role, person.content) == ("user", "Merci 🙏")
    assert conv.last_message_at == T0 + timedelta(minutes=2)
    calls = {c.operation: c for c in store.list_llm_calls().items}
    chat = calls["chat"]
    assert chat.message_id == bot.id and chat.total_tokens == 150 and chat.latency_ms == 1200
    assert chat.cost_nanos == 50_000_000 and chat.cost_source == "provided"  # 0.05
    assert chat.metadata["original_cost"] == 50 and chat.metadata["cost_read_as"] == "milli"
    post = calls["post"]
    assert post.is_success is False and post.cost_nanos is None and post.post_id is not None
    assert store.get_post(post.post_id).status == "scheduled"
    assert linkedin.fingerprint() == before
    assert store.import_source(linkedin.location).total_imported == 0


def test_linkedin_cost_unit_is_a_choice(store: Store, linkedin: SourceDB) -> None:
    store.import_source(linkedin.location, options=ImportOptions(cost_unit="millicent"))
    chat = next(c for c in store.list_llm_calls().items if c.operation == "chat")
    assert chat.cost_nanos == 500_000  # 50 thousandths of a cent = 0.0005
