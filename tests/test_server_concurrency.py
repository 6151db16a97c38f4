"""Concurrent requests through the ASGI application: idempotency keys and login hashing."""

from __future__ import annotations

import asyncio
import threading

import httpx
from server_support import PASSWORD, build_world

from parloir.server.app import create_app
from parloir.server.settings import ServerSettings


async def _gather(app, calls):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*(call(client) for call in calls))


def test_concurrent_repeats_of_one_key_get_one_answer(store):
    world = build_world(store)
    app = create_app(store)
    before = store.totals().llm_calls
    calls = []
    for key in range(5):
        headers = {**world.headers["member"], "Idempotency-Key": f"k-{key}"}
        body = {"model": "gpt-4o-mini", "input_tokens": key}
        calls += [lambda c, h=headers, b=body: c.post("/v1/llm-calls", json=b, headers=h)] * 8
    answers = asyncio.run(_gather(app, calls))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    for key in range(5):
        group = answers[key * 8 : key * 8 + 8]
        assert len({a.content for a in group}) == 1
    assert store.totals().llm_calls == before + 5


def test_concurrent_appends_with_one_key_store_one_message(store):
    world = build_world(store)
    app = create_app(store)
    url = f"/v1/conversations/{world.ids['conversation']}/messages"
    headers = {**world.headers["bot"], "Idempotency-Key": "same"}
    body = {"role": "user", "content": "once"}
    calls = [lambda c: c.post(url, json=body, headers=headers)] * 8
    answers = asyncio.run(_gather(app, calls))
    assert len({(a.status_code, a.content) for a in answers}) == 1
    assert [m.content for m in store.last_messages(world.ids["conversation"])][-1] == "once"
    assert store.get_conversation(world.ids["conversation"]).message_count == 2


def test_password_hashing_is_bounded(store, monkeypatch):
    build_world(store)
    app = create_app(store, ServerSettings(hash_concurrency=1))
    running, peak = 0, 0
    lock = threading.Lock()
    real = type(store).authenticate

    def counting(self, username, password):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(self, username, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(type(store), "authenticate", counting)
    body = {"username": "viewer-default", "password": PASSWORD}
    calls = [lambda c: c.post("/v1/auth/login", json=body)] * 4
    answers = asyncio.run(_gather(app, calls))
    assert [a.status_code for a in answers] == [200] * 4
    assert peak == 1
