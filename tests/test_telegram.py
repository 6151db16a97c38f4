"""Telegram ingestion through the library: what an update becomes, dedupe, edits, quarantine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from parloir import InvalidInputError, NotFoundError

T0 = 1_760_000_000


def count(store, table: str) -> int:
    """Rows of ``table`` in every tenant (as the owner: no tenant filter, no RLS for it)."""
    with store._shared.engines.owner.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def message_update(update_id: int, text_: str = "hello", *, chat: int = 42, mid: int = 1, **more):
    body = {
        "message_id": mid,
        "date": T0 + mid,
        "chat": {"id": chat, "type": "private", "first_name": "Ada"},
        "from": {"id": chat, "is_bot": False, "first_name": "Ada", "username": "ada"},
        "text": text_,
        **more,
    }
    return {"update_id": update_id, "message": body}


def edit_update(update_id: int, text_: str, *, edit_date: int, mid: int = 1, chat: int = 42):
    update = message_update(update_id, text_, mid=mid, chat=chat, edit_date=edit_date)
    return {"update_id": update_id, "edited_message": update["message"]}


def test_a_message_update_stores_contact_conversation_and_message(store, agent_id):
    entities = [{"type": "bot_command", "offset": 0, "length": 6}]
    update = message_update(1001, "/start@MyBot go", entities=entities)
    result = store.ingest_telegram_update(agent_id, update)
    assert result.status == "stored" and result.update_id == 1001 and result.kind == "message"
    conv = store.get_conversation(result.conversation_id)
    assert (conv.channel, conv.external_id, conv.agent_id) == ("telegram", "42", agent_id)
    contact = store.get_contact(conv.contact_id)
    assert (contact.external_id, contact.name, contact.username) == ("42", "Ada", "ada")
    (message,) = store.last_messages(conv.id)
    assert message.id == result.message_id
    assert (message.role, message.content, message.external_id) == (
        "user",
        update["message"]["text"],
        "1",
    )
    assert (message.command, message.command_args) == ("start", "go")
    assert message.created_at == datetime.fromtimestamp(T0 + 1, UTC)
    telegram = message.metadata["telegram"]
    assert telegram["update_id"] == 1001 and telegram["chat_id"] == 42
    assert telegram["entities"] == entities
    assert telegram["update"] == update


def test_a_redelivered_update_is_stored_once(store, agent_id):
    first = store.ingest_telegram_update(agent_id, message_update(7))
    again = store.ingest_telegram_update(agent_id, message_update(7))
    assert again.status == "duplicate"
    assert (again.message_id, again.conversation_id) == (first.message_id, first.conversation_id)
    assert count(store, "messages") == 1
    assert store.get_conversation(first.conversation_id).message_count == 1


def test_update_ids_are_deduplicated_by_equality_not_by_order(store, agent_id):
    for i, update_id in enumerate((10_000_000, 5, 10_000_001)):
        result = store.ingest_telegram_update(agent_id, message_update(update_id, mid=i + 1))
        assert result.status == "stored"
    assert count(store, "messages") == 3


def test_the_same_update_id_for_two_agents_is_two_updates(store, agent_id):
    other = store.create_agent(name="other bot").id
    assert store.ingest_telegram_update(agent_id, message_update(1)).status == "stored"
    assert store.ingest_telegram_update(other, message_update(1)).status == "stored"


def test_an_edit_updates_the_stored_message_and_the_latest_edit_wins(store, agent_id):
    original = store.ingest_telegram_update(agent_id, message_update(1, "helo"))
    edited = store.ingest_telegram_update(agent_id, edit_update(2, "/help me", edit_date=T0 + 60))
    assert (edited.status, edited.message_id) == ("edited", original.message_id)
    older = store.ingest_telegram_update(agent_id, edit_update(3, "hello?", edit_date=T0 + 30))
    assert older.status == "unchanged"
    message = store.get_message(original.message_id)
    assert (message.content, message.command, message.command_args) == ("/help me", "help", "me")
    assert message.edited_at == datetime.fromtimestamp(T0 + 60, UTC)
    assert message.content_length == len("/help me")
    assert message.metadata["edits"] == 1
    assert count(store, "messages") == 1


def test_an_edit_that_makes_or_unmakes_a_command_moves_the_rollups(store, agent_id):
    store.ingest_telegram_update(agent_id, message_update(1, "helo"))
    store.fold_rollups()  # SQLite: the message counted before its edit, as after 64 appends
    store.ingest_telegram_update(agent_id, edit_update(2, "/help me", edit_date=T0 + 60))
    assert store.check_rollups().differences == []
    assert store.global_statistics().commands == 1
    store.ingest_telegram_update(agent_id, edit_update(3, "help me", edit_date=T0 + 90))
    assert store.check_rollups().differences == []
    assert store.global_statistics().commands == 0


def test_an_edit_whose_original_was_never_seen_is_stored_and_the_late_original_changes_nothing(
    store, agent_id
):
    edited = store.ingest_telegram_update(agent_id, edit_update(2, "fixed", edit_date=T0 + 60))
    assert edited.status == "stored"
    late = store.ingest_telegram_update(agent_id, message_update(1, "fxied"))
    assert (late.status, late.message_id) == ("unchanged", edited.message_id)
    message = store.get_message(edited.message_id)
    assert message.content == "fixed" and message.edited_at is not None


def test_a_channel_post_has_the_channel_as_contact(store, agent_id):
    chat = {"id": -1001234, "type": "channel", "title": "News", "username": "news"}
    post = {"message_id": 9, "date": T0, "chat": chat, "caption": "photo caption"}
    result = store.ingest_telegram_update(agent_id, {"update_id": 3, "channel_post": post})
    conv = store.get_conversation(result.conversation_id)
    contact = store.get_contact(conv.contact_id)
    assert (conv.external_id, conv.title) == ("-1001234", "News")
    assert (contact.external_id, contact.name, contact.username) == ("-1001234", "News", "news")
    assert store.get_message(result.message_id).content == "photo caption"
    edit = {**post, "caption": "new caption", "edit_date": T0 + 5}
    edited = store.ingest_telegram_update(agent_id, {"update_id": 4, "edited_channel_post": edit})
    assert edited.status == "edited"
    assert store.get_message(result.message_id).content == "new caption"


def test_a_callback_query_is_stored_as_a_user_message_with_its_data(store, agent_id):
    query = {
        "id": "cb-77",
        "from": {"id": 42, "first_name": "Ada"},
        "message": {"message_id": 5, "date": T0, "chat": {"id": 42, "type": "private"}},
        "chat_instance": "x",
        "data": "choice:2",
    }
    result = store.ingest_telegram_update(agent_id, {"update_id": 11, "callback_query": query})
    message = store.get_message(result.message_id)
    assert (message.content, message.external_id) == ("choice:2", "callback:cb-77")
    assert store.get_conversation(result.conversation_id).external_id == "42"


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"update_id": 20, "my_chat_member": {"chat": {"id": 1}}}, "unsupported update type"),
        ({"update_id": 21, "poll": {}}, "unsupported update type: poll"),
        ({"message": {"text": "no id"}}, "update_id"),
        ({"update_id": -1, "message": {}}, "update_id"),
        ({"update_id": "22", "message": {}}, "update_id"),
        ([1, 2, 3], "not a JSON object"),
        ({"update_id": 23, "message": "text"}, "message is missing or not an object"),
        ({"update_id": 24, "message": {"message_id": 1, "date": T0, "text": "x"}}, "chat"),
        (message_update(25, "nul \x00 here"), "NUL"),
        (message_update(26, "x" * 200_000), "content"),
        ({"update_id": 27, "message": {**message_update(1)["message"], "text": 5}}, "text"),
    ],
)
def test_a_malformed_or_unsupported_update_is_quarantined_as_handled(
    store, agent_id, update, reason
):
    result = store.ingest_telegram_update(agent_id, update)
    assert result.status == "quarantined"
    assert reason in (result.reason or "")
    assert count(store, "telegram_quarantine") == 1
    assert count(store, "messages") == 0
    with store._shared.engines.owner.connect() as connection:
        row = connection.execute(text("SELECT reason, payload FROM telegram_quarantine")).one()
    assert row.reason == result.reason
    assert "\x00" not in row.payload  # kept escaped: storable on PostgreSQL too


def test_a_redelivered_quarantined_update_is_a_duplicate(store, agent_id):
    update = {"update_id": 30, "my_chat_member": {}}
    assert store.ingest_telegram_update(agent_id, update).status == "quarantined"
    assert store.ingest_telegram_update(agent_id, update).status == "duplicate"
    assert count(store, "telegram_quarantine") == 1


def test_an_agent_of_another_tenant_is_not_found(store, agent_id):
    other = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    with pytest.raises(NotFoundError):
        other.ingest_telegram_update(agent_id, message_update(1))
    with pytest.raises(NotFoundError):
        other.set_telegram_secret(agent_id)
    assert count(store, "telegram_updates") == 0


def test_the_webhook_secret_is_stored_hashed_checked_and_rotated(store, agent_id):
    secret, webhook = store.set_telegram_secret(agent_id)
    assert webhook.agent_id == agent_id and len(secret) >= 32
    assert store.verify_telegram_secret(agent_id, secret) == store.tenant_id
    assert store.verify_telegram_secret(agent_id, secret + "x") is None
    assert store.verify_telegram_secret(agent_id, None) is None
    assert store.verify_telegram_secret(agent_id, "a" * 257) is None
    with store._shared.engines.owner.connect() as connection:
        stored = connection.execute(text("SELECT secret_hash FROM telegram_webhooks")).scalar()
    assert secret not in stored and len(stored) == 64
    new, _ = store.set_telegram_secret(agent_id, "new_Secret-1")
    assert store.verify_telegram_secret(agent_id, secret) is None
    assert store.verify_telegram_secret(agent_id, new) == store.tenant_id
    assert count(store, "telegram_webhooks") == 1


def test_a_webhook_secret_must_be_what_telegram_accepts(store, agent_id):
    for bad in ("", "has space", "é", "a" * 257):
        with pytest.raises(InvalidInputError):
            store.set_telegram_secret(agent_id, bad)


def test_verifying_an_agent_without_a_webhook_is_not_found(store, agent_id):
    with pytest.raises(NotFoundError):
        store.verify_telegram_secret(agent_id, "whatever")
    with pytest.raises(NotFoundError):
        store.verify_telegram_secret(uuid.uuid4(), "whatever")


def test_the_secret_check_uses_a_constant_time_comparison(store, agent_id, monkeypatch):
    import hmac

    from parloir import telegram

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(telegram.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    secret, _ = store.set_telegram_secret(agent_id)
    assert store.verify_telegram_secret(agent_id, secret) == store.tenant_id
    assert store.verify_telegram_secret(agent_id, "wrong") is None
    assert len(calls) == 2
