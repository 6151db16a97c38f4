"""``parloir serve`` (up to the point where uvicorn takes over), ``users create-admin``,
the server settings and the application factory."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from parloir import Store
from parloir.cli import app
from parloir.errors import ConfigError
from parloir.server.app import app_from_env
from parloir.server.settings import ServerSettings

runner = CliRunner()
DOCS = Path(__file__).parent.parent / "docs"


@pytest.fixture
def uvicorn_calls(monkeypatch):
    """uvicorn is the process boundary: record how it would be started."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setenv("PARLOIR_DATABASE_URL", "sqlite:///unused.db")
    return calls


def _login(database_url: str, tenant_slug: str, username: str, password: str) -> bool:
    with Store.open(database_url) as store:
        tenant = store.find_tenant(tenant_slug)
        assert tenant is not None
        return store.for_tenant(tenant.id).authenticate(username, password) is not None


def test_serve_bootstraps_an_owner_once_then_starts_uvicorn(database_url, uvicorn_calls):
    args = ["--database-url", database_url, "serve", "--port", "9123", "--workers", "3", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    credentials = json.loads(result.stdout)  # a warning, if any, goes to standard error
    assert credentials["username"] == "admin" and len(credentials["password"]) >= 20
    sqlite = database_url.startswith("sqlite")
    assert ("--workers 3 on SQLite" in result.stderr) is sqlite
    assert _login(database_url, "default", "admin", credentials["password"])
    (target,), options = uvicorn_calls[0]
    assert target == "parloir.server.app:app_from_env" and options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("127.0.0.1", 9123, 3)
    assert options["access_log"] is False  # the default log level is WARNING
    again = runner.invoke(app, ["--database-url", database_url, "serve", "--no-migrate"])
    assert again.exit_code == 0 and "password" not in again.output
    assert len(uvicorn_calls) == 2


def test_serve_creates_and_migrates_a_new_sqlite_file(tmp_path, uvicorn_calls):
    url = f"sqlite:///{tmp_path / 'new' / 'parloir.db'}"
    result = runner.invoke(app, ["--database-url", url, "serve"])
    assert result.exit_code == 0, result.output
    assert "Owner account created" in result.output
    with Store.open(url, migrate=False) as store:
        assert [u.role for u in store.list_users()] == ["owner"]


def test_serve_without_migrations_refuses_an_empty_database(tmp_path, uvicorn_calls):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["--database-url", url, "serve", "--no-migrate"])
    assert result.exit_code == 1 and uvicorn_calls == []


def test_create_admin_creates_then_resets(database_url):
    first = runner.invoke(app, ["--database-url", database_url, "users", "create-admin", "--json"])
    assert first.exit_code == 0, first.output
    password = json.loads(first.output)["password"]
    with Store.open(database_url) as store:
        store.update_user(store.list_users()[0].id, role="viewer", is_active=False)
    second = runner.invoke(
        app, ["--database-url", database_url, "users", "create-admin", "--username", "admin"]
    )
    assert second.exit_code == 0 and "reset" in second.output
    assert not _login(database_url, "default", "admin", password)
    with Store.open(database_url) as store:
        (user,) = store.list_users()
        assert (user.role, user.is_active) == ("owner", True)


def test_create_admin_in_another_tenant(database_url):
    with Store.open(database_url) as store:
        store.create_tenant(name="Acme", slug="acme")
    made = runner.invoke(
        app,
        [
            "--database-url",
            database_url,
            "users",
            "create-admin",
            "--tenant",
            "acme",
            "--username",
            "boss",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    assert _login(database_url, "acme", "boss", json.loads(made.output)["password"])
    missing = runner.invoke(
        app, ["--database-url", database_url, "users", "create-admin", "--tenant", "nope"]
    )
    assert missing.exit_code == 2


def test_app_from_env_serves_the_configured_database(database_url, monkeypatch):
    monkeypatch.setenv("PARLOIR_DATABASE_URL", database_url)
    monkeypatch.setenv("PARLOIR_SERVER_MAX_BATCH_ITEMS", "5")
    assert gc.get_freeze_count() == 0
    with TestClient(app_from_env()) as client:
        assert client.get("/ready").json()["status"] == "ready"
        assert client.app.state.settings.max_batch_items == 5
        # a serving process keeps what it built at start out of the full collections
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # given back at shutdown


def test_server_settings_from_env():
    settings = ServerSettings.from_env(
        {"PARLOIR_SERVER_MAX_BODY_BYTES": "2048", "PARLOIR_SERVER_DOCS_ENABLED": "off"}
    )
    assert (settings.max_body_bytes, settings.docs_enabled) == (2048, False)
    assert ServerSettings.from_env({}) == ServerSettings()
    for bad in (
        {"PARLOIR_SERVER_MAX_BODY_BYTES": "big"},
        {"PARLOIR_SERVER_DOCS_ENABLED": "maybe"},
        {"PARLOIR_SERVER_MAX_BATCH_ITEMS": "0"},
    ):
        with pytest.raises(ConfigError):
            ServerSettings.from_env(bad)


def test_every_server_setting_is_in_configuration_md():
    text = (DOCS / "configuration.md").read_text()
    for item in dataclasses.fields(ServerSettings):
        assert f"`{item.name}`" in text, item.name
        assert f"`PARLOIR_SERVER_{item.name.upper()}`" in text, item.name
