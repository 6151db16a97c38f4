"""Settings, and the one place that reads the environment.

The library never looks at ``os.environ`` by itself: :meth:`Settings.from_env` does, and only
when a caller (the CLI, the server) asks it to. ``PARLOIR_DATABASE_URL`` wins over
``DATABASE_URL`` so that parloir can live beside a host application that uses the latter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from parloir.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_CONTENT_LENGTH",
    "LANGUAGE_PATTERN",
    "Settings",
    "default_home",
    "normalize_database_url",
]

DEFAULT_MAX_CONTENT_LENGTH = 65_536
"""Longest message content accepted by default, in Unicode code points (64 Ki)."""

Synchronous = Literal["FULL", "NORMAL"]
LANGUAGE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
"""A text search configuration name, optionally schema-qualified (never needs quoting)."""


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Return the folder that holds the default SQLite file."""
    env = os.environ if environ is None else environ
    if env.get("PARLOIR_HOME"):
        return Path(env["PARLOIR_HOME"]).expanduser()
    if os.name == "nt" and env.get("APPDATA"):  # pragma: no cover - not our CI platform
        return Path(env["APPDATA"]) / "parloir"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "parloir"


def normalize_database_url(url: str) -> str:
    """Rewrite ``postgres://`` and ``postgresql://`` URLs to use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("sqlite", "postgresql+psycopg://")):
        raise ConfigError(
            f"unsupported database URL scheme in {url.split('://')[0]!r}: "
            "use sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    return url


@dataclass(frozen=True)
class Settings:
    """Everything parloir can be configured with. Defaults need no configuration at all."""

    database_url: str = ""
    home: Path = field(default_factory=default_home)
    log_level: str = "WARNING"
    sqlite_synchronous: Synchronous = "FULL"
    busy_timeout_ms: int = 5_000
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    capture_prompts: bool = True
    search_language: str = "simple"
    erasure_journal: Path | None = None
    api_key_cache_ms: int = 1_000

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'parloir.db'}")
        if self.erasure_journal is None:
            object.__setattr__(self, "erasure_journal", self.home / "erasure-journal.jsonl")
        object.__setattr__(self, "database_url", normalize_database_url(self.database_url))
        if self.sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ConfigError("sqlite_synchronous must be FULL or NORMAL")
        if self.busy_timeout_ms < 0 or self.max_content_length < 1:
            raise ConfigError("busy_timeout_ms must be >= 0 and max_content_length >= 1")
        if self.api_key_cache_ms < 0:
            raise ConfigError("api_key_cache_ms must be >= 0 (0 turns the cache off)")
        if not LANGUAGE_PATTERN.fullmatch(self.search_language):
            raise ConfigError(
                f"search_language must name a text search configuration (such as simple, "
                f"english, french), not {self.search_language!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``PARLOIR_*`` variables (then ``DATABASE_URL``)."""
        env = os.environ if environ is None else environ
        home = default_home(env)
        url = env.get("PARLOIR_DATABASE_URL") or env.get("DATABASE_URL") or ""
        sync = env.get("PARLOIR_SQLITE_SYNCHRONOUS", "FULL").upper()
        if sync not in ("FULL", "NORMAL"):
            raise ConfigError(f"PARLOIR_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {sync!r}")
        return cls(
            database_url=url,
            home=home,
            log_level=env.get("PARLOIR_LOG_LEVEL", "WARNING").upper(),
            sqlite_synchronous="NORMAL" if sync == "NORMAL" else "FULL",
            busy_timeout_ms=_int(env, "PARLOIR_BUSY_TIMEOUT_MS", 5_000),
            max_content_length=_int(env, "PARLOIR_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
            capture_prompts=_bool(env, "PARLOIR_CAPTURE_PROMPTS", True),
            search_language=env.get("PARLOIR_SEARCH_LANGUAGE") or "simple",
            erasure_journal=_path(env, "PARLOIR_ERASURE_JOURNAL"),
            api_key_cache_ms=_int(env, "PARLOIR_API_KEY_CACHE_MS", 1_000),
        )

    @property
    def erasure_journal_path(self) -> Path:
        """The erasure journal file (``erasure_journal``, else in ``home``)."""
        return self.erasure_journal or self.home / "erasure-journal.jsonl"

    def with_url(self, url: str) -> Settings:
        """Return a copy pointing at another database."""
        return replace(self, database_url=normalize_database_url(url))


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw).expanduser() if raw else None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")
