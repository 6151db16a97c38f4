"""Reading a conversation back: last turns, messages after a point, and the model context."""

from __future__ import annotations

import uuid

import pytest

from parloir import InvalidInputError, NotFoundError, approx_tokens

SYSTEM = {"role": "system", "content": "Be brief."}  # the agent fixture's instructions


def words(text):
    return len(text.split())


def append_all(store, conversation_id, *turns):
    """Append (role, content) pairs, or (role, content, fields) triples, in order."""
    for role, content, *fields in turns:
        store.append_message(conversation_id, role=role, content=content, **(fields or [{}])[0])


def numbered(store, conversation_id, count):
    append_all(store, conversation_id, *[("user", f"m{n}") for n in range(1, count + 1)])


# last_messages and messages_after


def test_last_messages_returns_the_newest_oldest_first(store, conversation_id):
    numbered(store, conversation_id, 5)
    assert [m.content for m in store.last_messages(conversation_id, limit=3)] == ["m3", "m4", "m5"]
    assert [m.seq for m in store.last_messages(conversation_id)] == [1, 2, 3, 4, 5]
    assert [m.seq for m in store.last_messages(conversation_id, limit=10)] == [1, 2, 3, 4, 5]


def test_messages_after_returns_the_messages_after_a_seq_in_order(store, conversation_id):
    numbered(store, conversation_id, 5)
    assert [m.seq for m in store.messages_after(conversation_id, 2)] == [3, 4, 5]
    assert [m.seq for m in store.messages_after(conversation_id, 0, limit=2)] == [1, 2]
    assert [m.seq for m in store.messages_after(conversation_id, 2, limit=2)] == [3, 4]
    assert store.messages_after(conversation_id, 5) == []


READERS = {
    "last_messages": lambda store, cid: store.last_messages(cid),
    "messages_after": lambda store, cid: store.messages_after(cid, 0),
    "context": lambda store, cid: store.context(cid),
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_reading_an_unknown_conversation_raises_not_found(store, read):
    with pytest.raises(NotFoundError):
        read(store, uuid.uuid4())


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_reading_another_tenants_conversation_raises_not_found(store, conversation_id, read):
    store.append_message(conversation_id, role="user", content="secret")
    other = store.for_tenant(store.create_tenant(name="Other", slug="other").id)
    with pytest.raises(NotFoundError):
        read(other, conversation_id)


def test_reading_an_empty_conversation_returns_empty_lists(store, conversation_id):
    assert store.last_messages(conversation_id) == []
    assert store.messages_after(conversation_id, 0) == []
    assert store.context(conversation_id) == [SYSTEM]


# context


def test_context_starts_with_the_agent_instructions_as_a_system_message(store, conversation_id):
    append_all(store, conversation_id, ("user", "hi"), ("assistant", "hello"))
    assert store.context(conversation_id) == [
        SYSTEM,
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


def test_context_has_no_system_message_when_the_agent_has_no_instructions(store):
    agent = store.create_agent(name="silent")
    cid = store.get_or_create_conversation(agent_id=agent.id, channel="web").id
    store.append_message(cid, role="user", content="hi")
    assert store.context(cid) == [{"role": "user", "content": "hi"}]


def test_context_keeps_the_newest_messages_within_max_messages(store, conversation_id):
    numbered(store, conversation_id, 6)
    context = store.context(conversation_id, max_messages=4)
    assert context == [SYSTEM] + [{"role": "user", "content": f"m{n}"} for n in (3, 4, 5, 6)]


@pytest.mark.parametrize(
    ("max_tokens", "kept"),
    [
        # "Be brief." costs 2 + 4 = 6; each "messageN two three" costs 3 + 4 = 7.
        (6 + 7 * 3, 3),
        (6 + 7 * 3 - 1, 2),
        (6 + 7 * 2, 2),
        (6 + 7, 1),
        (6 + 6, 0),
        (6, 0),
        (1000, 5),
    ],
)
def test_context_keeps_the_newest_messages_within_max_tokens(
    store, conversation_id, max_tokens, kept
):
    contents = [f"message{n} two three" for n in range(5)]
    append_all(store, conversation_id, *[("user", content) for content in contents])
    context = store.context(conversation_id, max_tokens=max_tokens, token_counter=words)
    expected = contents[len(contents) - kept :]
    assert context[0] == SYSTEM
    assert [entry["content"] for entry in context[1:]] == expected


def test_context_applies_both_limits(store, conversation_id):
    numbered(store, conversation_id, 6)  # each message "mN" costs 1 + 4 = 5
    by_count = store.context(conversation_id, max_messages=2, max_tokens=1000, token_counter=words)
    by_tokens = store.context(
        conversation_id, max_messages=6, max_tokens=6 + 15, token_counter=words
    )
    assert [e["content"] for e in by_count[1:]] == ["m5", "m6"]
    assert [e["content"] for e in by_tokens[1:]] == ["m4", "m5", "m6"]


def test_default_token_counter_is_utf8_bytes_over_four_rounded_up(store, conversation_id):
    texts = ("", "a", "abcd", "abcde", "é", "😀😀", "日本語")
    assert [approx_tokens(text) for text in texts] == [0, 1, 1, 2, 1, 2, 3]
    append_all(store, conversation_id, ("user", "abcdefgh"), ("user", "😀😀"))
    # "Be brief." is 9 bytes: 3 + 4 = 7; each message is 8 bytes: 2 + 4 = 6.
    assert store.context(conversation_id, max_tokens=7 + 12)[1:] == [
        {"role": "user", "content": "abcdefgh"},
        {"role": "user", "content": "😀😀"},
    ]
    assert store.context(conversation_id, max_tokens=7 + 11)[1:] == [
        {"role": "user", "content": "😀😀"}
    ]


def test_context_leaves_out_messages_recorded_with_an_error(store, conversation_id):
    append_all(
        store,
        conversation_id,
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "partial", {"error_type": "Timeout", "error_message": "took too long"}),
        ("assistant", "a2"),
    )
    context = store.context(conversation_id, max_messages=3)
    assert [e["content"] for e in context] == ["Be brief.", "a1", "q2", "a2"]


def tool_exchange(store, conversation_id):
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    append_all(
        store,
        conversation_id,
        ("user", "weather?"),
        ("assistant", "", {"metadata": {"tool_calls": [call], "trace": "x"}}),
        ("tool", "sunny", {"metadata": {"tool_call_id": "call_1", "name": "weather"}}),
        ("assistant", "It is sunny."),
    )
    return call


def test_context_includes_tool_fields_from_message_metadata(store, conversation_id):
    call = tool_exchange(store, conversation_id)
    assert store.context(conversation_id) == [
        SYSTEM,
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1", "name": "weather"},
        {"role": "assistant", "content": "It is sunny."},
    ]


@pytest.mark.parametrize(
    "limits",
    [{"max_messages": 2}, {"max_tokens": 6 + 5 + 7, "token_counter": words}],
    ids=["max_messages", "max_tokens"],
)
def test_context_never_starts_with_an_orphan_tool_message(store, conversation_id, limits):
    tool_exchange(store, conversation_id)
    context = store.context(conversation_id, **limits)
    assert context == [SYSTEM, {"role": "assistant", "content": "It is sunny."}]


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"max_messages": 0}, "max_messages"),
        ({"max_messages": -1}, "max_messages"),
        ({"max_messages": 10_001}, "max_messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -10}, "max_tokens"),
    ],
)
def test_context_rejects_invalid_limits(store, conversation_id, limits, field):
    with pytest.raises(InvalidInputError) as error:
        store.context(conversation_id, **limits)
    assert [e.field for e in error.value.errors] == [field]
