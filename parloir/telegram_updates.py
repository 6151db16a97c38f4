"""Telegram Bot API updates turned into a contact, a conversation and a message (pure parsing).

An update carries one of ``message``, ``edited_message``, ``channel_post``,
``edited_channel_post`` or ``callback_query``. What it becomes:

- the **contact** is the sender (``from``); a channel post has none, so its chat (or
  ``sender_chat``) is the contact;
- the **conversation** is the chat: channel ``telegram``, external id the chat id;
- the **message** is the text or the caption (``""`` for a photo or sticker without one), role
  ``user``, external id the Telegram message id (a callback query: ``callback:<id>`` and its
  data as content), the message date as ``created_at``; its metadata keeps the update id, the
  message, chat and user ids, the entities and the raw update.

Anything else (another update type, a missing field, a value the store would refuse) raises
:class:`Unsupported` with the reason: the caller quarantines the update.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parloir.errors import InvalidInputError
from parloir.inputs import ContactFields, ConversationFields, MessageFields
from parloir.validation import check_length, validate

__all__ = ["KINDS", "Plan", "Unsupported", "parse_update", "payload_text", "update_id_of"]

KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query")
"""The update types stored as messages; any other is quarantined."""

MAX_UPDATE_ID = 2**63 - 1


class Unsupported(Exception):
    """The update cannot be stored as a message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Plan:
    """What one update becomes, validated: nothing is written before the whole plan is."""

    update_id: int
    kind: str
    contact: ContactFields
    conversation: ConversationFields
    message: MessageFields
    edited_at: datetime | None


def update_id_of(update: Any) -> int | None:
    """The update's id if it has a usable one (a non-negative 64-bit integer)."""
    if not isinstance(update, dict):
        return None
    value = update.get("update_id")
    if type(value) is not int or not 0 <= value <= MAX_UPDATE_ID:
        return None
    return value


def payload_text(update: Any) -> str:
    """The update as ASCII JSON text, storable on both databases whatever it contains."""
    try:
        return json.dumps(update, ensure_ascii=True, allow_nan=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(update)


def parse_update(update: Any, *, agent_id: uuid.UUID, max_content_length: int) -> Plan:
    """Turn a decoded update into a :class:`Plan`, or raise :class:`Unsupported`."""
    if not isinstance(update, dict):
        raise Unsupported("the update is not a JSON object")
    update_id = update_id_of(update)
    if update_id is None:
        raise Unsupported("update_id is missing or not a non-negative integer")
    kind = next((k for k in KINDS if k in update), None)
    if kind is None:
        others = sorted(k for k in update if k != "update_id")
        raise Unsupported(f"unsupported update type: {', '.join(others) or 'none'}")
    body = _object(update, kind)
    try:
        if kind == "callback_query":
            return _callback(update, update_id, body, agent_id, max_content_length)
        return _message(update, update_id, kind, body, agent_id, max_content_length)
    except InvalidInputError as error:
        raise Unsupported(f"{kind}: {error.detail}") from error
    except Unsupported as error:
        raise Unsupported(f"{kind}: {error.reason}") from None


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise Unsupported(f"{key} is missing or not an object")
    return value


def _int(parent: dict[str, Any], key: str) -> int:
    value = parent.get(key)
    if type(value) is not int:
        raise Unsupported(f"{key} is missing or not an integer")
    return value


def _str(parent: dict[str, Any], key: str) -> str | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, str):
        raise Unsupported(f"{key} is not a string")
    return value


def _time(parent: dict[str, Any], key: str) -> datetime | None:
    value = parent.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**40:
        raise Unsupported(f"{key} is not a unix time")
    return datetime.fromtimestamp(value, UTC)


def _name(who: dict[str, Any]) -> str | None:
    parts = [_str(who, "first_name"), _str(who, "last_name")]
    return " ".join(p for p in parts if p) or _str(who, "title")


def _contact(who: dict[str, Any]) -> ContactFields:
    extra = {k: who[k] for k in ("is_bot", "language_code", "type") if k in who}
    fields = {
        "channel": "telegram",
        "external_id": str(_int(who, "id")),
        "name": _name(who),
        "username": _str(who, "username"),
        "metadata": extra,
    }
    return validate(ContactFields, fields)


def _conversation(agent_id: uuid.UUID, chat: dict[str, Any]) -> ConversationFields:
    fields = {
        "agent_id": agent_id,
        "channel": "telegram",
        "external_id": str(_int(chat, "id")),
        "title": _name(chat),
        "metadata": {"chat_type": chat.get("type")},
    }
    return validate(ConversationFields, fields)


def _message(
    update: dict[str, Any],
    update_id: int,
    kind: str,
    body: dict[str, Any],
    agent_id: uuid.UUID,
    max_content_length: int,
) -> Plan:
    chat = _object(body, "chat")
    sender = body.get("from") or body.get("sender_chat") or chat
    if not isinstance(sender, dict):
        raise Unsupported("from is not an object")
    content = _str(body, "text") or _str(body, "caption") or ""
    check_length("content", content, max_content_length)
    message_id = _int(body, "message_id")
    entities = body.get("entities") or body.get("caption_entities") or []
    telegram = {
        "kind": kind,
        "update_id": update_id,
        "message_id": message_id,
        "chat_id": chat.get("id"),
        "user_id": sender.get("id"),
        "entities": entities,
        "update": update,
    }
    fields = {
        "role": "user",
        "content": content,
        "external_id": str(message_id),
        "created_at": _time(body, "date"),
        "metadata": {"telegram": telegram},
    }
    edited = (
        (_time(body, "edit_date") or _time(body, "date")) if kind.startswith("edited") else None
    )
    return Plan(
        update_id=update_id,
        kind=kind,
        contact=_contact(sender),
        conversation=_conversation(agent_id, chat),
        message=validate(MessageFields, fields),
        edited_at=edited,
    )


def _callback(
    update: dict[str, Any],
    update_id: int,
    body: dict[str, Any],
    agent_id: uuid.UUID,
    max_content_length: int,
) -> Plan:
    sender = _object(body, "from")
    origin = body.get("message")
    # The message with the button, if Telegram sent it; else the sender's private chat.
    chat = origin.get("chat") if isinstance(origin, dict) else None
    if not isinstance(chat, dict):
        chat = {"id": _int(sender, "id"), "type": "private"}
    content = _str(body, "data") or _str(body, "game_short_name") or ""
    check_length("content", content, max_content_length)
    callback_id = _str(body, "id")
    if not callback_id:
        raise Unsupported("callback_query.id is missing")
    telegram = {
        "kind": "callback_query",
        "update_id": update_id,
        "callback_query_id": callback_id,
        "message_id": origin.get("message_id") if isinstance(origin, dict) else None,
        "chat_id": chat.get("id"),
        "user_id": sender.get("id"),
        "update": update,
    }
    fields = {
        "role": "user",
        "content": content,
        "external_id": f"callback:{callback_id}",
        "metadata": {"telegram": telegram},
    }
    return Plan(
        update_id=update_id,
        kind="callback_query",
        contact=_contact(sender),
        conversation=_conversation(agent_id, chat),
        message=validate(MessageFields, fields),
        edited_at=None,
    )
