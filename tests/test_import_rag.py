"""Import of the RAG assistant layout (seed 001): two systems in one SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store

DDL = """
CREATE TABLE "user" (id {serial}, username VARCHAR(150) UNIQUE, hashed_password TEXT,
                     role VARCHAR(20));
CREATE TABLE conversation (id {serial}, session_id VARCHAR(100), created_at {ts});
CREATE TABLE message (id {serial}, conversation_id INTEGER, role VARCHAR(20), content TEXT,
                      timestamp {ts}, sources TEXT);
CREATE TABLE rag_conversations (
    id {serial}, session_id TEXT UNIQUE, timestamp {ts}, question TEXT, answer TEXT,
    chat_history TEXT, intent_analysis TEXT, context_docs_count INTEGER, sources_count INTEGER,
    processing_steps TEXT, success BOOLEAN, error TEXT, response_time REAL,
    user_input_tokens INTEGER, final_output_tokens INTEGER, intermediate_input_tokens INTEGER,
    intermediate_output_tokens INTEGER, total_input_tokens INTEGER, total_output_tokens INTEGER,
    grand_total_tokens INTEGER, total_cost_usd REAL, created_at {ts}
);
CREATE TABLE token_operations (id {serial}, session_id TEXT, operation TEXT, model TEXT,
    input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, cost_usd REAL,
    timestamp {ts});
CREATE TABLE context_documents (id {serial}, session_id TEXT, content_preview TEXT,
    metadata TEXT, created_at {ts});
CREATE TABLE global_statistics (id {serial}, stat_name TEXT UNIQUE, stat_value TEXT,
    last_updated {ts});
"""
T0 = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
HASH = "$2b$12$KIXQJZ5m0n7bq0sQe1Yh3uVZl5n6rPp1cE8m2t0k7QHq0J5Rz9e7a"


def _data() -> dict[str, list[dict[str, object]]]:
    later = T0 + timedelta(seconds=4)
    return {
        "user": [
            {"username": "admin", "hashed_password": HASH, "role": "admin"},
            {"username": "prof", "hashed_password": HASH, "role": "teacher"},
        ],
        "conversation": [{"session_id": "sess-A", "created_at": T0}],
        "message": [
            {
                "conversation_id": 1,
                "role": "user",
                "content": "Horaires de la BU ?",
                "timestamp": T0,
            },
            {
                "conversation_id": 1,
                "role": "assistant",
                "content": "8h-20h.",
                "timestamp": later,
                "sources": '["guide.pdf"]',
            },
            {"conversation_id": 5, "role": "user", "content": "orphan", "timestamp": T0},
        ],
        "rag_conversations": [
            # The same turn as in `message`: stored once.
            {
                "session_id": "sess-A",
                "timestamp": T0,
                "question": "Horaires de la BU ?",
                "answer": "8h-20h.",
                "intent_analysis": '{"intent": "hours"}',
                "processing_steps": '["retrieve", "answer"]',
                "context_docs_count": 2,
                "success": True,
                "response_time": 1.25,
                "total_input_tokens": 900,
                "total_output_tokens": 40,
                "grand_total_tokens": 940,
                "total_cost_usd": 0.00123,
                "created_at": later,
            },
            {
                "session_id": "sess-B",
                "timestamp": T0,
                "question": "Et le samedi ? 🤔",
                "answer": "",
                "success": False,
                "error": "LLM timeout",
                "response_time": 30.0,
                "total_input_tokens": 100,
                "total_output_tokens": 0,
                "grand_total_tokens": 100,
                "total_cost_usd": 0.0001,
                "created_at": later,
            },
        ],
        "token_operations": [
            {
                "session_id": "sess-A",
                "operation": "intent",
                "model": "gpt-4o-mini",
                "input_tokens": 300,
                "output_tokens": 10,
                "total_tokens": 310,
                "cost_usd": 0.0001,
                "timestamp": T0,
            },
            {
                "session_id": "sess-A",
                "operation": "answer",
                "model": "gpt-4o",
                "input_tokens": 600,
                "output_tokens": 30,
                "total_tokens": 630,
                "cost_usd": 0.00113,
                "timestamp": later,
            },
            {
                "session_id": "nowhere",
                "operation": "answer",
                "model": "gpt-4o",
                "input_tokens": 1,
                "output_tokens": 1,
                "total_tokens": 2,
                "timestamp": T0,
            },
        ],
        "context_documents": [
            {
                "session_id": "sess-A",
                "content_preview": "La BU ouvre à 8h",
                "metadata": '{"source": "guide.pdf", "score": 0.91}',
                "created_at": T0,
            },
            {
                "session_id": "sess-A",
                "content_preview": "Fermée le dimanche",
                "metadata": "not json",
                "created_at": T0,
            },
        ],
        "global_statistics": [
            {"stat_name": "total_questions", "stat_value": "2", "last_updated": later},
        ],
    }


@pytest.fixture
def rag(make_source) -> SourceDB:  # noqa: F811
    return make_source(DDL, _data())


def test_rag_import(store: Store, rag: SourceDB) -> None:
    before = rag.fingerprint()
    report = store.import_source(rag.location)

    assert report.layout == "rag-assistant"
    assert dict(report.imported) == {
        "agents": 1,
        "audit_events": 1,
        "conversations": 2,
        "llm_calls": 3,
        "messages": 4,
        "retrievals": 2,
        "users": 2,
    }
    assert report.to_dict()["skipped"] == {
        "llm_calls": {"orphan": 1},
        "messages": {"orphan": 1, "same_turn_in_message_table": 2},
    }
    users = {u.username: u for u in store.list_users()}
    assert users["admin"].role == "admin" and users["prof"].role == "member"
    assert users["prof"].metadata["legacy_role"] == "teacher"
    convs = {c.external_id: c for c in store.list_conversations().items}
    question, answer = store.last_messages(convs["sess-A"].id)
    assert (question.role, question.content) == ("user", "Horaires de la BU ?")
    assert answer.sources == ["guide.pdf"]
    assert answer.metadata["intent_analysis"] == {"intent": "hours"}
    assert answer.metadata["token_breakdown"]["total_cost_usd"] == 0.00123
    calls = store.list_llm_calls(conversation_id=convs["sess-A"].id).items
    assert sorted((c.operation, c.message_id == answer.id, c.cost_nanos) for c in calls) == [
        ("answer", True, 1_130_000),
        ("intent", True, 100_000),
    ]
    failed_q, failed_a = store.last_messages(convs["sess-B"].id)
    assert failed_q.content == "Et le samedi ? 🤔"
    assert (failed_a.error_type, failed_a.error_message, failed_a.response_time_ms) == (
        "rag_failure",
        "LLM timeout",
        30_000,
    )
    (rag_call,) = store.list_llm_calls(conversation_id=convs["sess-B"].id).items
    assert (rag_call.operation, rag_call.is_success, rag_call.cost_nanos) == ("rag", False, 100_000)
    docs = store.list_retrievals(message_id=answer.id)
    assert sorted((d.rank, d.source, d.score) for d in docs) == [
        (1, "guide.pdf", 0.91),
        (2, None, None),
    ]
    assert rag.fingerprint() == before
    again = store.import_source(rag.location)
    assert again.total_imported == 0
    assert store.totals().messages == 4
