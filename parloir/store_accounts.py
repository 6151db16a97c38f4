"""Store methods for users, agents, API keys and contacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Unpack

from parloir import accounts, conversations
from parloir.errors import InvalidInputError
from parloir.inputs import AgentFields, ContactFields, UserFields, UserRole
from parloir.schemas import AgentRead, ApiKeyCreated, ApiKeyRead, ContactRead, UserRead
from parloir.store_base import StoreBase
from parloir.validation import require_aware, validate

__all__ = ["AccountsMixin"]

_SCOPE_PATTERN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789:_-*")


class AccountsMixin(StoreBase):
    def create_user(self, **fields: Unpack[UserFields]) -> UserRead:
        """Create a user of this tenant; the password is stored as an argon2id hash."""
        data = validate(UserFields, fields)
        with self._write() as scope:
            return accounts.create_user(scope, data)

    def get_user(self, user_id: uuid.UUID) -> UserRead:
        """One user of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return accounts.get_user(scope, user_id)

    def list_users(self) -> list[UserRead]:
        """The users of this tenant."""
        with self._read() as scope:
            return accounts.list_users(scope)

    def update_user(
        self,
        user_id: uuid.UUID,
        *,
        role: UserRole | None = None,
        is_active: bool | None = None,
        password: str | None = None,
        email: str | None = None,
    ) -> UserRead:
        """Change a user's role, activity, password or email."""
        given = {"role": role, "is_active": is_active, "password": password, "email": email}
        changes = {k: v for k, v in given.items() if v is not None}
        validate(UserFields, {"username": "x", **changes})
        with self._write() as scope:
            return accounts.update_user(scope, user_id, changes)

    def authenticate(self, username: str, password: str) -> UserRead | None:
        """The user with this name and password, or None (the same time either way)."""
        with self._write() as scope:
            return accounts.authenticate(scope, username, password)

    def create_agent(self, **fields: Unpack[AgentFields]) -> AgentRead:
        """Create an agent (a bot): name, role, instructions, model and sampling settings."""
        data = validate(AgentFields, fields)
        with self._write() as scope:
            return accounts.create_agent(scope, data)

    def get_agent(self, agent_id: uuid.UUID) -> AgentRead:
        """One agent of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return accounts.get_agent(scope, agent_id)

    def list_agents(self) -> list[AgentRead]:
        """The agents of this tenant."""
        with self._read() as scope:
            return accounts.list_agents(scope)

    def update_agent(self, agent_id: uuid.UUID, **fields: Unpack[AgentFields]) -> AgentRead:
        """Change some fields of an agent."""
        data = validate(AgentFields, {"name": "x", **fields})
        if "name" not in fields:
            del data["name"]
        with self._write() as scope:
            return accounts.update_agent(scope, agent_id, data)

    def create_api_key(
        self,
        *,
        name: str,
        agent_id: uuid.UUID | None = None,
        scopes: list[str] | None = None,
        expires_at: datetime | None = None,
        created_by_user_id: uuid.UUID | None = None,
        key: str | None = None,
    ) -> ApiKeyCreated:
        """Create an API key. Its secret is in the result's ``key`` and nowhere else.

        ``key`` imports an existing secret (for example a widget key of another system): it is
        stored as a SHA-256 hash like a new one, never in clear.
        """
        if key is not None and not 16 <= len(key) <= 512:
            raise InvalidInputError.single("key", "length", "must be 16 to 512 characters")
        scopes = ["bot"] if scopes is None else scopes
        validate(AgentFields, {"name": name})
        for item in scopes:
            if not item or not set(item) <= _SCOPE_PATTERN:
                raise InvalidInputError.single("scopes", "pattern", f"invalid scope {item!r}")
        require_aware("expires_at", expires_at)
        with self._write() as scope:
            return accounts.create_api_key(
                scope,
                name=name,
                agent_id=agent_id,
                scopes=scopes,
                expires_at=expires_at,
                created_by_user_id=created_by_user_id,
                key=key,
            )

    def verify_api_key(self, key: str) -> ApiKeyRead | None:
        """The live key matching ``key`` (in any tenant: its ``tenant_id`` says which)."""
        try:
            with self._admin(write=True) as scope:
                return accounts.verify_api_key(scope, key)
        finally:
            self._shared.key_cache.forget(key)  # its last use changed

    def revoke_api_key(self, key_id: uuid.UUID) -> ApiKeyRead:
        """Revoke a key; it stops working at once (in other processes that keep keys
        for a moment, within ``Settings.api_key_cache_ms``)."""
        try:
            with self._write() as scope:
                return accounts.revoke_api_key(scope, key_id)
        finally:
            self._shared.key_cache.clear()

    def list_api_keys(self, *, agent_id: uuid.UUID | None = None) -> list[ApiKeyRead]:
        """The api keys of this tenant."""
        with self._read() as scope:
            return accounts.list_api_keys(scope, agent_id)

    def upsert_contact(self, **fields: Unpack[ContactFields]) -> ContactRead:
        """Create the contact (channel, external_id), or update the fields given."""
        data = validate(ContactFields, fields)
        with self._write() as scope:
            return conversations.upsert_contact(scope, data)

    def get_contact(self, contact_id: uuid.UUID) -> ContactRead:
        """One contact of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return conversations.get_contact(scope, contact_id)

    def find_contact(self, channel: str, external_id: str) -> ContactRead | None:
        """Find contact."""
        with self._read() as scope:
            return conversations.find_contact(scope, channel, external_id)
