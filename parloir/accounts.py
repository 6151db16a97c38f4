"""Tenants, users, agents and API keys.

Passwords are hashed with argon2id (argon2-cffi's defaults exceed OWASP's minimum). API keys
look like ``plr_<prefix>_<secret>``: the prefix is public and indexed for lookup, the whole key
is stored only as a SHA-256 hash and compared in constant time. A key is shown once, at
creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from parloir.db.tables import AGENTS, API_KEYS, TENANTS, USERS
from parloir.errors import ConflictError, InvalidInputError, NotFoundError
from parloir.ids import uuid7
from parloir.inputs import AgentFields, TenantFields, UserFields
from parloir.schemas import AgentRead, ApiKeyCreated, ApiKeyRead, TenantRead, UserRead
from parloir.scope import Scope, to_record

KEY_PREFIX = "plr_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
_hasher = PasswordHasher()


def create_tenant(scope: Scope, data: TenantFields) -> TenantRead:
    now = scope.now()
    row = {"id": uuid7(), "metadata": {}, **data, "created_at": now, "updated_at": now}
    stmt = scope.insert(TENANTS).values(row).on_conflict_do_nothing().returning(TENANTS.c.id)
    if scope.session.execute(stmt).first() is None:
        raise ConflictError(f"a tenant with slug {data['slug']!r} already exists")
    return TenantRead.model_validate(row)


def list_tenants(scope: Scope) -> list[TenantRead]:
    rows = scope.session.execute(select(TENANTS).order_by(TENANTS.c.id)).all()
    return [to_record(TenantRead, row) for row in rows]


def get_tenant(scope: Scope, tenant_id: uuid.UUID) -> TenantRead:
    row = scope.session.execute(select(TENANTS).where(TENANTS.c.id == tenant_id)).first()
    if row is None:
        raise NotFoundError("tenant", tenant_id)
    return to_record(TenantRead, row)


def find_tenant_by_slug(scope: Scope, slug: str) -> TenantRead | None:
    row = scope.session.execute(select(TENANTS).where(TENANTS.c.slug == slug)).first()
    return None if row is None else to_record(TenantRead, row)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def create_user(scope: Scope, data: UserFields) -> UserRead:
    if "password" in data and "password_hash" in data:
        raise InvalidInputError.single("password", "exclusive", "give password or password_hash")
    now = scope.now()
    password = data.get("password")
    row: dict[str, Any] = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "username": data["username"],
        "email": data.get("email"),
        "password_hash": hash_password(password) if password else data.get("password_hash"),
        "role": data.get("role", "member"),
        "is_active": data.get("is_active", True),
        "external_id": data.get("external_id"),
        "last_login_at": None,
        "metadata": data.get("metadata") or {},
        "created_at": now,
        "updated_at": now,
    }
    stmt = scope.insert(USERS).values(row).on_conflict_do_nothing().returning(USERS.c.id)
    if scope.session.execute(stmt).first() is None:
        raise ConflictError(f"a user named {data['username']!r} already exists")
    return UserRead.model_validate(row)


def get_user(scope: Scope, user_id: uuid.UUID) -> UserRead:
    return to_record(UserRead, scope.get_row(USERS, user_id, "user"))


def list_users(scope: Scope) -> list[UserRead]:
    query = select(USERS).where(USERS.c.tenant_id == scope.tenant_id).order_by(USERS.c.username)
    return [to_record(UserRead, row) for row in scope.session.execute(query).all()]


def update_user(scope: Scope, user_id: uuid.UUID, values: dict[str, Any]) -> UserRead:
    row = scope.get_row(USERS, user_id, "user")
    values = dict(values)
    if "password" in values:
        values["password_hash"] = hash_password(values.pop("password"))
    values["updated_at"] = scope.now()
    scope.session.execute(update(USERS).where(USERS.c.id == user_id).values(**values))
    values.pop("password_hash", None)
    return to_record(UserRead, row, **values)


def authenticate(scope: Scope, username: str, password: str) -> UserRead | None:
    """The active user with this name and password, or None. Rehashes outdated hashes."""
    u = USERS.c
    row = scope.session.execute(
        select(USERS).where(u.tenant_id == scope.tenant_id, u.username == username)
    ).first()
    if row is None or not row.is_active or not row.password_hash:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    now = scope.now()
    values: dict[str, Any] = {"last_login_at": now}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = hash_password(password)
    scope.session.execute(update(USERS).where(u.id == row.id).values(**values))
    return to_record(UserRead, row, last_login_at=now)


def create_agent(scope: Scope, data: AgentFields) -> AgentRead:
    scope.require(USERS, data.get("owner_user_id"), "user", "owner_user_id")
    return scope.add(AGENTS, AgentRead, data, is_active=data.get("is_active", True))


def get_agent(scope: Scope, agent_id: uuid.UUID) -> AgentRead:
    return to_record(AgentRead, scope.get_row(AGENTS, agent_id, "agent"))


def list_agents(scope: Scope) -> list[AgentRead]:
    query = select(AGENTS).where(AGENTS.c.tenant_id == scope.tenant_id).order_by(AGENTS.c.id)
    return [to_record(AgentRead, row) for row in scope.session.execute(query).all()]


def update_agent(scope: Scope, agent_id: uuid.UUID, data: AgentFields) -> AgentRead:
    row = scope.get_row(AGENTS, agent_id, "agent")
    scope.require(USERS, data.get("owner_user_id"), "user", "owner_user_id")
    values: dict[str, Any] = {**data, "updated_at": scope.now()}
    scope.session.execute(update(AGENTS).where(AGENTS.c.id == agent_id).values(**values))
    return to_record(AgentRead, row, **values)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _lookup_prefix(key: str) -> str:
    """The lookup prefix of a key: a parloir key's own, or one derived from a foreign key's hash."""
    parts = key.split("_", 2)
    if len(parts) == 3 and f"{parts[0]}_" == KEY_PREFIX and parts[1]:
        return parts[1]
    return "h" + _hash_key(key)[:23]


def create_api_key(
    scope: Scope,
    *,
    name: str,
    agent_id: uuid.UUID | None,
    scopes: list[str],
    expires_at: datetime | None,
    created_by_user_id: uuid.UUID | None,
    key: str | None = None,
) -> ApiKeyCreated:
    """A new key; ``key`` imports an existing secret (stored hashed like any other)."""
    scope.require(AGENTS, agent_id, "agent", "agent_id")
    scope.require(USERS, created_by_user_id, "user", "created_by_user_id")
    if key is None:
        key = f"{KEY_PREFIX}{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    prefix = _lookup_prefix(key)
    if scope.session.execute(select(API_KEYS.c.id).where(API_KEYS.c.prefix == prefix)).first():
        raise ConflictError("this API key is already registered")
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "agent_id": agent_id,
        "name": name,
        "prefix": prefix,
        "key_hash": _hash_key(key),
        "scopes": scopes,
        "created_by_user_id": created_by_user_id,
        "last_used_at": None,
        "expires_at": expires_at,
        "revoked_at": None,
        "created_at": scope.now(),
    }
    scope.session.execute(API_KEYS.insert().values(row))
    return ApiKeyCreated.model_validate({**row, "key": key})


def verify_api_key(scope: Scope, key: str) -> ApiKeyRead | None:
    """The live key matching ``key`` in any tenant, or None; notes its last use."""
    if not key or len(key) > 512:
        return None
    prefix = _lookup_prefix(key)
    row = scope.session.execute(select(API_KEYS).where(API_KEYS.c.prefix == prefix)).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash_key(key)):
        return None
    now = scope.now()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        scope.session.execute(
            update(API_KEYS).where(API_KEYS.c.id == row.id).values(last_used_at=now)
        )
        return to_record(ApiKeyRead, row, last_used_at=now)
    return to_record(ApiKeyRead, row)


def revoke_api_key(scope: Scope, key_id: uuid.UUID) -> ApiKeyRead:
    row = scope.get_row(API_KEYS, key_id, "api key")
    if row.revoked_at is not None:
        return to_record(ApiKeyRead, row)
    now = scope.now()
    scope.session.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(revoked_at=now))
    return to_record(ApiKeyRead, row, revoked_at=now)


def list_api_keys(scope: Scope, agent_id: uuid.UUID | None) -> list[ApiKeyRead]:
    k = API_KEYS.c
    query = select(API_KEYS).where(k.tenant_id == scope.tenant_id)
    if agent_id is not None:
        query = query.where(k.agent_id == agent_id)
    return [to_record(ApiKeyRead, row) for row in scope.session.execute(query.order_by(k.id))]
