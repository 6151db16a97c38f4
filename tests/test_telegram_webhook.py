"""The Telegram webhook route, mounted in a minimal FastAPI app over a real store."""

from __future__ import annotations

import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from parloir.server.telegram import MAX_BODY_BYTES, router

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def count(store, table: str) -> int:
    """Rows of ``table`` in every tenant (as the owner: no tenant filter, no RLS for it)."""
    with store._shared.engines.owner.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def message_update(update_id: int, text_: str = "hello", *, chat: int = 42, mid: int = 1):
    chat_ = {"id": chat, "type": "private", "first_name": "Ada"}
    sender = {"id": chat, "is_bot": False, "first_name": "Ada"}
    body = {"message_id": mid, "date": 1_760_000_000, "chat": chat_, "from": sender, "text": text_}
    return {"update_id": update_id, "message": body}


@pytest.fixture
def app(store):
    app = FastAPI()
    app.state.store = store
    app.include_router(router)
    return app


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


@pytest.fixture
def secret(store, agent_id):
    return store.set_telegram_secret(agent_id)[0]


def url(agent_id) -> str:
    return f"/v1/telegram/{agent_id}/webhook"


def post(client, agent_id, secret, body):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    return client.post(url(agent_id), content=content, headers=headers)


def test_an_update_is_stored_and_answered_200(client, store, agent_id, secret):
    response = post(client, agent_id, secret, message_update(1, "/start"))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    (conv,) = store.list_conversations().items
    (message,) = store.last_messages(conv.id)
    assert (message.content, message.command) == ("/start", "start")


def test_a_redelivered_update_is_stored_once_with_the_same_answer(client, store, agent_id, secret):
    answers = [post(client, agent_id, secret, message_update(5)) for _ in range(3)]
    assert {(a.status_code, a.text) for a in answers} == {(200, answers[0].text)}
    assert count(store, "messages") == 1
    assert count(store, "telegram_updates") == 1


def test_concurrent_interleaved_and_repeated_deliveries_store_each_update_once(
    client, store, agent_id, secret
):
    # 12 updates over 3 chats, each sent 1 to 5 times, 40 deliveries at once.
    rng = random.Random(7)
    updates = [message_update(900 + i, f"m{i}", chat=i % 3, mid=i + 1) for i in range(12)]
    copies = [u for u in updates for _ in range(rng.randint(1, 5))]
    copies += rng.sample(updates, k=max(0, 40 - len(copies))) if len(copies) < 40 else []
    rng.shuffle(copies)
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda u: post(client, agent_id, secret, u).status_code, copies))
    assert len(copies) >= 40
    assert statuses == [200] * len(copies)
    assert count(store, "messages") == len(updates)
    assert count(store, "telegram_updates") == len(updates)
    for conv in store.list_conversations().items:
        stored = store.last_messages(conv.id)
        assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
        assert conv.message_count == len(stored)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (json.dumps({"update_id": 3, "my_chat_member": {}}).encode(), "unsupported update type"),
        (json.dumps({"update_id": 4, "message": {"text": 1}}).encode(), "message"),
        (b"x" * (MAX_BODY_BYTES + 1), "exceeds"),
    ],
)
def test_a_malformed_or_unsupported_update_is_quarantined_and_answered_200(
    client, store, agent_id, secret, body, reason
):
    response = post(client, agent_id, secret, body)
    assert (response.status_code, response.json()) == (200, {"ok": True})
    with store._shared.engines.owner.connect() as connection:
        rows = connection.execute(text("SELECT reason FROM telegram_quarantine")).all()
    assert len(rows) == 1 and reason in rows[0].reason
    assert count(store, "messages") == 0


@pytest.mark.parametrize(
    ("given", "status"),
    [(None, 401), ("", 401), ("wrong", 403), ("a" * 257, 403), ("bad chars !", 403)],
)
def test_a_bad_secret_is_refused_and_nothing_is_written(
    client, store, agent_id, secret, given, status
):
    response = post(client, agent_id, given, message_update(1))
    assert response.status_code == status
    for table in ("messages", "telegram_updates", "telegram_quarantine", "contacts"):
        assert count(store, table) == 0, table


def test_an_unknown_agent_or_one_without_a_secret_is_404(client, store, agent_id):
    assert post(client, uuid.uuid4(), "s", message_update(1)).status_code == 404
    assert post(client, agent_id, "s", message_update(1)).status_code == 404  # no secret set
    assert count(store, "telegram_updates") == 0


def test_the_agent_of_another_tenant_is_found_and_written_in_its_tenant(client, store):
    tenant_b = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    agent = tenant_b.create_agent(name="bot b")
    secret, _ = tenant_b.set_telegram_secret(agent.id)
    assert post(client, agent.id, secret, message_update(1, "to b")).status_code == 200
    assert store.list_conversations().items == []  # the app's store acts for the default tenant
    (conv,) = tenant_b.list_conversations().items
    assert [m.content for m in tenant_b.last_messages(conv.id)] == ["to b"]
