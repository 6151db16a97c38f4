"""Who is calling: a user with a login token, a bot key or a widget key.

``Authorization: Bearer <secret>``. Login tokens start with ``pls_`` (see
:mod:`parloir.credentials`); anything else is looked up as an API key. Roles:

| caller | may |
|---|---|
| owner, admin | everything, including users, agents and API keys |
| member | read and write conversation data |
| viewer | read |
| bot key (scope ``bot``) | read and write its own agent's conversations and their data |
| widget key (scope ``widget``) | open conversations and add user messages to those it opened |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from parloir.schemas import ApiKeyRead
from parloir.server.problems import ProblemError
from parloir.store import Store

__all__ = ["Level", "Principal", "authenticate_request", "authenticate_request_async", "forbidden"]

Level = Literal["read", "write", "admin"]
NOTE_USE = timedelta(minutes=1)
"""How often a key's last use is written (the library's own resolution)."""
_LEVELS: dict[str, frozenset[str]] = {
    "owner": frozenset({"read", "write", "admin"}),
    "admin": frozenset({"read", "write", "admin"}),
    "member": frozenset({"read", "write"}),
    "viewer": frozenset({"read"}),
    "bot": frozenset({"read", "write"}),
    "widget": frozenset(),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, bound to one tenant."""

    kind: Literal["user", "bot", "widget"]
    tenant_id: uuid.UUID
    role: str
    user_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None

    @property
    def actor(self) -> str:
        """How audit events and idempotency records name this caller."""
        if self.kind == "user":
            return f"user:{self.user_id}"
        return f"api_key:{self.key_id}"

    def can(self, level: Level) -> bool:
        return level in _LEVELS.get(self.role, frozenset())

    @property
    def is_key(self) -> bool:
        return self.kind != "user"


def unauthorized(detail: str = "missing or invalid credentials") -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "this caller may not do this") -> ProblemError:
    return ProblemError(403, "forbidden", detail)


def _bearer(request: Request) -> str:
    values = request.headers.getlist("authorization")
    if len(values) != 1:
        raise unauthorized()
    scheme, _, secret = values[0].partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 512:
        raise unauthorized()
    return secret


def authenticate_request(request: Request, store: Store) -> Principal:
    """The caller of ``request`` (cached on it), or a 401/403 problem."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    secret = _bearer(request)
    principal = _resolve(store, secret)
    request.state.principal = principal
    return principal


async def authenticate_request_async(request: Request, store: Store) -> Principal:
    """:func:`authenticate_request` for the event loop.

    On SQLite a bot's key is looked up on the loop itself: a point read by unique prefix
    costs less than handing the request to a thread and back. Everything else (login tokens,
    PostgreSQL's network round trip, the once-a-minute note of a key's use) runs in a thread.
    """
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    secret = _bearer(request)
    if store.dialect == "sqlite" and not secret.startswith("pls_"):
        key = store.peek_api_key(secret)
        if key is not None and _use_due(store, key):
            key = await run_in_threadpool(store.verify_api_key, secret)
        principal = _key_principal(key)
    else:
        principal = await run_in_threadpool(_resolve, store, secret)
    request.state.principal = principal
    return principal


def _use_due(store: Store, key: ApiKeyRead) -> bool:
    return key.last_used_at is None or store.now() - key.last_used_at >= NOTE_USE


def _resolve(store: Store, secret: str) -> Principal:
    if secret.startswith("pls_"):
        owner = store.verify_login_token(secret)
        if owner is None:
            raise unauthorized()
        return Principal(
            kind="user",
            tenant_id=owner.tenant_id,
            role=owner.role,
            user_id=owner.user_id,
            token_id=owner.token_id,
        )
    key = store.peek_api_key(secret)  # a read; the write below happens once a minute at most
    if key is not None and _use_due(store, key):
        key = store.verify_api_key(secret)
    return _key_principal(key)


def _key_principal(key: ApiKeyRead | None) -> Principal:
    if key is None:
        raise unauthorized()
    if key.agent_id is None:
        raise forbidden("an API key must belong to an agent")
    kind: Literal["bot", "widget"] = "widget" if "widget" in key.scopes else "bot"
    if kind == "bot" and "bot" not in key.scopes:
        raise forbidden("this API key has neither the bot nor the widget scope")
    return Principal(
        kind=kind, tenant_id=key.tenant_id, role=kind, key_id=key.id, agent_id=key.agent_id
    )
