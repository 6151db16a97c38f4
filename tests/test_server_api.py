"""Every route of the REST API works through HTTP, on both databases."""

from __future__ import annotations

from server_support import PASSWORD, build_world, open_widget

from parloir.server.app import create_app

PROBLEM = "application/problem+json"


def test_health_and_ready(api):
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready").json()
    assert ready["status"] == "ready" and ready["revision"]


def test_login_me_logout(api, store):
    build_world(store)
    answer = api.post(
        "/v1/auth/login",
        json={"username": "owner-default", "password": PASSWORD},
        headers={"Idempotency-Key": "login-1"},  # accepted; a login has no caller to key it by
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert token.startswith("pls_") and answer.json()["user"]["role"] == "owner"
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/auth/me", headers=headers).json()["username"] == "owner-default"
    assert api.post("/v1/auth/logout", headers=headers).status_code == 204
    assert api.get("/v1/auth/me", headers=headers).status_code == 401


def test_users_agents_keys_contacts(api, store):
    w = build_world(store)
    h = w.headers["owner"]
    made = api.post("/v1/users", json={"username": "eve", "password": "12345678"}, headers=h)
    assert made.status_code == 201 and "password" not in made.text
    uid = made.json()["id"]
    assert api.get(f"/v1/users/{uid}", headers=h).json()["role"] == "member"
    assert api.patch(f"/v1/users/{uid}", json={"role": "viewer"}, headers=h).json()["role"] == (
        "viewer"
    )
    assert len(api.get("/v1/users", headers=h).json()) == 5
    agent = api.post("/v1/agents", json={"name": "a2", "temperature": 0.5}, headers=h).json()
    assert api.get(f"/v1/agents/{agent['id']}", headers=h).json()["temperature"] == 0.5
    patched = api.patch(f"/v1/agents/{agent['id']}", json={"model": "m"}, headers=h).json()
    assert patched["model"] == "m"
    assert len(api.get("/v1/agents", headers=h).json()) == 3
    key = api.post("/v1/api-keys", json={"name": "k", "agent_id": agent["id"]}, headers=h).json()
    assert key["key"].startswith("plr_") and key["scopes"] == ["bot"]
    listed = api.get("/v1/api-keys", headers=h).json()
    assert key["id"] in {k["id"] for k in listed} and key["key"] not in str(listed)
    revoked = api.post(f"/v1/api-keys/{key['id']}/revoke", headers=h).json()
    assert revoked["revoked_at"] is not None
    assert api.get("/v1/agents", headers={"Authorization": f"Bearer {key['key']}"}).status_code == (
        401
    )
    contact = api.post("/v1/contacts", json={"channel": "web", "external_id": "v1"}, headers=h)
    assert contact.status_code == 200
    cid = contact.json()["id"]
    assert api.get(f"/v1/contacts/{cid}", headers=h).json()["external_id"] == "v1"
    found = api.get("/v1/contacts", params={"channel": "web", "external_id": "v1"}, headers=h)
    assert found.json()["id"] == cid
    missing = api.get("/v1/contacts", params={"channel": "web", "external_id": "no"}, headers=h)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_conversations_and_messages(api, store):
    w = build_world(store)
    h = w.headers["member"]
    body = {"agent_id": str(w.ids["agent"]), "channel": "web", "external_id": "s1"}
    opened = api.post("/v1/conversations", json=body, headers=h)
    assert opened.status_code == 201 and opened.json()["created"] is True
    again = api.post("/v1/conversations", json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == opened.json()["id"]
    cid = opened.json()["id"]
    page = api.get("/v1/conversations", params={"limit": 2}, headers=h).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api.get("/v1/conversations", params={"cursor": page["next_cursor"]}, headers=h).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert (
        api.get("/v1/conversations", params={"channel": "web"}, headers=h).json()["items"][0]["id"]
        == cid
    )
    patched = api.patch(f"/v1/conversations/{cid}", json={"status": "archived"}, headers=h)
    assert patched.json()["status"] == "archived"
    assert api.get(f"/v1/conversations/{cid}", headers=h).json()["status"] == "archived"
    one = api.post(
        f"/v1/conversations/{cid}/messages",
        json={"role": "user", "content": "hi", "idempotency_key": "u1"},
        headers=h,
    )
    assert one.status_code == 201 and one.json()["seq"] == 1
    dup = api.post(
        f"/v1/conversations/{cid}/messages",
        json={"role": "user", "content": "hi", "idempotency_key": "u1"},
        headers=h,
    )
    assert dup.status_code == 200 and dup.json()["duplicate"] is True
    many = api.post(
        f"/v1/conversations/{cid}/messages/bulk",
        json={"items": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]},
        headers=h,
    )
    assert many.status_code == 201 and [m["seq"] for m in many.json()] == [2, 3]
    listed = api.get(f"/v1/conversations/{cid}/messages", headers=h).json()
    assert [m["content"] for m in listed] == ["hi", "a", "b"]
    after = api.get(f"/v1/conversations/{cid}/messages", params={"after_seq": 1}, headers=h)
    assert [m["seq"] for m in after.json()] == [2, 3]
    mid = one.json()["id"]
    assert api.get(f"/v1/messages/{mid}", headers=h).json()["content"] == "hi"
    assert api.post(f"/v1/messages/{mid}/delivered", headers=h).json()["delivered_at"]
    read = api.post(f"/v1/messages/{mid}/read", json={"at": "2026-01-15T12:00:01Z"}, headers=h)
    assert read.json()["read_at"].startswith("2026-01-15T12:00:01")
    context = api.get(f"/v1/conversations/{cid}/context", headers=h).json()
    assert context[0]["role"] == "system" and context[-1] == {"role": "user", "content": "b"}


def test_ledger_sessions_posts_audit_stats(api, store):
    w = build_world(store)
    h = w.headers["member"]
    call = api.post(
        "/v1/llm-calls",
        json={
            "model": "gpt-4o-mini",
            "input_tokens": 100,
            "output_tokens": 5,
            "idempotency_key": "c1",
        },
        headers=h,
    )
    assert call.status_code == 201 and call.json()["cost_nanos"] > 0
    again = api.post(
        "/v1/llm-calls",
        json={
            "model": "gpt-4o-mini",
            "input_tokens": 100,
            "output_tokens": 5,
            "idempotency_key": "c1",
        },
        headers=h,
    )
    assert again.status_code == 200 and again.json()["id"] == call.json()["id"]
    call_id = call.json()["id"]
    assert api.get(f"/v1/llm-calls/{call_id}", headers=h).json()["model"] == "gpt-4o-mini"
    assert len(api.get("/v1/llm-calls", headers=h).json()["items"]) == 2
    ret = api.post("/v1/retrievals", json={"llm_call_id": call_id, "score": 0.5}, headers=h)
    assert ret.status_code == 201
    listed = api.get("/v1/retrievals", params={"llm_call_id": call_id}, headers=h).json()
    assert [r["id"] for r in listed] == [ret.json()["id"]]
    mid = str(w.ids["message"])
    fb = api.post("/v1/feedback", json={"message_id": mid, "rating": 4}, headers=h)
    assert fb.status_code == 201
    assert len(api.get("/v1/feedback", params={"message_id": mid}, headers=h).json()) == 2
    put = api.put("/v1/sessions/k1", json={"context": {"a": 1}, "ttl_seconds": 60}, headers=h)
    assert put.status_code == 200 and put.json()["context"] == {"a": 1}
    assert api.get("/v1/sessions/k1", headers=h).json()["context"] == {"a": 1}
    assert api.delete("/v1/sessions/k1", headers=h).status_code == 204
    assert api.get("/v1/sessions/k1", headers=h).status_code == 404
    assert api.delete("/v1/sessions/k1", headers=h).status_code == 404
    post = api.post("/v1/posts", json={"content": "c", "channel": "linkedin"}, headers=h).json()
    pid = post["id"]
    assert api.get(f"/v1/posts/{pid}", headers=h).json()["status"] == "draft"
    sched = api.post(f"/v1/posts/{pid}/schedule", json={"at": "2026-02-01T00:00:00Z"}, headers=h)
    assert sched.json()["status"] == "scheduled"
    assert api.post(f"/v1/posts/{pid}/published", json={}, headers=h).json()["status"] == (
        "published"
    )
    again = api.post(f"/v1/posts/{pid}/failed", json={"error": "x"}, headers=h)
    assert again.status_code == 422 and again.json()["errors"][0]["rule"] == "transition"
    second = api.post("/v1/posts", json={"content": "d", "channel": "x"}, headers=h).json()
    failed = api.post(f"/v1/posts/{second['id']}/failed", json={"error": "x"}, headers=h)
    assert failed.json()["status"] == "failed"
    assert len(api.get("/v1/posts", params={"status": "failed"}, headers=h).json()["items"]) == 1
    totals = api.get("/v1/stats/totals", headers=h).json()
    assert totals["llm_calls"] == 2 and totals["posts"] == 3
    events = api.get("/v1/audit-events", params={"event_type": "post.fail"}, headers=h).json()
    assert events["items"][0]["subject_id"] == second["id"]


def test_every_change_is_audited_with_the_request_id(api, store):
    w = build_world(store)
    h = {**w.headers["member"], "X-Request-ID": "trace-42"}
    cid = w.ids["conversation"]
    made = api.post(
        f"/v1/conversations/{cid}/messages", json={"role": "user", "content": "x"}, headers=h
    )
    assert made.headers["x-request-id"] == "trace-42"
    events = api.get(
        "/v1/audit-events", params={"correlation_id": "trace-42"}, headers=w.headers["owner"]
    ).json()["items"]
    assert len(events) == 1
    event = events[0]
    assert event["event_type"] == "message.create"
    assert event["actor"] == f"user:{w.ids['user_member']}"
    assert event["subject_id"] == made.json()["id"]
    weird = api.get("/health", headers={"X-Request-ID": "no spaces allowed"})
    assert weird.headers["x-request-id"] != "no spaces allowed"
    assert len(api.get("/health").headers["x-request-id"]) == 32


def test_batch_answers_per_item(api, store):
    w = build_world(store)
    h = w.headers["member"]
    cid = str(w.ids["conversation"])
    items = [
        {
            "type": "message",
            "conversation_id": cid,
            "body": {"role": "user", "content": f"m{i}", "idempotency_key": f"b{i}"},
        }
        for i in range(97)
    ]
    items.append(
        {
            "type": "message",
            "conversation_id": cid,
            "body": {"role": "user", "content": "bad\u0000"},
        }
    )
    items.append({"type": "llm_call", "body": {"model": "m", "input_tokens": -1}})
    items.append({"type": "feedback", "message_id": str(w.ids["message"]), "body": {"rating": 9}})
    answer = api.post("/v1/batch", json={"items": items}, headers=h)
    assert answer.status_code == 207
    data = answer.json()
    assert (data["created"], data["duplicates"], data["failed"]) == (97, 0, 3)
    statuses = [r["status"] for r in data["results"]]
    assert statuses == [201] * 97 + [422, 422, 422]
    bad = data["results"][97]["problem"]["errors"][0]
    assert (bad["field"], bad["rule"]) == ("body.content", "no_nul")
    assert data["results"][97]["record"] is None and data["results"][0]["problem"] is None
    first = data["results"][0]["record"]
    assert first == api.get(f"/v1/messages/{first['id']}", headers=h).json()
    assert (first["seq"], first["duplicate"]) == (2, False)  # after the world's one message
    before = store.totals().messages
    again = api.post("/v1/batch", json={"items": items}, headers=h).json()
    assert (again["created"], again["duplicates"], again["failed"]) == (0, 97, 3)
    assert again["results"][0]["record"] == {**first, "duplicate": True}
    assert store.totals().messages == before
    mixed = [
        {"type": "llm_call", "body": {"model": "gpt-4o-mini", "input_tokens": 3}},
        {"type": "retrieval", "body": {"message_id": str(w.ids["message"]), "source": "s"}},
        {"type": "feedback", "conversation_id": cid, "body": {"rating": 1}},
        {
            "type": "message",
            "conversation_id": str(w.ids["agent"]),
            "body": {"role": "user", "content": "to nowhere"},
        },
    ]
    result = api.post("/v1/batch", json={"items": mixed}, headers=h).json()
    assert [r["status"] for r in result["results"]] == [201, 201, 201, 404]


def test_batch_envelope_and_size(api, store):
    w = build_world(store)
    h = w.headers["member"]
    assert api.post("/v1/batch", json={"batch": []}, headers=h).status_code == 400
    assert (
        api.post("/v1/batch", json={"items": [{"type": "nope", "body": {}}]}, headers=h).status_code
        == 400
    )
    assert api.post("/v1/batch", json=[1, 2], headers=h).status_code == 400
    too_many = [{"type": "llm_call", "body": {"model": "m"}}] * 1001
    big = api.post("/v1/batch", json={"items": too_many}, headers=h)
    assert big.status_code == 413 and big.json()["code"] == "too_many_items"
    assert store.totals().llm_calls == 1


def test_idempotency_key_replays_the_first_answer(api, store):
    w = build_world(store)
    h = {**w.headers["member"], "Idempotency-Key": "same"}
    body = {"model": "gpt-4o-mini", "input_tokens": 7}
    first = api.post("/v1/llm-calls", json=body, headers=h)
    second = api.post("/v1/llm-calls", json=body, headers=h)
    assert (first.status_code, first.content) == (second.status_code, second.content)
    assert second.headers["idempotent-replayed"] == "true"
    assert store.totals().llm_calls == 2  # the world's one, and this one
    other = api.post("/v1/llm-calls", json={**body, "input_tokens": 8}, headers=h)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    by_other_caller = api.post(
        "/v1/llm-calls", json=body, headers={**w.headers["admin"], "Idempotency-Key": "same"}
    )
    assert by_other_caller.status_code == 201 and by_other_caller.json()["id"] != first.json()["id"]
    assert (
        api.post(
            "/v1/llm-calls", json=body, headers={**h, "Idempotency-Key": "bad key"}
        ).status_code
        == 400
    )
    failed = api.post("/v1/llm-calls", json={"model": ""}, headers={**h, "Idempotency-Key": "e"})
    assert failed.status_code == 422
    retried = api.post("/v1/llm-calls", json={"model": ""}, headers={**h, "Idempotency-Key": "e"})
    assert retried.status_code == 422


def test_idempotency_records_expire(api, store, clock):
    w = build_world(store)
    h = {**w.headers["member"], "Idempotency-Key": "k"}
    api.post("/v1/llm-calls", json={"model": "m"}, headers=h)
    clock.advance(hours=25)
    assert store.purge_expired_credentials() >= 1
    fresh = api.post("/v1/llm-calls", json={"model": "m"}, headers=h)
    assert fresh.status_code == 401  # the world's tokens expired too
    assert store.totals().llm_calls == 2


def test_widget_flow(api, store):
    w = build_world(store)
    cid, token = open_widget(api, w)
    wh = w.headers["widget"]
    sent = api.post(
        f"/v1/widget/conversations/{cid}/messages",
        json={"content": "hello"},
        headers={**wh, "X-Conversation-Token": token},
    )
    assert sent.status_code == 201 and sent.json()["role"] == "user"
    wrong = api.post(
        f"/v1/widget/conversations/{cid}/messages",
        json={"content": "x"},
        headers={**wh, "X-Conversation-Token": token + "x"},
    )
    assert wrong.status_code == 404
    theirs = api.post(
        f"/v1/widget/conversations/{w.ids['conversation']}/messages",
        json={"content": "x"},
        headers={**wh, "X-Conversation-Token": token},
    )
    assert theirs.status_code == 404
    assert (
        api.post(
            f"/v1/widget/conversations/{cid}/messages",
            json={"content": "x", "role": "assistant"},
            headers={**wh, "X-Conversation-Token": token},
        ).status_code
        == 422
    )
    assert api.get(f"/v1/conversations/{cid}", headers=wh).status_code == 403


def test_docs_and_openapi(api):
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "Problem" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/health",):
                continue
            assert "422" in operation["responses"], (method, path)
            content = operation["responses"]["422"]["content"]
            assert "application/problem+json" in content, (method, path)
    assert api.get("/docs").status_code == 200


def test_docs_can_be_disabled(store):
    from fastapi.testclient import TestClient

    from parloir.server.settings import ServerSettings

    client = TestClient(create_app(store, ServerSettings(docs_enabled=False)))
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
