"""The command line, on both databases, through Typer's runner."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from parloir.cli import app
from parloir.db import migrate

runner = CliRunner()


def run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--database-url", database_url, *args])
    return result.exit_code, result.output


def test_db_current_and_upgrade_report_the_revision(database_url):
    code, out = run(database_url, "db", "upgrade", "--json")
    assert code == 0, out
    assert json.loads(out)["to"] == migrate.head_revision()
    code, out = run(database_url, "db", "current", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["current"] == data["head"] == migrate.head_revision()
    assert data["up_to_date"] is True
    code, out = run(database_url, "db", "current")
    assert code == 0 and "up to date" in out.replace("_", " ")


def test_demo_then_stats_json_gives_the_totals(database_url):
    code, out = run(database_url, "demo", "--conversations", "6", "--seed", "3", "--json")
    assert code == 0, out
    demo = json.loads(out)
    assert demo["conversations"] == 6
    code, out = run(database_url, "stats", "--json")
    assert code == 0, out
    stats = json.loads(out)
    assert stats["conversations"] == 6
    assert stats["messages"] == demo["messages"]
    assert stats["llm_calls"] == demo["llm_calls"]
    assert stats["cost_nanos"] > 0
    code, out = run(database_url, "stats", "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["tenants"] == 1
    code, out = run(database_url, "stats")
    assert code == 0 and "conversations" in out


def test_demo_is_deterministic_for_a_seed(tmp_path):
    totals = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name}.db"
        assert run(url, "demo", "--conversations", "5", "--seed", "11")[0] == 0
        data = json.loads(run(url, "stats", "--json")[1])
        totals.append(data)
    assert totals[0] == totals[1]


def test_demo_twice_is_refused_with_a_clear_error(database_url):
    assert run(database_url, "demo", "--conversations", "2")[0] == 0
    result = runner.invoke(app, ["--database-url", database_url, "demo", "--conversations", "2"])
    assert result.exit_code == 1
    assert "already exists" in str(result.exception or "") + result.output


def test_stats_for_an_unknown_tenant_names_the_option(database_url):
    code, out = run(database_url, "stats", "--tenant", "nobody")
    assert code == 2
    assert "--tenant" in out


def test_sessions_purge_and_tenants(database_url):
    code, out = run(database_url, "sessions", "purge", "--json")
    assert code == 0 and json.loads(out) == {"purged": 0}
    code, out = run(database_url, "tenants", "create", "shop", "--name", "Shop", "--json")
    assert code == 0 and json.loads(out)["slug"] == "shop"
    code, out = run(database_url, "tenants", "list", "--json")
    assert {t["slug"] for t in json.loads(out)} == {"default", "shop"}
    code, out = run(database_url, "tenants", "list")
    assert code == 0 and "shop" in out
    assert run(database_url, "sessions", "purge")[0] == 0
    assert run(database_url, "tenants", "create", "other")[0] == 0


def test_python_dash_m_parloir_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "parloir", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "demo" in result.stdout


@pytest.mark.sqlite
def test_library_errors_exit_1_through_main(tmp_path, monkeypatch, capsys):
    from parloir.cli import main

    url = f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setattr(sys, "argv", ["parloir", "--database-url", url, "tenants", "create", "BAD"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    assert "slug" in capsys.readouterr().err
