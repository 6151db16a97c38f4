"""Settings of the REST server (limits, token lifetimes, login rate limit)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from parloir.errors import ConfigError

__all__ = ["ServerSettings"]

ENV_PREFIX = "PARLOIR_SERVER_"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and lifetimes of ``parloir serve``; defaults need no configuration."""

    max_body_bytes: int = 1_048_576
    max_batch_body_bytes: int = 4_194_304
    max_batch_items: int = 1_000
    max_json_depth: int = 64
    token_ttl_seconds: int = 12 * 3600
    idempotency_ttl_seconds: int = 24 * 3600
    login_max_failures_per_user: int = 10
    login_user_window_seconds: int = 15 * 60
    login_max_failures_per_address: int = 100
    login_address_window_seconds: int = 60
    hash_concurrency: int = 2
    docs_enabled: bool = True

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                raise ConfigError(f"server setting {name} must be at least 1, not {value}")

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(seconds=self.token_ttl_seconds)

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(seconds=self.idempotency_ttl_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read ``PARLOIR_SERVER_<NAME>`` variables (``PARLOIR_SERVER_MAX_BODY_BYTES``...)."""
        env = os.environ if environ is None else environ
        values: dict[str, int | bool] = {}
        for name, default in cls().__dict__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = _bool(name, raw) if isinstance(default, bool) else _int(name, raw)
        return cls(**values)  # type: ignore[arg-type]


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be an integer, not {raw!r}") from None


def _bool(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
