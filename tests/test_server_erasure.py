"""Erasure and retention through the REST API, on both databases."""

from __future__ import annotations

from datetime import timedelta

from server_support import bearer, build_world


def test_an_owner_erases_a_contact(api, store):
    w = build_world(store)
    contact, conv, message = w.ids["contact"], w.ids["conversation"], w.ids["message"]
    h = {**w.headers["owner"], "X-Request-ID": "erase-7", "Idempotency-Key": "e1"}
    answer = api.post(f"/v1/contacts/{contact}/erase", json={"reason": "art. 17"}, headers=h)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["contact_id"] == str(contact) and report["already_erased"] is False
    assert (report["conversations"], report["messages"], report["feedback"]) == (1, 1, 1)
    assert report["llm_calls_scrubbed"] == 1 and report["compaction"]["steps"]
    owner = w.headers["owner"]
    assert api.get(f"/v1/conversations/{conv}", headers=owner).status_code == 404
    assert api.get(f"/v1/messages/{message}", headers=owner).status_code == 404
    assert api.get(f"/v1/contacts/{contact}", headers=owner).status_code == 404
    assert store.search("hello").items == []
    assert store.get_llm_call(w.ids["llm_call"]).prompt is None
    events = api.get(
        "/v1/audit-events", params={"correlation_id": "erase-7"}, headers=owner
    ).json()["items"]
    assert [(e["event_type"], e["subject_id"]) for e in events] == [
        ("contact.erased", report["journal_id"])
    ]
    assert events[0]["actor"] == f"user:{w.ids['user_owner']}"
    assert events[0]["metadata"]["reason"] == "art. 17"
    assert store.settings.erasure_journal_path.read_text().count(report["journal_id"]) == 1
    replayed = api.post(f"/v1/contacts/{contact}/erase", json={"reason": "art. 17"}, headers=h)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == report
    again = api.post(f"/v1/contacts/{contact}/erase", headers=owner).json()
    assert again["already_erased"] is True and again["journal_id"] == report["journal_id"]
    assert again["compaction"] is None


def test_only_an_owner_erases(api, store):
    w = build_world(store)
    path = f"/v1/contacts/{w.ids['contact']}/erase"
    for role in ("admin", "member", "viewer", "bot", "widget"):
        answer = api.post(path, json={}, headers=w.headers[role])
        assert answer.status_code == 403, role
        assert answer.headers["content-type"] == "application/problem+json"
    owner = w.headers["owner"]
    unknown = api.post(f"/v1/contacts/{w.ids['agent']}/erase", headers=owner)
    assert unknown.status_code == 404
    extra = api.post(path, json={"reason": "x", "actor": "me"}, headers=owner)
    assert extra.status_code == 422 and extra.json()["errors"][0]["rule"] == "unknown_field"
    long = api.post(path, json={"reason": "x" * 1001}, headers=owner)
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "reason"
    for bad in ({"reason": "a\u0000b"}, ["reason"], "reason", {"reason": 7}):
        assert api.post(path, json=bad, headers=owner).status_code == 422, bad
    assert api.get(f"/v1/contacts/{w.ids['contact']}", headers=owner).status_code == 200
    kept = api.post(path, params={"compact": "false"}, headers=owner).json()
    assert kept["conversations"] == 1 and kept["compaction"] is None


def test_retention_policies_and_runs(api, store, clock):
    w = build_world(store)
    agent = w.ids["agent"]
    admin = w.headers["admin"]
    path = f"/v1/agents/{agent}/retention"
    assert api.get(path, headers=admin).json() == {"agent_id": str(agent), "policy": None}
    made = api.put(path, json={"delete_after_days": 30}, headers=admin)
    assert made.status_code == 200, made.text
    assert made.json()["policy"]["delete_after_days"] == 30
    assert made.json()["policy"]["drop_content_after_days"] is None
    assert api.get(path, headers=admin).json() == made.json()
    listed = api.get("/v1/retention/policies", headers=admin).json()
    assert [p["agent_id"] for p in listed] == [str(agent)]
    clock.advance(days=31)
    owner = bearer(store.create_login_token(w.ids["user_owner"], timedelta(hours=1)).token)
    dry = api.post("/v1/retention/apply", params={"dry_run": "true"}, headers=owner).json()
    assert (dry["dry_run"], dry["conversations_deleted"], dry["messages_deleted"]) == (True, 1, 1)
    assert store.get_conversation(w.ids["conversation"]).message_count == 1
    done = api.post("/v1/retention/apply", headers={**owner, "X-Request-ID": "retention-1"}).json()
    assert (done["dry_run"], done["conversations_deleted"]) == (False, 1)
    assert api.get(f"/v1/conversations/{w.ids['conversation']}", headers=owner).status_code == 404
    events = api.get(
        "/v1/audit-events", params={"correlation_id": "retention-1"}, headers=owner
    ).json()["items"]
    assert [e["event_type"] for e in events] == ["retention.apply"]
    removed = api.put(path, json={}, headers=owner)
    assert removed.json() == {"agent_id": str(agent), "policy": None}


def test_retention_rejects_bad_input_and_callers(api, store):
    w = build_world(store)
    admin = w.headers["admin"]
    path = f"/v1/agents/{w.ids['agent']}/retention"
    for body in ({"delete_after_days": 0}, {"delete_after_days": "3"}, {"keep": 1}):
        answer = api.put(path, json=body, headers=admin)
        assert answer.status_code == 422, body
    assert api.get(path, headers=admin).json()["policy"] is None
    missing = f"/v1/agents/{w.ids['contact']}/retention"
    assert api.put(missing, json={"delete_after_days": 3}, headers=admin).status_code == 404
    assert api.get(missing, headers=admin).status_code == 404
    assert api.get(path, headers=w.headers["member"]).status_code == 403
    assert api.post("/v1/retention/apply", headers=admin).status_code == 403
    assert api.put(path, json={}, headers=w.headers["bot"]).status_code == 403
