"""Store methods for conversations, messages and history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Unpack

from parloir import conversations, history, messages
from parloir.errors import InvalidInputError
from parloir.history import TokenCounter
from parloir.inputs import ConversationFields, ConversationUpdate, MessageFields
from parloir.schemas import ConversationRead, MessageRead, Page
from parloir.store_base import StoreBase
from parloir.validation import require_aware, validate

__all__ = ["MessagesMixin"]

MAX_BATCH = 10_000


class MessagesMixin(StoreBase):
    def get_or_create_conversation(self, **fields: Unpack[ConversationFields]) -> ConversationRead:
        """The conversation (agent, channel, external_id), created if new (``.created``)."""
        data = validate(ConversationFields, fields)
        with self._write() as scope:
            return conversations.get_or_create_conversation(scope, data)

    def get_conversation(self, conversation_id: uuid.UUID) -> ConversationRead:
        """One conversation of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return conversations.get_conversation(scope, conversation_id)

    def update_conversation(
        self, conversation_id: uuid.UUID, **fields: Unpack[ConversationUpdate]
    ) -> ConversationRead:
        """Change status (active/archived/blocked), title, metadata or contact."""
        data = validate(ConversationUpdate, fields, drop_none=False)
        with self._write() as scope:
            return conversations.update_conversation(scope, conversation_id, data)

    def list_conversations(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ConversationRead]:
        """Conversations newest first; pass ``page.next_cursor`` back for the next page."""
        require_aware("since", since)
        require_aware("until", until)
        with self._read() as scope:
            return conversations.list_conversations(
                scope,
                agent_id=agent_id,
                contact_id=contact_id,
                channel=channel,
                status=status,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )

    def append_message(
        self, conversation_id: uuid.UUID, **fields: Unpack[MessageFields]
    ) -> MessageRead:
        """Append a message; it gets the conversation's next ``seq``.

        With an ``idempotency_key`` (or ``external_id``) already stored in the conversation,
        nothing is written and the stored message is returned with ``duplicate=True``; the
        same key with another role or content raises ``ConflictError``.
        """
        data = validate(MessageFields, fields)
        try:
            with self._single_statement() as scope:
                return messages.append_message(scope, conversation_id, data)
        except messages.Duplicate:
            with self._read() as scope:
                return messages.find_duplicate(scope, conversation_id, data)

    def append_messages(
        self,
        conversation_id: uuid.UUID,
        items: Sequence[Mapping[str, Any]],
    ) -> list[MessageRead]:
        """Append several messages in one transaction, in order (all or nothing)."""
        if len(items) > MAX_BATCH:
            raise InvalidInputError.single("items", "max_items", f"at most {MAX_BATCH} messages")
        data = [validate(MessageFields, item, prefix=f"items.{i}.") for i, item in enumerate(items)]
        return self._append_checked_messages(conversation_id, data)

    def _append_checked_messages(
        self, conversation_id: uuid.UUID, data: Sequence[MessageFields]
    ) -> list[MessageRead]:
        """:meth:`append_messages` of items already validated against ``MessageFields`` (the
        batch route validates each item itself, to answer for each one)."""
        if len(data) > MAX_BATCH:
            raise InvalidInputError.single("items", "max_items", f"at most {MAX_BATCH} messages")
        with self._write() as scope:
            appended = messages.append_message_rows(scope, conversation_id, data)
        return messages.records(appended)  # after the commit: the writer is free meanwhile

    def get_message(self, message_id: uuid.UUID) -> MessageRead:
        """One message of this tenant by id (NotFoundError if missing)."""
        with self._read() as scope:
            return history.get_message(scope, message_id)

    def mark_delivered(self, message_id: uuid.UUID, at: datetime | None = None) -> MessageRead:
        """Record that a message was delivered (the earliest time is kept)."""
        require_aware("at", at)
        with self._write() as scope:
            when = at or scope.now()
            return history.mark_receipt(scope, message_id, delivered_at=when, read_at=None)

    def mark_read(self, message_id: uuid.UUID, at: datetime | None = None) -> MessageRead:
        """Record that a message was read (and so delivered)."""
        require_aware("at", at)
        with self._write() as scope:
            when = at or scope.now()
            return history.mark_receipt(scope, message_id, delivered_at=None, read_at=when)

    def last_messages(self, conversation_id: uuid.UUID, limit: int = 50) -> list[MessageRead]:
        """The last ``limit`` messages of a conversation, oldest first."""
        with self._quick_read() as scope:
            return history.last_messages(scope, conversation_id, limit)

    def messages_after(
        self, conversation_id: uuid.UUID, after_seq: int, limit: int = 100
    ) -> list[MessageRead]:
        """The messages after sequence number ``after_seq``, in order."""
        with self._quick_read() as scope:
            return history.messages_after(scope, conversation_id, after_seq, limit)

    def context(
        self,
        conversation_id: uuid.UUID,
        *,
        max_messages: int = 50,
        max_tokens: int | None = None,
        token_counter: TokenCounter | None = None,
    ) -> list[dict[str, Any]]:
        """The OpenAI-format message list for the next model call.

        It opens with the agent's instructions (as a system message) and keeps the newest
        turns that fit ``max_messages`` and ``max_tokens`` (counted with ``token_counter``,
        by default a conservative estimate). Messages recorded with an error are left out.
        """
        with self._read() as scope:
            return history.build_context(
                scope,
                conversation_id,
                max_messages=max_messages,
                max_tokens=max_tokens,
                token_counter=token_counter,
            )
