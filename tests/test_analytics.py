"""Rollups stay equal to the raw rows; statistics and views read what the raw rows say."""

from __future__ import annotations

import contextlib
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from parloir import ConflictError, NotFoundError, Store
from parloir.analytics import percentile
from parloir.db.models_analytics import LATENCY_BOUNDS_MS
from parloir.rollups import latency_column

DAY0 = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
MODELS = ("gpt-4o-mini", "gpt-4o", "no-such-model-xyz")


class World:
    """Random writes through the public API, remembering what exists."""

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.agents = [store.create_agent(name=f"agent-{i}").id for i in range(3)]
        self.conversations: list[uuid.UUID] = []
        self.messages: list[uuid.UUID] = []

    def when(self) -> datetime:
        return DAY0 + timedelta(minutes=self.rng.randrange(0, 4 * 24 * 60))

    def conversation(self) -> None:
        rng = self.rng
        conv = self.store.get_or_create_conversation(
            agent_id=rng.choice(self.agents),
            channel=rng.choice(["web", "telegram"]),
            external_id=str(rng.randrange(40)),
            created_at=self.when(),
        )
        if conv.created:
            self.conversations.append(conv.id)

    def item(self) -> dict:
        rng = self.rng
        item: dict = {
            "role": rng.choice(["user", "user", "assistant", "system", "tool"]),
            "content": rng.choice(["hello", "/start now", "/help", "fine thanks"]),
            "created_at": self.when(),
        }
        if rng.random() < 0.5:
            item["token_count"] = rng.randrange(1, 500)
        if rng.random() < 0.5:
            item["response_time_ms"] = rng.randrange(10, 5000)
        if rng.random() < 0.1:
            item["error_type"] = "timeout"
        if rng.random() < 0.3:
            item["idempotency_key"] = f"k{rng.randrange(30)}"
        return item

    def append(self) -> None:
        item = self.item()
        try:
            message = self.store.append_message(self.rng.choice(self.conversations), **item)
        except ConflictError:
            return
        if not message.duplicate:
            self.messages.append(message.id)

    def batch(self) -> None:
        items = [self.item() for _ in range(self.rng.randrange(1, 12))]
        keys = [i.get("idempotency_key") for i in items if i.get("idempotency_key")]
        if len(keys) != len(set(keys)):
            return
        try:
            stored = self.store.append_messages(self.rng.choice(self.conversations), items)
        except ConflictError:
            return
        self.messages.extend(m.id for m in stored if not m.duplicate)

    def receipt(self) -> None:
        message = self.rng.choice(self.messages)
        with contextlib.suppress(NotFoundError):
            self.store.mark_read(message, at=self.when())

    def call(self) -> None:
        rng = self.rng
        link = rng.choice(["conversation", "message", "agent", "none"])
        fields: dict = {
            "model": rng.choice(MODELS),
            "operation": rng.choice(["chat", "chat", "embedding"]),
            "input_tokens": rng.randrange(0, 3000),
            "output_tokens": rng.randrange(0, 800),
            "created_at": self.when(),
        }
        fields["cached_tokens"] = rng.randrange(0, fields["input_tokens"] + 1)
        fields["reasoning_tokens"] = rng.randrange(0, fields["output_tokens"] + 1)
        if rng.random() < 0.8:
            fields["latency_ms"] = rng.choice([5, 25, 26, 999, 1000, 10000, 10001, 40000])
        if rng.random() < 0.1:
            fields["error_type"] = "rate_limited"
        if rng.random() < 0.1:
            fields["cost_nanos"] = rng.randrange(0, 10**9)
        if link == "conversation":
            fields["conversation_id"] = rng.choice(self.conversations)
        elif link == "message":
            fields["message_id"] = rng.choice(self.messages)
        elif link == "agent":
            fields["agent_id"] = rng.choice(self.agents)
        try:
            self.store.record_llm_call(**fields)
        except Exception as error:  # a message or conversation deleted meanwhile
            assert "exists" in str(error) or isinstance(error, NotFoundError), error

    def delete_message(self) -> None:
        message = self.messages.pop(self.rng.randrange(len(self.messages)))
        with contextlib.suppress(NotFoundError):
            self.store.delete_message(message)

    def delete_conversation(self) -> None:
        conversation = self.conversations.pop(self.rng.randrange(len(self.conversations)))
        self.store.delete_conversation(conversation)

    def run(self, steps: int) -> None:
        for _ in range(5):
            self.conversation()
        actions = [
            (self.conversation, 2),
            (self.append, 10),
            (self.batch, 3),
            (self.receipt, 2),
            (self.call, 6),
            (self.delete_message, 1),
            (self.delete_conversation, 0.3),
        ]
        for _ in range(steps):
            action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
            if not self.conversations:
                self.conversation()
            elif action in (self.receipt, self.delete_message) and not self.messages:
                self.append()
            else:
                action()


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_equal_recomputation_after_random_writes(store, seed):
    World(store, seed).run(300)
    other = store.for_tenant(store.create_tenant(name="Other", slug="other").id)
    World(other, seed + 10).run(60)
    check = store.check_rollups(all_tenants=True)
    assert check.differences == []
    assert check.rows > 0
    totals = store.totals()
    overall = store.global_statistics()
    assert overall.messages == totals.messages
    assert overall.conversations == totals.conversations
    assert overall.llm_calls == totals.llm_calls
    assert overall.cost_nanos == totals.cost_nanos
    assert overall.unpriced_llm_calls == totals.unpriced_llm_calls
    assert overall.commands == totals.commands
    for conversation in store.list_conversations(limit=1000).items:
        stats = store.conversation_statistics(conversation.id)
        assert stats.message_count == len(store.last_messages(conversation.id, 1000))


def test_a_tampered_rollup_is_reported_and_rebuilt(store, database_url):
    World(store, 3).run(60)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE usage_rollups SET messages = messages + 1"))
    engine.dispose()
    check = store.check_rollups()
    assert check.differences and {d.column for d in check.differences} == {"messages"}
    rebuilt = store.check_rollups(rebuild=True)
    assert rebuilt.differences == check.differences
    assert store.check_rollups().differences == []
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE usage_totals SET cost_nanos = cost_nanos - 1"))
    engine.dispose()
    totals = store.check_rollups(rebuild=True).differences
    assert totals and all(d.day is None and d.column == "cost_nanos" for d in totals)
    assert store.check_rollups().differences == []


def _nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    bound = latency_column(ordered[rank - 1])
    index = [f"latency_le_{b}" for b in LATENCY_BOUNDS_MS].index(bound) if "le" in bound else -1
    return LATENCY_BOUNDS_MS[index]


def test_latency_percentiles_are_read_from_the_histogram(store):
    World(store, 4).run(200)
    latencies = [
        c.latency_ms for c in store.list_llm_calls(limit=1000).items if c.latency_ms is not None
    ]
    overall = store.global_statistics()
    assert sum(overall.latency_histogram) == len(latencies)
    assert overall.latency_p50_ms == _nearest_rank(latencies, 50)
    assert overall.latency_p95_ms == _nearest_rank(latencies, 95)
    assert overall.latency_p99_ms == _nearest_rank(latencies, 99)
    assert percentile([0] * (len(LATENCY_BOUNDS_MS) + 1), 50) is None


def test_daily_series_and_groups_add_up(store):
    World(store, 5).run(150)
    since, until = date(2026, 1, 9), date(2026, 1, 16)
    days = store.daily_statistics(since=since, until=until)
    assert [d.day for d in days] == [since + timedelta(days=i) for i in range(7)]
    overall = store.global_statistics(since=since, until=until)
    assert sum(d.messages for d in days) == overall.messages
    for by in ("day", "agent", "model", "channel"):
        groups = store.statistics(by, since=since, until=until)
        assert sum(g.llm_calls for g in groups) == overall.llm_calls
        assert sum(g.cost_nanos for g in groups) == overall.cost_nanos
    one = store.agent_statistics()[0]
    assert store.agent_statistics(agent_id=one.agent_id) == [one]
    assert store.global_statistics().agents == 3
    alone = store.global_statistics(agent_id=one.agent_id)
    assert (alone.agents, alone.messages) == (1, one.messages)
    assert sum(one.llm_calls_by_operation.values()) == one.llm_calls


def test_deleting_a_message_leaves_a_gap_and_exact_counters(store, conversation_id):
    first = store.append_message(conversation_id, role="user", content="one")
    second = store.append_message(conversation_id, role="assistant", content="two")
    store.record_llm_call(model="gpt-4o-mini", message_id=second.id, input_tokens=10)
    store.delete_message(second.id)
    conversation = store.get_conversation(conversation_id)
    assert conversation.message_count == 1
    assert conversation.last_message_at == first.created_at
    third = store.append_message(conversation_id, role="user", content="three")
    assert third.seq == 3
    (call,) = store.list_llm_calls().items
    assert call.message_id is None and call.conversation_id == conversation_id
    with pytest.raises(NotFoundError):
        store.delete_message(second.id)
    assert store.check_rollups().differences == []


def test_deleting_a_conversation_keeps_its_calls_in_the_ledger(store, agent_id, conversation_id):
    message = store.append_message(conversation_id, role="user", content="hi")
    store.add_feedback(message.id, rating=5)
    store.record_llm_call(model="gpt-4o-mini", conversation_id=conversation_id, input_tokens=10)
    store.delete_conversation(conversation_id)
    with pytest.raises(NotFoundError):
        store.get_conversation(conversation_id)
    (call,) = store.list_llm_calls().items
    assert call.conversation_id is None and call.agent_id == agent_id
    assert call.channel == "telegram"
    assert store.list_feedback().__len__() == 0
    (stats,) = store.agent_statistics()
    assert (stats.conversations, stats.messages, stats.llm_calls) == (0, 0, 1)
    assert stats.last_conversation_at is None
    assert store.check_rollups().differences == []


def test_recompute_costs_prices_what_is_known_and_lists_the_rest(store, database_url):
    known = store.record_llm_call(model="gpt-4o-mini", input_tokens=1000, output_tokens=100)
    unknown = store.record_llm_call(model="no-such-model-xyz", input_tokens=1000)
    engine = create_engine(database_url)
    with engine.begin() as conn:  # as if the model had been unknown at the time
        conn.execute(text("UPDATE llm_calls SET cost_nanos = NULL, cost_source = 'unknown'"))
    engine.dispose()
    store.check_rollups(rebuild=True)
    result = store.recompute_costs()
    assert result.priced == 1 and result.cost_nanos == known.cost_nanos
    assert [c.id for c in result.unknown] == [unknown.id]
    assert store.global_statistics().cost_nanos == known.cost_nanos
    assert store.global_statistics().unpriced_llm_calls == 1
    assert store.check_rollups().differences == []
    assert store.recompute_costs().priced == 0


def test_reasoning_tokens_are_priced_where_the_provider_prices_them(store):
    plain = store.record_llm_call(model="gpt-4o-mini", input_tokens=1000, output_tokens=500)
    with_reasoning = store.record_llm_call(
        model="gpt-4o-mini", input_tokens=1000, output_tokens=500, reasoning_tokens=300
    )
    # gpt-4o-mini has no reasoning price: reasoning is output, already counted in it.
    assert plain.cost_nanos == with_reasoning.cost_nanos


NAIVE_AGENT_STATISTICS = """
SELECT
    a.id as agent_id,
    a.owner_user_id as user_id,
    a.name,
    COUNT(DISTINCT c.id) as total_conversations,
    COUNT(m.id) as total_messages,
    SUM(CASE WHEN m.role = 'user' THEN 1 ELSE 0 END) as user_messages,
    SUM(CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END) as assistant_messages,
    SUM(m.token_count) as total_tokens_used,
    AVG(m.response_time_ms) as avg_response_time_ms,
    MAX(c.created_at) as last_conversation_date
FROM agents a
LEFT JOIN conversations c ON c.agent_id = a.id
LEFT JOIN messages m ON m.conversation_id = c.id
GROUP BY a.id, a.owner_user_id, a.name
"""

NAIVE_CONVERSATION_STATS = """
SELECT c.id AS conversation_id, COUNT(m.id) AS message_count, MAX(m.created_at) AS last_message_at
FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
GROUP BY c.id
"""

_VIEW = """SELECT agent_id, user_id, name, total_conversations, total_messages, user_messages,
assistant_messages, total_tokens_used, avg_response_time_ms, last_conversation_date
FROM agent_statistics"""


def _normal(row) -> tuple:
    values = list(row)
    values[8] = None if values[8] is None else round(float(values[8]), 6)
    return tuple(str(v) if isinstance(v, uuid.UUID) else v for v in values)


def test_views_return_what_the_naive_queries_return(store, database_url):
    World(store, 6).run(250)
    store.create_agent(name="idle")  # no conversations: zeros and NULLs, as the seed's join
    engine = create_engine(database_url)
    with engine.connect() as conn:
        naive = sorted(map(_normal, conn.execute(text(NAIVE_AGENT_STATISTICS))))
        view = sorted(map(_normal, conn.execute(text(_VIEW))))
        assert view == naive
        naive_c = sorted(conn.execute(text(NAIVE_CONVERSATION_STATS)).all())
        view_c = sorted(
            conn.execute(
                text(
                    "SELECT conversation_id, message_count, last_message_at FROM conversation_stats"
                )
            ).all()
        )
        assert view_c == naive_c
    engine.dispose()


def test_concurrent_writers_on_one_agent_keep_the_rollups_exact(make_store, agent_id):
    """Single appends, batches, calls and deletions at once on the same rollup rows: no
    deadlock (every write takes the daily row, then the totals row), nothing lost."""
    from tests.test_concurrency import run_together

    store = make_store()  # the real clock
    conversations = [
        store.get_or_create_conversation(agent_id=agent_id, channel="web").id for _ in range(6)
    ]

    def work(i: int) -> None:
        conversation = conversations[i]
        for n in range(15):
            if i % 3 == 0:
                store.append_message(conversation, role="user", content=f"m{n}")
            elif i % 3 == 1:
                store.append_messages(conversation, [{"role": "assistant", "content": "a"}] * 3)
            else:
                message = store.append_message(conversation, role="user", content="x")
                store.record_llm_call(model="gpt-4o-mini", message_id=message.id, latency_ms=n)
                if n % 4 == 0:
                    store.delete_message(message.id)

    run_together(len(conversations), work)
    assert store.check_rollups().differences == []
    overall = store.global_statistics()
    assert overall.messages == store.totals().messages
    assert overall.llm_calls == 30
