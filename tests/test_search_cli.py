"""``parloir search`` on both databases."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from parloir import InvalidInputError, Store
from parloir.cli import app

runner = CliRunner()


def run(database_url: str, *args: str):
    return runner.invoke(app, ["--database-url", database_url, "search", *args])


def _fill(database_url: str) -> dict[str, str]:
    with Store.open(database_url) as store:
        agent = store.create_agent(name="bot")
        conversation = store.get_or_create_conversation(agent_id=agent.id, channel="web")
        ids = {}
        for i in range(3):
            ids[
                str(store.append_message(conversation.id, role="user", content=f"[red]tea {i}").id)
            ] = i
        other = store.for_tenant(store.create_tenant(name="Other", slug="other").id)
        agent = other.create_agent(name="bot")
        conversation = other.get_or_create_conversation(agent_id=agent.id, channel="web")
        other.append_message(conversation.id, role="user", content="tea elsewhere")
    return ids


def test_search_json_pages_through_the_default_tenant(database_url):
    ids = _fill(database_url)
    result = run(database_url, "tea", "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)
    assert len(first["items"]) == 2 and first["next_cursor"]
    result = run(database_url, "tea", "--limit", "2", "--cursor", first["next_cursor"], "--json")
    second = json.loads(result.output)
    found = [hit["message_id"] for hit in first["items"] + second["items"]]
    assert sorted(found) == sorted(ids) and second["next_cursor"] is None
    assert "[tea]" in first["items"][0]["snippet"]


def test_search_filters_by_tenant_and_role(database_url):
    _fill(database_url)
    result = run(database_url, "tea", "--tenant", "other", "--json")
    assert [h["snippet"] for h in json.loads(result.output)["items"]] == ["[tea] elsewhere"]
    result = run(database_url, "tea", "--role", "assistant", "--json")
    assert json.loads(result.output)["items"] == []


def test_search_table_escapes_content_markup(database_url):
    _fill(database_url)
    result = run(database_url, "tea", "--since", "2000-01-01T00:00Z", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "[red]" in result.output and "next page: --cursor" in result.output


def test_search_bad_options_and_queries(database_url):
    assert run(database_url, "tea", "--since", "yesterday").exit_code == 2
    assert run(database_url, "tea", "--until", "2026-01-01T00:00").exit_code == 2
    assert run(database_url, "tea", "--tenant", "nobody").exit_code == 2
    result = run(database_url, '""')
    assert isinstance(result.exception, InvalidInputError)
