"""Every setting and every command is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer.main

from parloir import Settings
from parloir.cli import app

DOCS = Path(__file__).parent.parent / "docs"
ENV = {
    "database_url": "PARLOIR_DATABASE_URL",
    "home": "PARLOIR_HOME",
    "log_level": "PARLOIR_LOG_LEVEL",
    "sqlite_synchronous": "PARLOIR_SQLITE_SYNCHRONOUS",
    "busy_timeout_ms": "PARLOIR_BUSY_TIMEOUT_MS",
    "max_content_length": "PARLOIR_MAX_CONTENT_LENGTH",
    "capture_prompts": "PARLOIR_CAPTURE_PROMPTS",
    "search_language": "PARLOIR_SEARCH_LANGUAGE",
    "erasure_journal": "PARLOIR_ERASURE_JOURNAL",
    "api_key_cache_ms": "PARLOIR_API_KEY_CACHE_MS",
}


def test_every_setting_is_in_configuration_md():
    text = (DOCS / "configuration.md").read_text()
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields == set(ENV)
    for name, env in ENV.items():
        assert f"`{name}`" in text and f"`{env}`" in text, name


def _commands(group, prefix: str = "") -> list:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        found.append((path, command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
    return found


def test_every_command_has_help_and_is_in_cli_md():
    text = (DOCS / "cli.md").read_text()
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    for path, command in _commands(group):
        assert command.help, path
        assert f"parloir {path}" in text, path
