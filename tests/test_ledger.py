"""Sessions with a time to live, audit events, and outbound posts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from parloir import InvalidInputError

# Sessions


def test_a_session_can_be_set_read_and_deleted(store, clock):
    created = store.set_session("chat-1", {"step": 1})
    assert (created.key, created.context, created.expires_at) == ("chat-1", {"step": 1}, None)
    assert created.created_at == clock.now
    assert store.get_session("chat-1") == created
    assert store.delete_session("chat-1") is True
    assert store.get_session("chat-1") is None
    assert store.delete_session("chat-1") is False
    assert store.get_session("never-set") is None


def test_setting_a_session_again_replaces_it_under_the_same_key(store, clock, conversation_id):
    first = store.set_session("chat-1", {"step": 1}, metadata={"v": 1})
    clock.advance(seconds=5)
    second = store.set_session(
        "chat-1", ["now", "a", "list"], conversation_id=conversation_id, metadata={"v": 2}
    )
    assert second.id == first.id
    assert (second.context, second.metadata, second.conversation_id) == (
        ["now", "a", "list"],
        {"v": 2},
        conversation_id,
    )
    assert (second.created_at, second.updated_at) == (first.created_at, clock.now)
    assert store.get_session("chat-1") == second
    assert store.totals().sessions == 1


def test_a_session_linked_to_an_unknown_conversation_is_rejected(store):
    with pytest.raises(InvalidInputError) as info:
        store.set_session("chat-1", {}, conversation_id=uuid.uuid4())
    assert info.value.errors[0].field == "conversation_id"
    assert store.totals().sessions == 0


@pytest.mark.parametrize(
    "context",
    [
        {"a": [1, [2, [3, {"b": {"c": [None, True, False, 1.5, -7]}}]]]},
        {"langue": "français", "日本語": "こんにちは", "emoji": "🙂👍🏽", "rtl": "שלום"},
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "a plain string ✓",
        42,
        [],
        {},
    ],
    ids=["nested", "unicode", "list-of-dicts", "string", "number", "empty-list", "empty-dict"],
)
def test_a_session_context_round_trips_any_json_value(store, context):
    store.set_session("k", context)
    assert store.get_session("k").context == context


def test_a_session_is_invisible_from_the_instant_it_expires_without_a_purge(store, clock):
    start = clock.now
    created = store.set_session("k", {"step": 1}, ttl=60)
    assert created.expires_at == start + timedelta(seconds=60)
    clock.advance(seconds=59, microseconds=999_999)
    assert store.get_session("k") is not None
    clock.advance(microseconds=1)
    assert clock.now == created.expires_at
    assert store.get_session("k") is None
    clock.advance(hours=1)
    assert store.get_session("k") is None
    assert store.totals().sessions == 1  # the row is still there until purged


def test_deleting_an_expired_session_reports_no_live_session(store, clock):
    store.set_session("k", 1, ttl=1)
    clock.advance(seconds=1)
    assert store.delete_session("k") is False
    assert store.totals().sessions == 0


def test_a_session_may_be_given_an_absolute_expiry(store, clock):
    store.set_session("k", 1, expires_at=clock.now + timedelta(minutes=1))
    clock.advance(seconds=59)
    assert store.get_session("k") is not None
    clock.advance(seconds=1)
    assert store.get_session("k") is None


def test_purge_sessions_removes_exactly_the_expired_rows(store, clock):
    other = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    store.set_session("short", 1, ttl=10)
    store.set_session("exact", 2, ttl=30)
    store.set_session("long", 3, ttl=100)
    store.set_session("forever", 4)
    other.set_session("b-short", 5, ttl=10)
    assert store.purge_sessions() == 0
    clock.advance(seconds=30)
    assert store.purge_sessions() == 2
    assert [store.get_session(k).context for k in ("long", "forever")] == [3, 4]
    assert store.totals().sessions == 2
    assert other.totals().sessions == 1  # another tenant's expired row is not ours to purge
    assert store.purge_sessions() == 0
    assert store.purge_sessions(all_tenants=True) == 1
    assert other.totals().sessions == 0
    assert store.totals(all_tenants=True).sessions == 2


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [(90, 90), (90.5, 90.5), (timedelta(seconds=90), 90), (timedelta(days=2), 172_800)],
    ids=["int-seconds", "float-seconds", "timedelta", "timedelta-days"],
)
def test_a_ttl_is_seconds_or_a_timedelta(store, clock, ttl, seconds):
    created = store.set_session("k", 1, ttl=ttl)
    assert created.expires_at == clock.now + timedelta(seconds=seconds)
    assert store.get_session("k").expires_at == created.expires_at


@pytest.mark.parametrize(
    "ttl",
    [0, -1, -0.5, 0.0, timedelta(0), timedelta(seconds=-5)],
    ids=["0", "-1", "-0.5", "0.0", "timedelta-0", "timedelta-negative"],
)
def test_a_zero_or_negative_ttl_is_rejected(store, ttl):
    with pytest.raises(InvalidInputError) as info:
        store.set_session("k", 1, ttl=ttl)
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("ttl", "positive")
    assert store.totals().sessions == 0


def test_a_ttl_and_an_absolute_expiry_together_are_rejected(store, clock):
    with pytest.raises(InvalidInputError) as info:
        store.set_session("k", 1, ttl=10, expires_at=clock.now + timedelta(seconds=10))
    assert info.value.errors[0].field == "ttl"
    assert store.totals().sessions == 0


# Audit events


@pytest.fixture
def events(store, clock):
    """Four events ten seconds apart; returns (start time, [e1, e2, e3, e4])."""
    start = clock.now
    specs = [
        ("login", "c-1", "user", "u1"),
        ("message.sent", "c-1", "conversation", "conv-1"),
        ("login", "c-2", "user", "u1"),
        ("logout", "c-2", "user", "u2"),
    ]
    recorded = []
    for event_type, correlation, subject_type, subject_id in specs:
        recorded.append(
            store.record_audit_event(
                event_type=event_type,
                actor="alice",
                correlation_id=correlation,
                subject_type=subject_type,
                subject_id=subject_id,
                metadata={"ip": "203.0.113.7"},
            )
        )
        clock.advance(seconds=10)
    return start, recorded


def test_an_audit_event_round_trips(store, events):
    start, (e1, *_) = events
    assert (e1.event_type, e1.actor, e1.correlation_id, e1.created_at) == (
        "login",
        "alice",
        "c-1",
        start,
    )
    assert (e1.subject_type, e1.subject_id, e1.metadata) == ("user", "u1", {"ip": "203.0.113.7"})
    assert store.list_audit_events().items[-1] == e1


def test_audit_events_are_listed_newest_first_and_filtered(store, events):
    _, (e1, e2, e3, e4) = events

    def listed(**filters):
        return [e.id for e in store.list_audit_events(**filters).items]

    assert listed() == [e4.id, e3.id, e2.id, e1.id]
    assert listed(event_type="login") == [e3.id, e1.id]
    assert listed(correlation_id="c-1") == [e2.id, e1.id]
    assert listed(subject_type="user", subject_id="u1") == [e3.id, e1.id]
    assert listed(subject_type="user") == [e4.id, e3.id, e1.id]
    assert listed(event_type="login", correlation_id="c-2") == [e3.id]
    assert listed(event_type="nothing") == []


def test_audit_events_are_filtered_by_time_since_inclusive_until_exclusive(store, events):
    start, (e1, e2, e3, e4) = events

    def listed(since=None, until=None):
        return [e.id for e in store.list_audit_events(since=since, until=until).items]

    at = [start + timedelta(seconds=10 * i) for i in range(4)]
    assert listed(since=at[1], until=at[3]) == [e3.id, e2.id]
    assert listed(since=at[1]) == [e4.id, e3.id, e2.id]
    assert listed(until=at[1]) == [e1.id]
    assert listed(since=at[1], until=at[1]) == []
    assert listed(since=at[1] + timedelta(microseconds=1)) == [e4.id, e3.id]
    assert listed(until=at[3] + timedelta(microseconds=1))[0] == e4.id


def test_audit_events_are_paged_with_a_cursor(store, events):
    _, (e1, e2, e3, e4) = events
    first = store.list_audit_events(limit=3)
    assert [e.id for e in first.items] == [e4.id, e3.id, e2.id]
    assert first.next_cursor is not None
    second = store.list_audit_events(limit=3, cursor=first.next_cursor)
    assert [e.id for e in second.items] == [e1.id]
    assert second.next_cursor is None
    login = store.list_audit_events(event_type="login", limit=1)
    rest = store.list_audit_events(event_type="login", limit=1, cursor=login.next_cursor)
    assert [e.id for e in login.items + rest.items] == [e3.id, e1.id]
    assert rest.next_cursor is None


# Posts


def test_a_post_without_a_schedule_is_a_draft(store, agent_id):
    post = store.create_post(content="Hello world", channel="telegram", agent_id=agent_id)
    assert (post.status, post.scheduled_for, post.published_at) == ("draft", None, None)
    assert store.get_post(post.id) == post


def test_a_post_with_a_schedule_is_scheduled(store, clock):
    at = clock.now + timedelta(hours=2)
    post = store.create_post(content="Later", channel="telegram", scheduled_for=at)
    assert (post.status, post.scheduled_for) == ("scheduled", at)
    assert store.get_post(post.id) == post


def test_schedule_post_schedules_a_draft(store, clock):
    draft = store.create_post(content="Hello", channel="telegram")
    at = clock.now + timedelta(minutes=30)
    scheduled = store.schedule_post(draft.id, at)
    assert (scheduled.status, scheduled.scheduled_for) == ("scheduled", at)
    assert store.get_post(draft.id) == scheduled


def test_list_due_posts_lists_only_scheduled_posts_that_are_due_oldest_first(store, clock):
    now = clock.now

    def post(name, offset=None):
        at = None if offset is None else now + timedelta(hours=offset)
        return store.create_post(content=name, channel="telegram", scheduled_for=at).id

    later = post("later", 1)
    due_now = post("now", 0)
    hour_ago = post("hour ago", -1)
    two_hours_ago = post("two hours ago", -2)
    post("draft")
    store.mark_post_published(post("already out", -3))
    assert [p.id for p in store.list_due_posts()] == [two_hours_ago, hour_ago, due_now]
    assert [p.id for p in store.list_due_posts(limit=2)] == [two_hours_ago, hour_ago]
    clock.advance(hours=1)
    assert [p.id for p in store.list_due_posts()] == [two_hours_ago, hour_ago, due_now, later]
    assert [p.id for p in store.list_due_posts(now=now - timedelta(hours=1))] == [
        two_hours_ago,
        hour_ago,
    ]


def test_mark_post_published_records_when_and_where(store, clock):
    post = store.create_post(content="Hi", channel="telegram", scheduled_for=clock.now)
    clock.advance(seconds=3)
    published = store.mark_post_published(post.id, external_id="msg-123")
    assert (published.status, published.published_at, published.external_id) == (
        "published",
        clock.now,
        "msg-123",
    )
    assert store.get_post(post.id) == published
    assert store.list_due_posts() == []


def test_mark_post_failed_keeps_the_error_and_a_retry_can_publish(store, clock):
    post = store.create_post(content="Hi", channel="telegram", scheduled_for=clock.now)
    failed = store.mark_post_failed(post.id, "429 Too Many Requests")
    assert (failed.status, failed.error_message) == ("failed", "429 Too Many Requests")
    assert store.get_post(post.id) == failed
    store.schedule_post(post.id, clock.now + timedelta(minutes=1))
    published = store.mark_post_published(post.id)
    assert (published.status, published.error_message) == ("published", None)
    assert store.get_post(post.id).error_message is None


@pytest.mark.parametrize(
    "move",
    [
        lambda store, post_id: store.mark_post_failed(post_id, "too late"),
        lambda store, post_id: store.mark_post_published(post_id),
        lambda store, post_id: store.schedule_post(post_id, store.get_post(post_id).created_at),
    ],
    ids=["published-to-failed", "published-to-published", "published-to-scheduled"],
)
def test_a_published_post_cannot_change_status(store, move):
    post = store.create_post(content="Hi", channel="telegram")
    published = store.mark_post_published(post.id, external_id="m-1")
    with pytest.raises(InvalidInputError) as info:
        move(store, post.id)
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("status", "transition")
    assert store.get_post(post.id) == published


def test_an_llm_call_can_be_linked_to_a_post_and_inherits_its_agent(store, agent_id):
    post = store.create_post(content="Weekly digest", channel="telegram", agent_id=agent_id)
    call = store.record_llm_call(model="gpt-4o-mini", cost_nanos=10, post_id=post.id)
    assert (call.post_id, call.agent_id, call.conversation_id) == (post.id, agent_id, None)
    assert store.list_llm_calls(agent_id=agent_id).items == [call]
