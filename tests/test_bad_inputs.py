"""Invalid input is rejected before anything is written, naming the field and the rule."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, select

from parloir import InvalidInputError
from parloir.config import DEFAULT_MAX_CONTENT_LENGTH, normalize_database_url
from parloir.db.models import Base
from parloir.validation import MAX_JSON_DEPTH

NAIVE = datetime(2026, 1, 15, 12, 0)
TOO_LONG = "x" * (DEFAULT_MAX_CONTENT_LENGTH + 1)


def snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """{table: (row count, sha256 of all rows by primary key)} for every parloir table."""
    engine = create_engine(normalize_database_url(database_url))
    try:
        out = {}
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                dump = json.dumps([list(row) for row in rows], default=repr, sort_keys=True)
                out[table.name] = (len(rows), hashlib.sha256(dump.encode()).hexdigest())
        return out
    finally:
        engine.dispose()


def nested(levels: int) -> dict[str, object]:
    """A JSON object ``levels`` objects deep, with a scalar at the bottom."""
    value: object = "bottom"
    for _ in range(levels):
        value = {"k": value}
    return value  # type: ignore[return-value]


TOO_DEEP = nested(MAX_JSON_DEPTH + 1)


@pytest.fixture
def w(store, agent_id, conversation_id):
    """Ids of a ready agent, conversation, message, model call and post."""
    message = store.append_message(conversation_id, role="user", content="hello")
    call = store.record_llm_call(model="gpt-4o-mini", message_id=message.id, cost_nanos=1)
    post = store.create_post(content="news", channel="telegram", agent_id=agent_id)
    return SimpleNamespace(
        agent=agent_id, conv=conversation_id, msg=message.id, call=call.id, post=post.id
    )


def _msg(**fields):
    return lambda s, w: s.append_message(w.conv, **({"role": "user", "content": "hi"} | fields))


def _batch(**fields):
    items = [{"role": "user", "content": "fine"}, {"role": "user", "content": "hi"} | fields]
    return lambda s, w: s.append_messages(w.conv, items)


def _conv(**fields):
    return lambda s, w: s.get_or_create_conversation(
        **({"agent_id": w.agent, "channel": "web", "external_id": "new"} | fields)
    )


def _contact(**fields):
    return lambda s, w: s.upsert_contact(**({"channel": "web", "external_id": "c1"} | fields))


def _agent(**fields):
    return lambda s, w: s.create_agent(**({"name": "bot"} | fields))


def _call(**fields):
    return lambda s, w: s.record_llm_call(**({"model": "gpt-4o-mini", "cost_nanos": 1} | fields))


def _retrieval(**fields):
    return lambda s, w: s.record_retrieval(**({"llm_call_id": w.call, "source": "kb"} | fields))


def _feedback(**fields):
    return lambda s, w: s.add_feedback(w.msg, **({"rating": 1} | fields))


def _session(context=None, key="k", **kwargs):
    return lambda s, w: s.set_session(key, {} if context is None else context, **kwargs)


def _event(**fields):
    return lambda s, w: s.record_audit_event(**({"event_type": "login"} | fields))


def _post(**fields):
    return lambda s, w: s.create_post(**({"content": "news", "channel": "web"} | fields))


CASES = {
    # an unknown role
    "message-unknown-role": (_msg(role="robot"), "role", "literal_error"),
    "batch-unknown-role": (_batch(role="robot"), "items.1.role", "literal_error"),
    "batch-missing-content": (_batch(content=None), "items.1.content", "missing"),
    # content over the default limit, in code points
    "message-content-too-long": (_msg(content=TOO_LONG), "content", "max_length"),
    "message-emoji-too-long": (
        _msg(content="🙂" * (DEFAULT_MAX_CONTENT_LENGTH + 1)),
        "content",
        "max_length",
    ),
    "batch-content-too-long": (_batch(content=TOO_LONG), "items.1.content", "max_length"),
    # NUL characters
    "message-nul-content": (_msg(content="a\x00b"), "content", "no_nul"),
    "message-nul-metadata-key": (_msg(metadata={"k\x00": 1}), "metadata", "no_nul"),
    "message-nul-metadata-value": (_msg(metadata={"k": ["\x00"]}), "metadata", "no_nul"),
    "batch-nul-content": (_batch(content="\x00"), "items.1.content", "no_nul"),
    "conversation-nul-title": (_conv(title="Chat\x00"), "title", "no_nul"),
    "conversation-nul-external-id": (_conv(external_id="\x00"), "external_id", "no_nul"),
    "contact-nul-name": (_contact(name="Bob\x00"), "name", "no_nul"),
    "contact-nul-metadata-value": (_contact(metadata={"a": {"b": "\x00"}}), "metadata", "no_nul"),
    "agent-nul-name": (_agent(name="bot\x00"), "name", "no_nul"),
    "agent-nul-instructions": (_agent(instructions="Be\x00brief"), "instructions", "no_nul"),
    "call-nul-model": (_call(model="gpt\x00"), "model", "no_nul"),
    "call-nul-prompt": (_call(prompt=[{"content": "\x00"}]), "prompt", "no_nul"),
    "retrieval-nul-preview": (_retrieval(content_preview="\x00"), "content_preview", "no_nul"),
    "feedback-nul-comment": (_feedback(comment="bad\x00"), "comment", "no_nul"),
    "session-nul-key": (_session(key="k\x00"), "key", "no_nul"),
    "session-key-too-long": (_session(key="k" * 256), "key", "string_too_long"),
    "session-nul-context-key": (_session({"\x00": 1}), "context", "no_nul"),
    "event-nul-type": (_event(event_type="log\x00in"), "event_type", "no_nul"),
    "event-nul-metadata-key": (_event(metadata={"\x00": 1}), "metadata", "no_nul"),
    "post-nul-content": (_post(content="\x00"), "content", "no_nul"),
    # lone surrogates
    "message-high-surrogate": (_msg(content="a\ud800b"), "content", "no_lone_surrogates"),
    "message-low-surrogate": (_msg(content="\udfff"), "content", "no_lone_surrogates"),
    "batch-surrogate": (_batch(content="\ud800"), "items.1.content", "no_lone_surrogates"),
    "contact-surrogate-meta": (
        _contact(metadata={"a": "\udfff"}),
        "metadata",
        "no_lone_surrogates",
    ),
    "agent-surrogate-name": (_agent(name="\ud800"), "name", "no_lone_surrogates"),
    "call-surrogate-response": (_call(response="\udfff"), "response", "no_lone_surrogates"),
    "session-surrogate-context": (_session(["\ud800"]), "context", "no_lone_surrogates"),
    "event-surrogate-meta-key": (_event(metadata={"\udfff": 1}), "metadata", "no_lone_surrogates"),
    "post-surrogate-content": (_post(content="\ud800"), "content", "no_lone_surrogates"),
    # NaN and infinity
    "agent-nan-temperature": (_agent(temperature=math.nan), "temperature", "finite_number"),
    "agent-inf-temperature": (_agent(temperature=math.inf), "temperature", "finite_number"),
    "agent-nan-top-p": (_agent(top_p=math.nan), "top_p", "finite_number"),
    "retrieval-nan-score": (_retrieval(score=math.nan), "score", "finite_number"),
    "retrieval-inf-score": (_retrieval(score=-math.inf), "score", "finite_number"),
    "message-nan-metadata": (_msg(metadata={"x": math.nan}), "metadata", "finite_number"),
    "call-inf-metadata": (_call(metadata={"x": [1.0, math.inf]}), "metadata", "finite_number"),
    "session-nan-context": (_session({"x": math.nan}), "context", "finite_number"),
    "post-nan-metadata": (_post(metadata={"x": math.nan}), "metadata", "finite_number"),
    # naive datetimes
    "message-naive-created-at": (_msg(created_at=NAIVE), "created_at", "timezone_aware"),
    "batch-naive-created-at": (_batch(created_at=NAIVE), "items.1.created_at", "timezone_aware"),
    "conversation-naive-created-at": (_conv(created_at=NAIVE), "created_at", "timezone_aware"),
    "call-naive-created-at": (_call(created_at=NAIVE), "created_at", "timezone_aware"),
    "feedback-naive-created-at": (_feedback(created_at=NAIVE), "created_at", "timezone_aware"),
    "event-naive-created-at": (_event(created_at=NAIVE), "created_at", "timezone_aware"),
    "post-naive-scheduled-for": (_post(scheduled_for=NAIVE), "scheduled_for", "timezone_aware"),
    "session-naive-expires-at": (_session(expires_at=NAIVE), "expires_at", "timezone_aware"),
    "audit-list-naive-since": (
        lambda s, w: s.list_audit_events(since=NAIVE),
        "since",
        "timezone_aware",
    ),
    "schedule-post-naive-at": (lambda s, w: s.schedule_post(w.post, NAIVE), "at", "timezone_aware"),
    # negative counts
    "call-negative-input": (_call(input_tokens=-1), "input_tokens", "greater_than_equal"),
    "call-negative-output": (_call(output_tokens=-5), "output_tokens", "greater_than_equal"),
    "call-negative-cached": (_call(cached_tokens=-1), "cached_tokens", "greater_than_equal"),
    "call-negative-reasoning": (
        _call(reasoning_tokens=-1),
        "reasoning_tokens",
        "greater_than_equal",
    ),
    "call-negative-cost": (_call(cost_nanos=-1), "cost_nanos", "greater_than_equal"),
    "message-negative-tokens": (_msg(token_count=-1), "token_count", "greater_than_equal"),
    "agent-zero-max-tokens": (_agent(max_tokens=0), "max_tokens", "greater_than_equal"),
    "retrieval-negative-rank": (_retrieval(rank=-1), "rank", "greater_than_equal"),
    # a bool where an int is expected
    "call-bool-input-tokens": (_call(input_tokens=True), "input_tokens", "int_type"),
    "call-bool-cost": (_call(cost_nanos=True), "cost_nanos", "int_type"),
    "message-bool-token-count": (_msg(token_count=True), "token_count", "int_type"),
    "agent-bool-max-tokens": (_agent(max_tokens=True), "max_tokens", "int_type"),
    "retrieval-bool-rank": (_retrieval(rank=False), "rank", "int_type"),
    "feedback-bool-rating": (_feedback(rating=True), "rating", "int_type"),
    # unknown fields
    "message-tenant-id": (_msg(tenant_id=uuid.uuid4()), "tenant_id", "unknown_field"),
    "message-seq": (_msg(seq=7), "seq", "unknown_field"),
    "batch-id": (_batch(id=uuid.uuid4()), "items.1.id", "unknown_field"),
    "conversation-message-count": (_conv(message_count=5), "message_count", "unknown_field"),
    "contact-tenant-id": (_contact(tenant_id=uuid.uuid4()), "tenant_id", "unknown_field"),
    "agent-id": (_agent(id=uuid.uuid4()), "id", "unknown_field"),
    "call-cost-usd": (_call(cost_usd=0.5), "cost_usd", "unknown_field"),
    "retrieval-tenant-id": (_retrieval(tenant_id=uuid.uuid4()), "tenant_id", "unknown_field"),
    "feedback-tenant-id": (_feedback(tenant_id=uuid.uuid4()), "tenant_id", "unknown_field"),
    "event-id": (_event(id=uuid.uuid4()), "id", "unknown_field"),
    "post-status": (_post(status="published"), "status", "unknown_field"),
    # metadata nested too deep
    "message-deep-metadata": (_msg(metadata=TOO_DEEP), "metadata", "max_depth"),
    "message-deep-sources": (_msg(sources=[TOO_DEEP]), "sources.0", "max_depth"),
    "batch-deep-metadata": (_batch(metadata=TOO_DEEP), "items.1.metadata", "max_depth"),
    "conversation-deep-metadata": (_conv(metadata=TOO_DEEP), "metadata", "max_depth"),
    "contact-deep-metadata": (_contact(metadata=TOO_DEEP), "metadata", "max_depth"),
    "agent-deep-metadata": (_agent(metadata=TOO_DEEP), "metadata", "max_depth"),
    "call-deep-prompt": (_call(prompt=TOO_DEEP), "prompt", "max_depth"),
    "retrieval-deep-metadata": (_retrieval(metadata=TOO_DEEP), "metadata", "max_depth"),
    "feedback-deep-metadata": (_feedback(metadata=TOO_DEEP), "metadata", "max_depth"),
    "session-deep-context": (_session(TOO_DEEP), "context", "max_depth"),
    "session-deep-metadata": (_session(metadata=TOO_DEEP), "metadata", "max_depth"),
    "event-deep-metadata": (_event(metadata=TOO_DEEP), "metadata", "max_depth"),
    "post-deep-metadata": (_post(metadata=TOO_DEEP), "metadata", "max_depth"),
}


@pytest.mark.parametrize(("call", "field", "rule"), list(CASES.values()), ids=list(CASES))
def test_invalid_input_is_rejected_before_anything_is_written(
    store, database_url, w, call, field, rule
):
    before = snapshot(database_url)
    with pytest.raises(InvalidInputError) as info:
        call(store, w)
    error = info.value.errors[0]
    assert (error.field, error.rule) == (field, rule)
    assert field in str(info.value)
    assert rule in str(info.value)
    assert snapshot(database_url) == before


def test_content_at_exactly_the_limit_is_accepted(store, conversation_id):
    content = "🙂" * DEFAULT_MAX_CONTENT_LENGTH
    message = store.append_message(conversation_id, role="user", content=content)
    assert store.get_message(message.id).content == content


def test_metadata_nested_exactly_to_the_limit_is_accepted(store, agent_id):
    metadata = nested(MAX_JSON_DEPTH)
    store.update_agent(agent_id, metadata=metadata)
    assert store.get_agent(agent_id).metadata == metadata


def test_a_rejected_batch_writes_none_of_its_valid_messages(store, database_url, conversation_id):
    before = snapshot(database_url)
    items = [{"role": "user", "content": f"ok {i}"} for i in range(3)]
    with pytest.raises(InvalidInputError):
        store.append_messages(conversation_id, [*items, {"role": "user", "content": "\x00"}])
    assert snapshot(database_url) == before
    assert store.get_conversation(conversation_id).message_count == 0


def test_the_snapshot_sees_a_write(store, database_url, conversation_id):
    before = snapshot(database_url)
    store.append_message(conversation_id, role="user", content="hello")
    store.fold_rollups()  # SQLite counts single appends in the rollups by a fold
    after = snapshot(database_url)
    assert after["messages"][0] == before["messages"][0] + 1
    moved = ("messages", "conversations", "usage_rollups", "usage_totals")
    for name in moved[1:]:
        assert after[name] != before[name], name
    assert {k: v for k, v in after.items() if k not in moved} == {
        k: v for k, v in before.items() if k not in moved
    }
