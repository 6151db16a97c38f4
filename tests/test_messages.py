"""Appending messages, receipts, conversations and contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from parloir import ConflictError, InvalidInputError, NotFoundError, Settings

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # the FakeClock's start


def counters(store, conversation_id):
    conversation = store.get_conversation(conversation_id)
    return conversation.message_count, conversation.last_seq


def rejected(error_info):
    return [(e.field, e.rule) for e in error_info.value.errors]


def user(content, **fields):
    return {"role": "user", "content": content, **fields}


# Appending


def test_messages_get_consecutive_seq_per_conversation(store, agent_id, conversation_id):
    other = store.get_or_create_conversation(agent_id=agent_id, channel="telegram").id
    seqs = [
        store.append_message(cid, role="user", content="x").seq
        for cid in (conversation_id, other, conversation_id, conversation_id, other)
    ]
    assert seqs == [1, 1, 2, 3, 2]
    assert counters(store, conversation_id) == (3, 3)
    assert counters(store, other) == (2, 2)


@pytest.mark.parametrize(
    ("role", "direction"),
    [("user", "in"), ("assistant", "out"), ("system", "out"), ("tool", "out")],
)
def test_role_sets_direction(store, conversation_id, role, direction):
    assert store.append_message(conversation_id, role=role, content="x").direction == direction


@pytest.mark.parametrize(
    ("content", "length"),
    [("hello", 5), ("👋🏽 hi", 5), ("😀😀😀", 3), ("שלום עולם", 9), ("مرحبا بك", 8)],
)
def test_content_length_counts_code_points(store, conversation_id, content, length):
    message = store.append_message(conversation_id, role="user", content=content)
    stored = store.get_message(message.id)
    assert (message.content_length, stored.content_length) == (length, length)
    assert stored.content == content


@pytest.mark.parametrize("key", ["idempotency_key", "external_id"])
def test_same_key_returns_stored_message_and_writes_nothing(store, conversation_id, key):
    first = store.append_message(conversation_id, role="user", content="hi", **{key: "k1"})
    again = store.append_message(conversation_id, role="user", content="hi", **{key: "k1"})
    assert (first.duplicate, again.duplicate) == (False, True)
    assert (again.id, again.seq, again.content) == (first.id, 1, "hi")
    assert counters(store, conversation_id) == (1, 1)
    assert len(store.last_messages(conversation_id)) == 1


@pytest.mark.parametrize("changed", [{"content": "bye"}, {"role": "assistant"}])
@pytest.mark.parametrize("key", ["idempotency_key", "external_id"])
def test_reused_key_with_different_message_raises_conflict_and_writes_nothing(
    store, conversation_id, key, changed
):
    stored = store.append_message(conversation_id, role="user", content="hi", **{key: "k1"})
    with pytest.raises(ConflictError) as error:
        store.append_message(
            conversation_id, **{"role": "user", "content": "hi", **changed, key: "k1"}
        )
    assert f"{key} 'k1' is already used by message {stored.id}" in str(error.value)
    with pytest.raises(ConflictError) as error:
        store.append_messages(
            conversation_id, [user("new"), {"role": "user", "content": "hi", **changed, key: "k1"}]
        )
    assert f"{key} 'k1' is already used by message {stored.id}" in str(error.value)
    assert counters(store, conversation_id) == (1, 1)
    assert [m.content for m in store.last_messages(conversation_id)] == ["hi"]


def test_the_sqlite_key_lookup_probes_the_unique_indexes(sqlite_template):
    """Each key of a batch is one probe of its conversation's unique index, never a read of
    all the tenant's messages, whatever statistics the file has."""
    import sqlite3

    from parloir.db.bulk import _sqlite_statement
    from parloir.messages import _existing_sqlite

    compiled = _sqlite_statement(_existing_sqlite())
    values = ["[]" if name in ("keys", "exts") else "x" for name in compiled.names]
    with sqlite3.connect(sqlite_template) as connection:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {compiled.sql}", values).fetchall()
    details = [row[3] for row in plan]
    assert any("uq_messages_conversation_id_idempotency_key" in d for d in details), details
    assert any("uq_messages_conversation_id_external_id" in d for d in details), details
    assert not any("ix_messages_tenant_id_created_at" in d for d in details), details


def test_idempotency_keys_are_scoped_to_their_conversation(store, agent_id, conversation_id):
    other = store.get_or_create_conversation(agent_id=agent_id, channel="telegram").id
    first = store.append_message(conversation_id, role="user", content="hi", idempotency_key="k")
    second = store.append_message(other, role="user", content="hi", idempotency_key="k")
    assert second.duplicate is False
    assert second.id != first.id


@pytest.mark.parametrize(
    ("content", "command", "args"),
    [
        ("/start@MyBot arg", "start", "arg"),
        ("/start@MyBot two words", "start", "two words"),
        ("/help", "help", None),
        ("hello /start", None, None),
        ("plain text", None, None),
    ],
)
def test_commands_are_parsed_from_user_messages(store, conversation_id, content, command, args):
    message = store.append_message(conversation_id, role="user", content=content)
    stored = store.get_message(message.id)
    assert (message.command, message.command_args) == (command, args)
    assert (stored.command, stored.command_args) == (command, args)


@pytest.mark.parametrize("role", ["assistant", "system", "tool"])
def test_commands_are_detected_only_for_user_messages(store, conversation_id, role):
    message = store.append_message(conversation_id, role=role, content="/start@MyBot arg")
    assert (message.command, message.command_args) == (None, None)


def test_optional_message_fields_round_trip(store, conversation_id):
    fields = {
        "sources": [{"url": "https://example.org/a", "score": 0.5}, "note"],
        "error_type": "RateLimitError",
        "error_message": "slow down",
        "token_count": 42,
        "response_time_ms": 1234,
        "metadata": {"lang": "fr", "nested": {"ok": True, "n": [1, 2]}},
    }
    returned = store.append_message(conversation_id, role="assistant", content="x", **fields)
    stored = store.get_message(returned.id)
    for name, value in fields.items():
        assert getattr(returned, name) == value
        assert getattr(stored, name) == value


def test_given_created_at_is_kept_and_last_message_at_never_moves_back(store, conversation_id):
    late, early = T0 + timedelta(hours=1), T0 - timedelta(days=1)
    first = store.append_message(conversation_id, role="user", content="a", created_at=late)
    second = store.append_message(conversation_id, role="user", content="b", created_at=early)
    assert store.get_message(first.id).created_at == late
    assert store.get_message(second.id).created_at == early
    assert store.get_conversation(conversation_id).last_message_at == late


def test_created_at_with_utc_offset_sets_last_message_at_to_that_instant(store, conversation_id):
    at = datetime(2026, 1, 15, 14, 0, tzinfo=timezone(timedelta(hours=2)))  # 12:00 UTC
    message = store.append_message(conversation_id, role="user", content="a", created_at=at)
    assert store.get_message(message.id).created_at == at
    assert store.get_conversation(conversation_id).last_message_at == at


def test_naive_created_at_is_rejected(store, conversation_id):
    with pytest.raises(InvalidInputError) as error:
        store.append_message(conversation_id, **user("a"), created_at=datetime(2026, 1, 1))
    assert rejected(error)[0][0] == "created_at"
    assert counters(store, conversation_id) == (0, 0)


def test_append_to_unknown_conversation_raises_not_found(store):
    with pytest.raises(NotFoundError):
        store.append_message(uuid.uuid4(), role="user", content="hi")
    with pytest.raises(NotFoundError):
        store.append_messages(uuid.uuid4(), [user("hi")])


def test_append_to_another_tenants_conversation_raises_not_found(store, conversation_id):
    other = store.for_tenant(store.create_tenant(name="Other", slug="other").id)
    with pytest.raises(NotFoundError):
        other.append_message(conversation_id, role="user", content="hi")
    with pytest.raises(NotFoundError):
        other.append_messages(conversation_id, [user("hi")])
    assert counters(store, conversation_id) == (0, 0)


# Batches


def test_append_messages_writes_a_batch_with_consecutive_seqs(store, conversation_id):
    store.append_message(conversation_id, role="user", content="before")
    items = [user("a"), {"role": "assistant", "content": "b"}, user("/help")]
    batch = store.append_messages(conversation_id, items)
    assert [(m.seq, m.content) for m in batch] == [(2, "a"), (3, "b"), (4, "/help")]
    assert not any(m.duplicate for m in batch)
    assert batch[2].command == "help"
    assert [m.seq for m in store.last_messages(conversation_id)] == [1, 2, 3, 4]
    assert counters(store, conversation_id) == (4, 4)


def test_append_messages_reports_duplicates_and_does_not_write_them(store, conversation_id):
    stored = store.append_message(conversation_id, role="user", content="old", idempotency_key="k0")
    batch = store.append_messages(
        conversation_id,
        [
            user("old", idempotency_key="k0"),  # stored already
            user("new", idempotency_key="k1"),
            user("new", idempotency_key="k1"),  # earlier in this batch
            user("ext", external_id="e1"),
            user("ext", external_id="e1"),  # earlier in this batch
        ],
    )
    assert [m.seq for m in batch] == [1, 2, 2, 3, 3]
    assert [m.duplicate for m in batch] == [True, False, True, False, True]
    assert batch[0].id == stored.id
    assert batch[2].id == batch[1].id
    assert batch[4].id == batch[3].id
    assert [m.content for m in store.last_messages(conversation_id)] == ["old", "new", "ext"]
    assert counters(store, conversation_id) == (3, 3)


def test_append_messages_with_one_bad_item_rejects_the_whole_batch(store, conversation_id):
    items = [user(f"m{i}") for i in range(5)]
    items[3] = user("bad\x00byte")
    with pytest.raises(InvalidInputError) as error:
        store.append_messages(conversation_id, items)
    assert rejected(error) == [("items.3.content", "no_nul")]
    assert store.last_messages(conversation_id) == []
    assert counters(store, conversation_id) == (0, 0)


def test_append_messages_with_an_item_over_the_limit_names_that_item(
    make_store, database_url, conversation_id
):
    small = make_store(settings=Settings(database_url=database_url, max_content_length=10))
    items = [user("ok"), user("ok"), user("ok"), user("x" * 11)]
    with pytest.raises(InvalidInputError) as error:
        small.append_messages(conversation_id, items)
    assert rejected(error) == [("items.3.content", "max_length")]
    assert counters(small, conversation_id) == (0, 0)


# Content limit


def test_default_limit_accepts_65536_code_points_and_rejects_65537(store, conversation_id):
    message = store.append_message(conversation_id, role="user", content="😀" * 65_536)
    assert store.get_message(message.id).content_length == 65_536
    with pytest.raises(InvalidInputError) as error:
        store.append_message(conversation_id, role="user", content="😀" * 65_537)
    assert rejected(error) == [("content", "max_length")]
    assert counters(store, conversation_id) == (1, 1)


def test_store_with_smaller_limit_rejects_longer_content(make_store, database_url, conversation_id):
    small = make_store(settings=Settings(database_url=database_url, max_content_length=10))
    assert small.append_message(conversation_id, role="user", content="é" * 10).seq == 1
    with pytest.raises(InvalidInputError) as error:
        small.append_message(conversation_id, role="user", content="é" * 11)
    assert rejected(error) == [("content", "max_length")]
    assert counters(small, conversation_id) == (1, 1)


# Receipts


def test_mark_delivered_and_mark_read_record_the_times(store, clock, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="hi")
    clock.advance(seconds=5)
    delivered = store.mark_delivered(message.id)
    read = store.mark_read(message.id, at=T0 + timedelta(seconds=9))
    assert delivered.delivered_at == T0 + timedelta(seconds=5)
    assert read.delivered_at == T0 + timedelta(seconds=5)
    assert read.read_at == T0 + timedelta(seconds=9)
    stored = store.get_message(message.id)
    assert (stored.delivered_at, stored.read_at) == (read.delivered_at, read.read_at)


def test_mark_read_also_marks_delivered(store, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="hi")
    at = T0 + timedelta(minutes=1)
    store.mark_read(message.id, at=at)
    stored = store.get_message(message.id)
    assert (stored.delivered_at, stored.read_at) == (at, at)


def test_earliest_receipt_time_wins(store, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="hi")
    t1, t2, t3 = (T0 + timedelta(minutes=n) for n in (1, 2, 3))
    for at in (t2, t1, t3):
        store.mark_delivered(message.id, at=at)
        store.mark_read(message.id, at=at + timedelta(minutes=10))
    stored = store.get_message(message.id)
    assert (stored.delivered_at, stored.read_at) == (t1, t1 + timedelta(minutes=10))


@pytest.mark.parametrize("mark", ["mark_delivered", "mark_read"])
def test_receipt_with_naive_datetime_is_rejected(store, conversation_id, mark):
    message = store.append_message(conversation_id, role="assistant", content="hi")
    with pytest.raises(InvalidInputError) as error:
        getattr(store, mark)(message.id, at=datetime(2026, 1, 15, 12, 0))
    assert rejected(error) == [("at", "timezone_aware")]
    assert store.get_message(message.id).delivered_at is None


# Conversations and contacts


def test_same_conversation_key_returns_the_same_conversation(store, agent_id):
    key = {"agent_id": agent_id, "channel": "telegram", "external_id": "42"}
    first, second = store.get_or_create_conversation(**key), store.get_or_create_conversation(**key)
    assert (first.created, second.created) == (True, False)
    assert second.id == first.id
    elsewhere = store.get_or_create_conversation(**{**key, "channel": "whatsapp"})
    assert elsewhere.created is True
    assert elsewhere.id != first.id


def test_conversation_without_external_id_is_always_new(store, agent_id):
    made = [store.get_or_create_conversation(agent_id=agent_id, channel="web") for _ in range(3)]
    assert all(c.created for c in made)
    assert len({c.id for c in made}) == 3


def test_conversation_is_linked_to_a_contact(store, agent_id):
    contact = store.upsert_contact(channel="telegram", external_id="u1", name="Ada")
    plain = store.get_or_create_conversation(agent_id=agent_id, channel="telegram", external_id="c")
    assert plain.contact_id is None
    linked = store.get_or_create_conversation(
        agent_id=agent_id, channel="telegram", external_id="c", contact_id=contact.id
    )
    assert (linked.id, linked.contact_id) == (plain.id, contact.id)
    assert store.get_conversation(plain.id).contact_id == contact.id
    assert store.update_conversation(plain.id, contact_id=None).contact_id is None
    assert store.get_conversation(plain.id).contact_id is None
    with pytest.raises(InvalidInputError) as error:
        store.get_or_create_conversation(agent_id=agent_id, channel="web", contact_id=uuid.uuid4())
    assert rejected(error) == [("contact_id", "exists")]


@pytest.mark.parametrize("status", ["archived", "blocked", "active"])
def test_update_conversation_changes_status_title_and_metadata(store, conversation_id, status):
    updated = store.update_conversation(
        conversation_id, status=status, title="Support", metadata={"topic": "billing"}
    )
    stored = store.get_conversation(conversation_id)
    for conversation in (updated, stored):
        assert (conversation.status, conversation.title) == (status, "Support")
        assert conversation.metadata == {"topic": "billing"}


def test_update_conversation_with_bad_status_is_rejected(store, conversation_id):
    with pytest.raises(InvalidInputError) as error:
        store.update_conversation(conversation_id, status="deleted")
    assert rejected(error)[0][0] == "status"
    assert store.get_conversation(conversation_id).status == "active"


def test_list_conversations_filters(store, clock, agent_id):
    other_agent = store.create_agent(name="other").id
    contact = store.upsert_contact(channel="telegram", external_id="u1").id
    a = store.get_or_create_conversation(agent_id=agent_id, channel="telegram", contact_id=contact)
    clock.advance(hours=1)
    b = store.get_or_create_conversation(agent_id=agent_id, channel="whatsapp")
    clock.advance(hours=1)
    c = store.get_or_create_conversation(agent_id=other_agent, channel="telegram")
    store.update_conversation(b.id, status="archived")

    def ids(**filters):
        return [conversation.id for conversation in store.list_conversations(**filters).items]

    assert ids() == [c.id, b.id, a.id]
    assert ids(agent_id=agent_id) == [b.id, a.id]
    assert ids(contact_id=contact) == [a.id]
    assert ids(channel="telegram") == [c.id, a.id]
    assert ids(status="archived") == [b.id]
    assert ids(status="active") == [c.id, a.id]
    assert ids(since=T0 + timedelta(hours=1)) == [c.id, b.id]
    assert ids(until=T0 + timedelta(hours=2)) == [b.id, a.id]
    assert ids(since=T0 + timedelta(minutes=30), until=T0 + timedelta(minutes=90)) == [b.id]
    assert ids(channel="telegram", agent_id=agent_id, status="active") == [a.id]


def test_list_conversations_pages_newest_first_with_a_cursor(store, clock, agent_id):
    made = []
    for _ in range(7):
        made.append(store.get_or_create_conversation(agent_id=agent_id, channel="web").id)
        clock.advance(seconds=1)
    page = store.list_conversations(limit=3)
    pages = [page.items]
    while page.next_cursor is not None:
        page = store.list_conversations(limit=3, cursor=page.next_cursor)
        pages.append(page.items)
    seen = [c.id for items in pages for c in items]
    assert [len(items) for items in pages] == [3, 3, 1]
    assert len(set(seen)) == 7
    assert seen == made[::-1]  # newest first


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "", "AAAA"])
def test_garbage_cursor_is_rejected(store, cursor):
    with pytest.raises(InvalidInputError) as error:
        store.list_conversations(cursor=cursor)
    assert rejected(error)[0][0] == "cursor"


def test_upsert_contact_updates_only_the_given_fields(store, clock):
    first = store.upsert_contact(
        channel="telegram", external_id="u1", name="Ada", username="ada", metadata={"a": 1}
    )
    clock.advance(minutes=1)
    second = store.upsert_contact(channel="telegram", external_id="u1", name="Ada L.")
    assert second.id == first.id
    assert (second.name, second.username, second.metadata) == ("Ada L.", "ada", {"a": 1})
    assert second.updated_at == T0 + timedelta(minutes=1)
    assert store.get_contact(first.id) == second
    unchanged = store.upsert_contact(channel="telegram", external_id="u1", username=None)
    assert (unchanged.name, unchanged.username) == ("Ada L.", "ada")  # None means "not given"
    other = store.upsert_contact(channel="whatsapp", external_id="u1")
    assert other.id != first.id


def test_batch_values_read_back_exactly_as_single_appends_do(store, conversation_id):
    at = datetime(2026, 1, 15, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    item = {
        "role": "assistant",
        "content": "réponse 🌍 عربى",
        "sources": [{"doc": "faq.md", "score": 0.5}, "plain"],
        "metadata": {"nested": {"list": [1, 2.5, None, True]}, "ünï": "ok"},
        "created_at": at,
        "delivered_at": at,
        "token_count": 12,
        "error_type": "timeout",
        "external_id": "ext-1",
    }
    single = store.append_message(conversation_id, **item)
    batch = store.append_messages(conversation_id, [{**item, "external_id": "ext-2"}])
    stored = store.last_messages(conversation_id, limit=2)
    assert stored[1] == batch[0]
    fields = set(type(single).model_fields) - {"id", "seq", "external_id"}
    for name in fields:
        assert getattr(stored[0], name) == getattr(stored[1], name), name
    assert stored[1].created_at == at
    assert stored[1].sources == item["sources"]


def test_a_database_error_on_the_fast_append_path_is_a_parloir_error(store, conversation_id):
    from sqlalchemy import text

    from parloir import ParloirError

    # A rule the database knows and the input checks do not: the store must still answer
    # with its own error, not a driver exception. (DDL: as the owner, not the store's role.)
    owner = store._shared.engines.owner
    with owner.begin() as connection:
        connection.execute(text("CREATE UNIQUE INDEX uq_test_content ON messages (content)"))
    try:
        store.append_message(conversation_id, role="user", content="same")
        with pytest.raises(ParloirError):
            store.append_message(conversation_id, role="user", content="same", external_id="x")
    finally:
        with owner.begin() as connection:
            connection.execute(text("DROP INDEX uq_test_content"))
