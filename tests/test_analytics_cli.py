"""``parloir stats`` with the rollups, and ``parloir costs recompute``."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from parloir import Store
from parloir.cli import app

runner = CliRunner()


def run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--database-url", database_url, *args])
    return result.exit_code, result.output


def _fill(database_url: str) -> None:
    with Store.open(database_url, migrate=True) as store:
        agent = store.create_agent(name="helper")
        conv = store.get_or_create_conversation(agent_id=agent.id, channel="web")
        store.append_message(conv.id, role="user", content="/start")
        store.append_message(conv.id, role="assistant", content="hello", response_time_ms=80)
        store.record_llm_call(
            model="gpt-4o-mini", conversation_id=conv.id, latency_ms=420, input_tokens=900
        )
        store.record_llm_call(model="no-such-model-xyz", agent_id=agent.id, latency_ms=20)


def _tamper(database_url: str, sql: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def test_stats_by_agent_and_day(database_url):
    _fill(database_url)
    code, out = run(database_url, "stats", "--by", "agent", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["conversations"], data["messages"], data["llm_calls"]) == (1, 2, 2)
    (group,) = data["groups"]
    assert group["user_messages"] == 1 and group["commands"] == 1
    assert group["llm_calls_by_operation"] == {"chat": 2}
    assert group["latency_p50_ms"] == 25 and group["latency_p99_ms"] == 500
    code, out = run(database_url, "stats", "--agent", "helper", "--by", "day")
    assert code == 0 and "By day" in out
    code, out = run(database_url, "stats", "--since", "2000-01-01", "--json")
    assert code == 0 and json.loads(out)["messages"] == 2
    code, out = run(database_url, "stats", "--agent", "nobody")
    assert code == 2 and "nobody" in out
    code, out = run(database_url, "stats", "--since", "yesterday")
    assert code == 2


def test_stats_check_fails_on_a_difference_and_recompute_fixes_it(database_url):
    _fill(database_url)
    assert run(database_url, "stats", "--check")[0] == 0
    _tamper(database_url, "UPDATE usage_rollups SET cost_nanos = cost_nanos + 7")
    code, out = run(database_url, "stats", "--check", "--json")
    assert code == 1
    assert {d["column"] for d in json.loads(out)["differences"]} == {"cost_nanos"}
    code, out = run(database_url, "stats", "--recompute", "--check")
    assert code == 1 and "Rollup differences" in out and "rebuilt, 3 difference" in out
    code, out = run(database_url, "stats", "--check")
    assert code == 0 and "0 difference" in out


def test_costs_recompute_lists_the_unknown_model(database_url):
    _fill(database_url)
    _tamper(database_url, "UPDATE llm_calls SET cost_nanos = NULL")
    run(database_url, "stats", "--recompute")
    code, out = run(database_url, "costs", "recompute", "--since", "2000-01-01", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["priced"] == 1 and data["cost_nanos"] > 0
    assert [c["model"] for c in data["unknown"]] == ["no-such-model-xyz"]
    code, out = run(database_url, "costs", "recompute")
    assert code == 0 and "0 call(s) priced" in out and "no-such-model-xyz" in out
    assert run(database_url, "costs", "recompute", "--since", "soon")[0] == 2
