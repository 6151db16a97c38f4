"""Import of LangChain's message_store table, from SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from import_sources import SourceDB, make_source, source_kind  # noqa: F401

from parloir import Store

DDL = "CREATE TABLE message_store (id {serial}, session_id TEXT NOT NULL, message TEXT);"


def _msg(kind: str, content: object, **extra: object) -> str:
    import json

    return json.dumps({"type": kind, "data": {"content": content, "type": kind, **extra}})


@pytest.fixture
def langchain(make_source) -> SourceDB:  # noqa: F811
    rows = [
        {"session_id": "s1", "message": _msg("human", "Salut 👋")},
        {"session_id": "s1", "message": _msg("ai", "Bonjour !", response_metadata={"x": 1})},
        {"session_id": "s2", "message": _msg("human", [{"type": "text", "text": "ש"}])},
        {"session_id": "s2", "message": _msg("alien", "?")},
        {"session_id": "s2", "message": "{broken"},
    ]
    return make_source(DDL, {"message_store": rows})


def test_langchain_import(store: Store, langchain: SourceDB) -> None:
    report = store.import_source(langchain.location)
    assert report.layout == "langchain"
    assert dict(report.imported) == {"agents": 1, "conversations": 2, "messages": 3}
    assert report.to_dict()["skipped"] == {"messages": {"bad_role": 1, "invalid_json": 1}}
    convs = {c.external_id: c for c in store.list_conversations().items}
    first = store.last_messages(convs["s1"].id)
    assert [(m.role, m.content) for m in first] == [
        ("user", "Salut 👋"),
        ("assistant", "Bonjour !"),
    ]
    assert first[1].metadata["response_metadata"] == {"x": 1}
    assert [m.content for m in store.last_messages(convs["s2"].id)] == ["ש"]
    assert store.import_source(langchain.location).total_imported == 0
