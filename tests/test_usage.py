"""The usage ledger: model calls and their cost, retrievals, feedback and totals."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from genai_prices import Usage, calc_price

from parloir import InvalidInputError, NotFoundError, Settings, Totals

# Model calls


def test_a_call_linked_to_a_message_inherits_its_conversation_and_agent(
    store, agent_id, conversation_id
):
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    call = store.record_llm_call(model="gpt-4o-mini", message_id=message.id, cost_nanos=1)
    assert (call.message_id, call.conversation_id, call.agent_id) == (
        message.id,
        conversation_id,
        agent_id,
    )
    assert store.list_llm_calls(agent_id=agent_id).items == [call]


def test_a_call_linked_to_a_conversation_inherits_its_agent(store, agent_id, conversation_id):
    call = store.record_llm_call(model="gpt-4o-mini", conversation_id=conversation_id)
    assert (call.conversation_id, call.agent_id, call.message_id) == (
        conversation_id,
        agent_id,
        None,
    )


def test_a_call_whose_conversation_is_not_its_message_conversation_is_rejected(
    store, agent_id, conversation_id
):
    other = store.get_or_create_conversation(agent_id=agent_id, channel="web", external_id="2")
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    with pytest.raises(InvalidInputError) as info:
        store.record_llm_call(model="m", message_id=message.id, conversation_id=other.id)
    assert info.value.errors[0].field == "conversation_id"
    assert store.list_llm_calls().items == []


def test_every_call_field_round_trips(store, clock):
    call = store.record_llm_call(
        operation="embeddings",
        provider="openai",
        model="text-embedding-3-small",
        input_tokens=1200,
        output_tokens=30,
        cached_tokens=100,
        reasoning_tokens=20,
        latency_ms=842,
        cost_nanos=12_345,
        error_type="timeout",
        error_message="upstream took too long",
        idempotency_key="call-1",
        metadata={"attempt": 2, "region": "eu"},
    )
    expected = {
        "operation": "embeddings",
        "provider": "openai",
        "model": "text-embedding-3-small",
        "input_tokens": 1200,
        "output_tokens": 30,
        "cached_tokens": 100,
        "reasoning_tokens": 20,
        "latency_ms": 842,
        "cost_nanos": 12_345,
        "cost_source": "provided",
        "is_success": False,
        "error_type": "timeout",
        "error_message": "upstream took too long",
        "idempotency_key": "call-1",
        "metadata": {"attempt": 2, "region": "eu"},
        "created_at": clock.now,
        "tenant_id": store.tenant_id,
        "duplicate": False,
    }
    [stored] = store.list_llm_calls().items
    assert stored == call
    for name, value in expected.items():
        assert getattr(stored, name) == value, name


def test_a_call_without_error_succeeds_by_default(store):
    call = store.record_llm_call(model="gpt-4o-mini", cost_nanos=0)
    assert (call.is_success, call.operation, call.error_type) == (True, "chat", None)


def test_the_cost_is_computed_with_genai_prices_when_not_given(store, clock):
    call = store.record_llm_call(
        model="gpt-4o-mini",
        provider="openai",
        input_tokens=1000,
        cached_tokens=200,
        output_tokens=500,
    )
    price = calc_price(
        Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200),
        "gpt-4o-mini",
        provider_id="openai",
        genai_request_timestamp=clock.now,
    )
    nanos = Decimal(price.total_price) * Decimal(1_000_000_000)
    expected = int(nanos.to_integral_value(rounding=ROUND_HALF_EVEN))
    assert expected > 0
    assert (call.cost_nanos, call.cost_source) == (expected, "genai-prices")
    assert store.list_llm_calls().items[0].cost_nanos == expected


@pytest.mark.parametrize("cost", [0, 1, 123_456_789, 2**63 - 1], ids=["0", "1", "mid", "int64"])
def test_a_given_cost_is_kept_exactly(store, cost):
    call = store.record_llm_call(
        model="gpt-4o-mini", provider="openai", input_tokens=1000, cost_nanos=cost
    )
    assert (call.cost_nanos, call.cost_source) == (cost, "provided")
    [stored] = store.list_llm_calls().items
    assert (stored.cost_nanos, stored.cost_source) == (cost, "provided")


def test_an_unknown_model_is_left_unpriced(store):
    call = store.record_llm_call(model="my-local-llama-xyz", input_tokens=10, output_tokens=5)
    assert (call.cost_nanos, call.cost_source) == (None, "unknown")
    [stored] = store.list_llm_calls().items
    assert (stored.cost_nanos, stored.cost_source) == (None, "unknown")
    assert store.totals().unpriced_llm_calls == 1


def test_an_explicit_none_cost_is_recorded_as_unknown_and_never_priced(store):
    call = store.record_llm_call(
        model="gpt-4o-mini", provider="openai", input_tokens=1000, cost_nanos=None
    )
    assert (call.cost_nanos, call.cost_source) == (None, "unknown")


def test_more_cached_than_input_tokens_is_rejected(store):
    with pytest.raises(InvalidInputError) as info:
        store.record_llm_call(model="gpt-4o-mini", input_tokens=10, cached_tokens=11)
    assert info.value.errors[0].field == "cached_tokens"
    assert store.list_llm_calls().items == []


@pytest.mark.parametrize(
    "field", ["input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "latency_ms"]
)
def test_a_negative_token_count_is_rejected(store, field):
    with pytest.raises(InvalidInputError) as info:
        store.record_llm_call(model="gpt-4o-mini", cost_nanos=0, **{field: -1})
    assert (info.value.errors[0].field, info.value.errors[0].rule) == (field, "greater_than_equal")
    assert store.list_llm_calls().items == []


PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Ça va ?"}]
RESPONSE = {"content": "Oui 👍", "finish_reason": "stop"}


def test_prompt_and_response_are_stored(store):
    store.record_llm_call(model="gpt-4o-mini", cost_nanos=1, prompt=PROMPT, response=RESPONSE)
    [stored] = store.list_llm_calls().items
    assert (stored.prompt, stored.response) == (PROMPT, RESPONSE)


def test_prompts_are_not_stored_when_capture_is_off(make_store, database_url, clock):
    quiet = make_store(settings=Settings(database_url=database_url, capture_prompts=False))
    call = quiet.record_llm_call(
        model="gpt-4o-mini", cost_nanos=1, prompt=PROMPT, response=RESPONSE
    )
    assert (call.prompt, call.response) == (None, None)
    [stored] = quiet.list_llm_calls().items
    assert (stored.prompt, stored.response) == (None, None)


def test_a_repeated_idempotency_key_returns_the_stored_call_and_writes_nothing(store, clock):
    first = store.record_llm_call(
        model="gpt-4o-mini", input_tokens=10, cost_nanos=5, idempotency_key="turn-1"
    )
    clock.advance(seconds=5)
    again = store.record_llm_call(
        model="gpt-4o", input_tokens=999, cost_nanos=500, idempotency_key="turn-1"
    )
    assert first.duplicate is False
    assert again.duplicate is True
    assert again.model_dump(exclude={"duplicate"}) == first.model_dump(exclude={"duplicate"})
    assert [c.id for c in store.list_llm_calls().items] == [first.id]
    totals = store.totals()
    assert (totals.llm_calls, totals.input_tokens, totals.cost_nanos) == (1, 10, 5)


def test_a_call_cannot_link_to_another_tenant_rows(store, agent_id, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    post = store.create_post(content="news", channel="telegram")
    other = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    for link in ({"message_id": message.id}, {"conversation_id": conversation_id}):
        with pytest.raises(NotFoundError):
            other.record_llm_call(model="gpt-4o-mini", cost_nanos=1, **link)
    with pytest.raises(NotFoundError):
        other.record_llm_call(model="gpt-4o-mini", cost_nanos=1, post_id=post.id)
    assert other.totals().llm_calls == 0
    assert store.totals(all_tenants=True).llm_calls == 0


def test_list_llm_calls_filters_by_link_and_pages_newest_first(store, agent_id, conversation_id):
    other_agent = store.create_agent(name="other").id
    other_conv = store.get_or_create_conversation(agent_id=other_agent, channel="web").id
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    calls = [
        store.record_llm_call(model="m", cost_nanos=1, message_id=message.id),
        store.record_llm_call(model="m", cost_nanos=1, conversation_id=conversation_id),
        store.record_llm_call(model="m", cost_nanos=1, conversation_id=other_conv),
        store.record_llm_call(model="m", cost_nanos=1),
        store.record_llm_call(model="m", cost_nanos=1, agent_id=agent_id),
    ]
    ids = [c.id for c in calls]

    def listed(**filters):
        return [c.id for c in store.list_llm_calls(**filters).items]

    assert listed(conversation_id=conversation_id) == [ids[1], ids[0]]
    assert listed(message_id=message.id) == [ids[0]]
    assert listed(agent_id=agent_id) == [ids[4], ids[1], ids[0]]
    assert listed(agent_id=other_agent) == [ids[2]]
    seen, cursor, pages = [], None, 0
    while True:
        page = store.list_llm_calls(limit=2, cursor=cursor)
        seen += [c.id for c in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert (seen, pages) == (ids[::-1], 3)
    with pytest.raises(InvalidInputError):
        store.list_llm_calls(cursor="not a cursor")


# Retrievals


def test_retrievals_are_recorded_on_a_call_or_a_message(store, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="See the FAQ.")
    call = store.record_llm_call(model="m", cost_nanos=1, message_id=message.id)
    second = store.record_retrieval(
        llm_call_id=call.id, source="kb://faq/2", content_preview="Refunds…", score=0.5, rank=2
    )
    first = store.record_retrieval(
        llm_call_id=call.id,
        source="https://example.com/faq#1",
        content_preview="Shipping takes 3 days.",
        score=0.875,
        rank=1,
        metadata={"chunk": 7, "index": "faq-v2"},
    )
    on_message = store.record_retrieval(message_id=message.id, source="kb://faq/3", score=0.1)
    assert (first.source, first.content_preview, first.score, first.rank, first.metadata) == (
        "https://example.com/faq#1",
        "Shipping takes 3 days.",
        0.875,
        1,
        {"chunk": 7, "index": "faq-v2"},
    )
    assert store.list_retrievals(llm_call_id=call.id) == [first, second]
    assert store.list_retrievals(message_id=message.id) == [on_message]
    assert len(store.list_retrievals()) == 3


def test_a_retrieval_needs_a_call_or_a_message(store):
    with pytest.raises(InvalidInputError) as info:
        store.record_retrieval(source="kb://faq/1", score=0.3)
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("llm_call_id", "required")
    with pytest.raises(InvalidInputError) as info:
        store.record_retrieval(llm_call_id=uuid.uuid4(), source="kb://faq/1")
    assert info.value.errors[0].field == "llm_call_id"
    assert store.list_retrievals() == []


# Feedback


def test_feedback_accepts_every_rating_from_minus_one_to_five(store, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    for rating in range(-1, 6):
        assert store.add_feedback(message.id, rating=rating).rating == rating
    assert [f.rating for f in store.list_feedback(message_id=message.id)] == list(range(-1, 6))


def test_feedback_keeps_its_comment_and_author(store, conversation_id):
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    user = store.create_user(username="reviewer")
    contact = store.upsert_contact(channel="telegram", external_id="42")
    by_user = store.add_feedback(message.id, rating=1, comment="Spot on", user_id=user.id)
    by_contact = store.add_feedback(message.id, comment="Too long", contact_id=contact.id)
    assert (by_user.comment, by_user.user_id, by_user.contact_id) == ("Spot on", user.id, None)
    assert (by_contact.rating, by_contact.contact_id) == (None, contact.id)
    assert store.list_feedback() == [by_user, by_contact]


@pytest.mark.parametrize(
    ("fields", "rule"),
    [({"rating": 6}, "less_than_equal"), ({"rating": -2}, "greater_than_equal"), ({}, "required")],
    ids=["rating-6", "rating-minus-2", "neither-rating-nor-comment"],
)
def test_invalid_feedback_is_rejected(store, conversation_id, fields, rule):
    message = store.append_message(conversation_id, role="assistant", content="Hi!")
    with pytest.raises(InvalidInputError) as info:
        store.add_feedback(message.id, **fields)
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("rating", rule)
    assert store.list_feedback() == []


def test_feedback_on_an_unknown_message_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.add_feedback(uuid.uuid4(), rating=5)


# Totals


def _write_known_set(store, agent_id, conversation_id):
    contact = store.upsert_contact(channel="telegram", external_id="42")
    store.append_message(conversation_id, role="user", content="hello")
    store.append_message(conversation_id, role="user", content="/start now")
    answer = store.append_message(
        conversation_id, role="assistant", content="…", error_type="timeout"
    )
    store.append_message(conversation_id, role="system", content="note")
    store.record_llm_call(
        model="gpt-4o-mini",
        input_tokens=100,
        output_tokens=50,
        cached_tokens=20,
        reasoning_tokens=10,
        cost_nanos=1000,
        message_id=answer.id,
    )
    store.record_llm_call(model="gpt-4o-mini", input_tokens=5, cost_nanos=7, error_type="429")
    store.record_llm_call(model="my-local-llama-xyz", input_tokens=3, output_tokens=4)
    store.record_retrieval(message_id=answer.id, source="kb://1")
    store.add_feedback(answer.id, rating=-1, contact_id=contact.id)
    store.set_session("s", {"step": 1})
    store.record_audit_event(event_type="login")
    store.create_post(content="news", channel="telegram", agent_id=agent_id)


EXPECTED_A = Totals(
    tenants=1,
    agents=1,
    contacts=1,
    conversations=1,
    messages=4,
    user_messages=2,
    assistant_messages=1,
    commands=1,
    message_errors=1,
    llm_calls=3,
    llm_call_errors=1,
    input_tokens=108,
    output_tokens=54,
    cached_tokens=20,
    reasoning_tokens=10,
    total_tokens=162,
    cost_nanos=1007,
    unpriced_llm_calls=1,
    retrievals=1,
    feedback=1,
    sessions=1,
    audit_events=1,
    posts=1,
)


def test_totals_count_and_sum_exactly_what_was_written(store, agent_id, conversation_id):
    start = dict.fromkeys(Totals.model_fields, 0) | {"tenants": 1, "agents": 1, "conversations": 1}
    assert store.totals() == Totals(**start)
    _write_known_set(store, agent_id, conversation_id)
    assert store.totals() == EXPECTED_A


def test_totals_over_all_tenants_add_up_every_tenant(store, agent_id, conversation_id):
    _write_known_set(store, agent_id, conversation_id)
    other = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    agent_b = other.create_agent(name="b-bot").id
    conv_b = other.get_or_create_conversation(agent_id=agent_b, channel="web", external_id="9")
    other.append_message(conv_b.id, role="user", content="/help")
    other.record_llm_call(model="gpt-4o", input_tokens=40, output_tokens=2, cost_nanos=500)
    expected_b = dict.fromkeys(Totals.model_fields, 0) | {
        "tenants": 1,
        "agents": 1,
        "conversations": 1,
        "messages": 1,
        "user_messages": 1,
        "commands": 1,
        "llm_calls": 1,
        "input_tokens": 40,
        "output_tokens": 2,
        "total_tokens": 42,
        "cost_nanos": 500,
    }
    assert other.totals() == Totals(**expected_b)
    assert store.totals() == EXPECTED_A
    both = {k: v + expected_b[k] for k, v in EXPECTED_A.model_dump().items()}
    assert store.totals(all_tenants=True) == Totals(**both)
    assert other.totals(all_tenants=True) == Totals(**both)
