"""Store methods behind the REST server: login tokens, login failures, idempotency, widgets."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any, Unpack

from sqlalchemy import Connection, Uuid, bindparam, select

from parloir import audit, credentials, messages
from parloir.credentials import IdempotencyState, LoginToken, TokenOwner
from parloir.db.bulk import fetch_rows
from parloir.db.errors import translate_db_errors
from parloir.db.tables import CONVERSATIONS, LLM_CALLS, USERS
from parloir.errors import NotFoundError
from parloir.inputs import MessageFields
from parloir.schemas import ApiKeyRead, LLMCallRead, MessageRead
from parloir.scope import Scope, to_record
from parloir.store_base import StoreBase
from parloir.validation import validate

__all__ = ["ServerMixin"]


class ServerMixin(StoreBase):
    def now(self) -> datetime:
        """The store's current time (its clock)."""
        return self._shared.clock()

    def create_login_token(self, user_id: uuid.UUID, ttl: timedelta) -> LoginToken:
        """A new bearer token for a user of this tenant (its secret is shown once)."""
        with self._write() as scope:
            scope.get_row(USERS, user_id, "user")
            return credentials.create_login_token(scope, user_id, ttl)

    def verify_login_token(self, token: str) -> TokenOwner | None:
        """Who a live login token belongs to (in any tenant), or None."""
        with self._admin(write=False) as scope:
            return credentials.find_login_token(scope, token)

    def revoke_login_token(self, token_id: uuid.UUID) -> None:
        """Revoke a login token of this tenant; it stops working at once."""
        with self._write() as scope:
            credentials.revoke_login_token(scope, token_id)

    def login_retry_after(
        self,
        username: str,
        address: str,
        *,
        per_user: tuple[int, timedelta],
        per_address: tuple[int, timedelta],
    ) -> int | None:
        """Seconds before ``username`` may try again from ``address`` (None: now)."""
        with self._admin(write=False) as scope:  # the per-address count spans tenants
            return credentials.login_retry_after(scope, username, address, (per_user, per_address))

    def record_login_failure(self, username: str, address: str, *, keep: timedelta) -> None:
        """Note a failed login of this tenant's ``username`` from ``address``."""
        with self._write() as scope:
            credentials.record_login_failure(scope, username, address, keep)

    def begin_idempotent(
        self, caller: str, key: str, request_hash: str, *, ttl: timedelta
    ) -> IdempotencyState:
        """Reserve an idempotency key, or return how its first request went."""
        with self._write() as scope:
            return credentials.begin_idempotent(scope, caller, key, request_hash, ttl)

    def finish_idempotent(
        self, caller: str, key: str, status_code: int, content_type: str, body: bytes
    ) -> None:
        """Store the answer given to the request that reserved ``key``."""
        with self._write() as scope:
            credentials.finish_idempotent(scope, caller, key, status_code, content_type, body)

    def abandon_idempotent(self, caller: str, key: str) -> None:
        """Release a reservation whose request failed, so that a retry does the work."""
        with self._write() as scope:
            credentials.abandon_idempotent(scope, caller, key)

    def purge_expired_credentials(self) -> int:
        """Delete expired login tokens and idempotency records of every tenant."""
        with self._admin(write=True) as scope:
            return credentials.purge_expired(scope)

    def create_widget_token(self, conversation_id: uuid.UUID, api_key_id: uuid.UUID) -> str:
        """A secret proving that the widget key ``api_key_id`` opened this conversation."""
        with self._write() as scope:
            return credentials.create_widget_token(scope, conversation_id, api_key_id)

    def check_widget_token(
        self, conversation_id: uuid.UUID, api_key_id: uuid.UUID, token: str
    ) -> bool:
        """True if ``token`` is the one given when this key opened this conversation."""
        with self._read() as scope:
            return credentials.check_widget_token(scope, conversation_id, api_key_id, token)

    def peek_api_key(self, key: str) -> ApiKeyRead | None:
        """The live key matching ``key`` (any tenant), read only: its last use is not noted.

        A key found is kept for ``Settings.api_key_cache_ms`` (:mod:`parloir.key_cache`): a
        revocation through this store is seen at once, one made elsewhere within that time.
        """
        cache = self._shared.key_cache
        found = cache.get(key)
        if found is None:
            generation = cache.generation
            with self._quick_admin_read() as scope:
                found = credentials.peek_api_key(scope, key)
            if found is not None:
                cache.put(key, found, generation)
            return found
        return found if credentials.is_live(found, self.now()) else None  # it may expire

    def append_message_audited(
        self,
        conversation_id: uuid.UUID,
        event: Mapping[str, Any],
        *,
        agent_id: uuid.UUID | None = None,
        **fields: Unpack[MessageFields],
    ) -> MessageRead:
        """Append a message and record the audit ``event`` about it in the same transaction.

        ``event`` holds the audit fields but ``subject_id`` (the new message's id). With
        ``agent_id``, a conversation of another agent is not found. A duplicate (same
        idempotency key or external id) writes nothing, not even the event.
        """
        data = validate(MessageFields, fields)
        return self._append_audited(conversation_id, event, agent_id, data)

    @property
    def groups_writes(self) -> bool:
        """True where :meth:`queue_message_audited` shares transactions (SQLite)."""
        return self._shared.group_commit is not None

    def queue_message_audited(
        self,
        conversation_id: uuid.UUID,
        event: Mapping[str, Any],
        *,
        agent_id: uuid.UUID | None = None,
        **fields: Unpack[MessageFields],
    ) -> Future[MessageRead]:
        """:meth:`append_message_audited` by group commit (:mod:`parloir.db.group_commit`).

        The fields are checked at once (``InvalidInputError`` raised here); the append joins
        the next shared transaction, and the future resolves once it is committed, with the
        message or the error :meth:`append_message_audited` would have given. Where writes
        are not grouped (PostgreSQL, whose transactions commit side by side) the append runs
        here, in the calling thread, and the future is already resolved.
        """
        data = validate(MessageFields, fields)
        done: Future[MessageRead] = Future()
        committer = self._shared.group_commit
        if committer is None:
            try:
                done.set_result(self._append_audited(conversation_id, event, agent_id, data))
            except Exception as error:
                done.set_exception(error)
            return done

        def job(connection: Connection) -> MessageRead:
            with translate_db_errors():
                return _append_and_audit(
                    self._scope(connection), conversation_id, event, agent_id, data
                )

        def settle(future: Future[MessageRead]) -> None:
            error = future.exception()
            try:
                if isinstance(error, messages.Duplicate):
                    done.set_result(self._stored_duplicate(conversation_id, data))
                elif error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(future.result())
            except Exception as failure:
                done.set_exception(failure)

        committer.submit(job).add_done_callback(settle)
        return done

    def _append_audited(
        self,
        conversation_id: uuid.UUID,
        event: Mapping[str, Any],
        agent_id: uuid.UUID | None,
        data: MessageFields,
    ) -> MessageRead:
        try:
            with self._bulk_write() as scope:
                return _append_and_audit(scope, conversation_id, event, agent_id, data)
        except messages.Duplicate:
            return self._stored_duplicate(conversation_id, data)

    def _stored_duplicate(self, conversation_id: uuid.UUID, data: MessageFields) -> MessageRead:
        with self._read() as scope:
            return messages.find_duplicate(scope, conversation_id, data)

    def get_llm_call(self, llm_call_id: uuid.UUID) -> LLMCallRead:
        """One model call of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return to_record(LLMCallRead, scope.get_row(LLM_CALLS, llm_call_id, "llm call"))


_AGENT_OF = select(CONVERSATIONS.c.id).where(
    CONVERSATIONS.c.id == bindparam("cid", type_=Uuid()),
    CONVERSATIONS.c.tenant_id == bindparam("tid", type_=Uuid()),
    CONVERSATIONS.c.agent_id == bindparam("aid", type_=Uuid()),
)


def _append_and_audit(
    scope: Scope,
    conversation_id: uuid.UUID,
    event: Mapping[str, Any],
    agent_id: uuid.UUID | None,
    data: MessageFields,
) -> MessageRead:
    if agent_id is not None:
        _require_agent(scope, conversation_id, agent_id)
    message = messages.append_message(scope, conversation_id, data)
    audit.record_audit_event(
        scope,
        {**event, "subject_id": str(message.id)},  # type: ignore[typeddict-item]
    )
    return message


def _require_agent(scope: Scope, conversation_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    params = {"cid": conversation_id, "tid": scope.tenant_id, "aid": agent_id}
    if not fetch_rows(scope.session, _AGENT_OF, params):
        raise NotFoundError("conversation", conversation_id)
