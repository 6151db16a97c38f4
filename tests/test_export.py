"""Export (JSON lines, CSV) and the round trip through parloir's own JSONL import."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from parloir import Store
from parloir.cli import app

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _fill(store: Store) -> None:
    agent = store.create_agent(name="helper", model="gpt-4o-mini", provider="openai")
    other = store.create_agent(name="other")
    for index in range(3):
        conv = store.get_or_create_conversation(
            agent_id=agent.id if index < 2 else other.id,
            channel="telegram",
            external_id=f"chat-{index}",
            title=f"Chat {index} 🚀",
        )
        store.upsert_contact(channel="telegram", external_id=f"u{index}", name="Ada")
        question = store.append_message(
            conv.id,
            role="user",
            content="/start שלום",
            idempotency_key=f"upd-{index}",
            created_at=T0 + timedelta(minutes=index),
            metadata={"lang": "he"},
        )
        answer = store.append_message(
            conv.id,
            role="assistant",
            content="Bonjour 👋",
            token_count=12,
            sources=[{"title": "doc"}],
            created_at=T0 + timedelta(minutes=index, seconds=5),
        )
        store.record_llm_call(
            model="gpt-4o-mini",
            provider="openai",
            message_id=answer.id,
            input_tokens=100,
            output_tokens=12,
            cost_nanos=1234,
            idempotency_key=f"call-{index}",
            created_at=answer.created_at,
            prompt=[{"role": "user", "content": "x"}],
        )
        store.add_feedback(answer.id, rating=5, comment="great", created_at=answer.created_at)
        store.add_feedback(conversation_id=conv.id, rating=1, created_at=question.created_at)


def _normalised(lines: list[dict[str, Any]]) -> str:
    """The export with every id replaced by its order of first appearance."""
    ordered = sorted(lines, key=lambda x: (x["created_at"], x.get("external_id") or ""))
    text = json.dumps(ordered, sort_keys=True, ensure_ascii=False)
    seen: dict[str, str] = {}
    return UUID.sub(lambda m: seen.setdefault(m.group(0), f"<id{len(seen)}>"), text)


def test_export_lines_are_openai_messages_with_calls_and_feedback(store: Store) -> None:
    _fill(store)
    lines = list(store.export_conversations(page_size=2))
    assert len(lines) == 3
    first = lines[0]
    assert first["external_id"] == "chat-0" and first["agent"]["name"] == "helper"
    assert [(m["role"], m["content"]) for m in first["messages"]] == [
        ("user", "/start שלום"),
        ("assistant", "Bonjour 👋"),
    ]
    assert first["messages"][1]["sources"] == [{"title": "doc"}]
    assert first["llm_calls"][0]["message_seq"] == 2
    assert first["llm_calls"][0]["cost_nanos"] == 1234
    assert sorted(f["rating"] for f in first["feedback"]) == [1, 5]
    helper = next(a for a in store.list_agents() if a.name == "helper").id
    assert len(list(store.export_conversations(agent_id=helper))) == 2
    later = list(store.export_conversations(since=datetime(2999, 1, 1, tzinfo=UTC)))
    assert later == []


def test_round_trip_through_jsonl(store: Store, tmp_path: Path) -> None:
    _fill(store)
    exported = list(store.export_conversations())
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in exported))

    fresh = store.for_tenant(store.create_tenant(name="Copy", slug="copy").id)
    report = fresh.import_source(str(path))
    assert report.layout == "jsonl"
    assert report.imported["conversations"] == 3 and report.imported["messages"] == 6
    assert report.imported["llm_calls"] == 3 and report.imported["feedback"] == 6
    again = list(fresh.export_conversations())
    assert _normalised(again) == _normalised(exported)
    # Another tenant of the same database holds the original ids: new ones were made.
    assert {line["id"] for line in again}.isdisjoint(line["id"] for line in exported)
    assert fresh.import_source(str(path)).total_imported == 0


def test_generic_openai_jsonl(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    lines = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
                },
                {"role": "assistant", "content": "Hello!"},
            ],
            "topic": "greeting",
        },
        {"messages": [{"role": "wizard", "content": "?"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n")
    report = store.import_source(str(path))
    assert report.imported["messages"] == 3
    assert report.to_dict()["skipped"] == {"conversations": {"bad_role": 1, "invalid_json": 1}}
    (conv,) = store.list_conversations().items
    assert conv.metadata == {"topic": "greeting"} and conv.channel == "api"
    texts = [m.content for m in store.last_messages(conv.id)]
    assert texts == ["Be brief.", "Hi there", "Hello!"]
    assert store.import_source(str(path)).total_imported == 0


def test_round_trip_into_a_fresh_database_keeps_the_ids(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'a.db'}") as first:
        _fill(first)
        exported = list(first.export_conversations())
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in exported))
    with Store.open(f"sqlite:///{tmp_path / 'b.db'}") as second:
        second.import_source(str(path))
        assert list(second.export_conversations()) == exported


def test_cli_export_and_import(database_url: str, tmp_path: Path) -> None:
    with Store.open(database_url) as store:
        _fill(store)
    runner = CliRunner()
    base = ["--database-url", database_url]
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, [*base, "export", "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"conversations": 3, "messages": 6, "format": "jsonl"}
    result = runner.invoke(app, [*base, "export", "--format", "csv", "--agent", "helper"])
    rows = list(csv.reader(result.output.splitlines()))
    assert rows[0][:3] == ["conversation_id", "conversation_external_id", "agent_id"]
    assert len(rows) == 1 + 4
    result = runner.invoke(app, [*base, "export", "--contact", "telegram:u1", "--json"])
    assert result.exit_code == 0
    result = runner.invoke(app, [*base, "import", str(out), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True and report["imported"] == {}
    assert report["skipped"]["conversations"]["already_imported"] == 3
    result = runner.invoke(app, [*base, "import", str(out)])
    assert result.exit_code == 0 and "Skipped" in result.output
    result = runner.invoke(app, [*base, "import", str(out), "--tenant", "nope"])
    assert result.exit_code == 2
    result = runner.invoke(app, [*base, "export", "--format", "xml"])
    assert result.exit_code == 2
