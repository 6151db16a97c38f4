"""Authentication and authorization: every role against every route, keys, logins."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from server_support import PASSWORD, build_world, open_widget

from parloir.accounts import hash_password
from parloir.server.app import create_app

USERS = {"owner", "admin", "member", "viewer"}
WRITERS = {"owner", "admin", "member"}
ADMINS = {"owner", "admin"}
BOT = {"bot"}
PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("POST", "/v1/auth/login")}
WEBHOOK = {("POST", "/v1/telegram/{agent_id}/webhook")}  # its secret: test_telegram_webhook.py
OWN_TOKEN = {("POST", "/v1/auth/logout")}  # revokes the caller's token: tested on its own
_names = itertools.count()


def _unique() -> str:
    return f"n{next(_names)}"


# (method, path, body, roles allowed). Paths use the world's ids by name.
MATRIX = [
    ("GET", "/v1/auth/me", None, USERS),
    ("GET", "/v1/users", None, USERS),
    ("POST", "/v1/users", lambda w: {"username": _unique(), "password": "12345678"}, ADMINS),
    ("GET", "/v1/users/{user_viewer}", None, USERS),
    ("PATCH", "/v1/users/{user_viewer}", lambda w: {"email": "v@example.org"}, ADMINS),
    ("GET", "/v1/agents", None, USERS),
    ("POST", "/v1/agents", lambda w: {"name": _unique()}, ADMINS),
    ("GET", "/v1/agents/{agent}", None, USERS),
    ("PATCH", "/v1/agents/{agent}", lambda w: {"model": "gpt-4o"}, ADMINS),
    ("GET", "/v1/api-keys", None, ADMINS),
    (
        "POST",
        "/v1/api-keys",
        lambda w: {"name": "k", "agent_id": str(w.ids["other_agent"])},
        ADMINS,
    ),
    ("POST", "/v1/api-keys/{spare_key}/revoke", None, ADMINS),
    ("POST", "/v1/contacts", lambda w: {"channel": "web", "external_id": _unique()}, WRITERS),
    ("GET", "/v1/contacts?channel=telegram&external_id=x", None, USERS),
    ("GET", "/v1/contacts/{contact}", None, USERS),
    (
        "POST",
        "/v1/conversations",
        lambda w: {"agent_id": str(w.ids["agent"]), "channel": "web", "external_id": _unique()},
        WRITERS | BOT,
    ),
    ("GET", "/v1/conversations", None, USERS | BOT),
    ("GET", "/v1/conversations/{conversation}", None, USERS | BOT),
    ("PATCH", "/v1/conversations/{conversation}", lambda w: {"title": "t"}, WRITERS | BOT),
    ("GET", "/v1/conversations/{conversation}/context", None, USERS | BOT),
    (
        "POST",
        "/v1/conversations/{conversation}/messages",
        lambda w: {"role": "user", "content": "x"},
        WRITERS | BOT,
    ),
    (
        "POST",
        "/v1/conversations/{conversation}/messages/bulk",
        lambda w: {"items": [{"role": "user", "content": "x"}]},
        WRITERS | BOT,
    ),
    ("GET", "/v1/conversations/{conversation}/messages", None, USERS | BOT),
    ("GET", "/v1/messages/{message}", None, USERS | BOT),
    ("POST", "/v1/messages/{message}/delivered", None, WRITERS | BOT),
    ("POST", "/v1/messages/{message}/read", None, WRITERS | BOT),
    ("POST", "/v1/llm-calls", lambda w: {"model": "gpt-4o-mini"}, WRITERS | BOT),
    ("GET", "/v1/llm-calls", None, USERS | BOT),
    ("GET", "/v1/llm-calls/{llm_call}", None, USERS | BOT),
    ("POST", "/v1/retrievals", lambda w: {"llm_call_id": str(w.ids["llm_call"])}, WRITERS | BOT),
    ("GET", "/v1/retrievals?llm_call_id={llm_call}", None, USERS | BOT),
    (
        "POST",
        "/v1/feedback",
        lambda w: {"message_id": str(w.ids["message"]), "rating": 1},
        WRITERS | BOT,
    ),
    ("GET", "/v1/feedback?message_id={message}", None, USERS | BOT),
    ("GET", "/v1/stats/totals", None, USERS),
    ("GET", "/v1/stats/agents?agent_id={agent}", None, USERS | BOT),
    (
        "GET",
        "/v1/stats/daily?agent_id={agent}&since=2026-01-01&until=2026-02-01",
        None,
        USERS | BOT,
    ),
    ("GET", "/v1/stats?by=channel&agent_id={agent}", None, USERS | BOT),
    ("GET", "/v1/stats/global?agent_id={agent}", None, USERS | BOT),
    ("GET", "/v1/conversations/{conversation}/stats", None, USERS | BOT),
    ("GET", "/v1/search?q=hello&agent_id={agent}&contact_id={contact}", None, USERS | BOT),
    ("PUT", "/v1/sessions/m", lambda w: {"context": [1]}, WRITERS | BOT),
    ("GET", "/v1/sessions/{session}", None, USERS | BOT),
    ("DELETE", "/v1/sessions/{session}", None, WRITERS | BOT),
    ("POST", "/v1/posts", lambda w: {"content": "p", "channel": "x"}, WRITERS),
    ("GET", "/v1/posts", None, USERS),
    ("GET", "/v1/posts/{post}", None, USERS),
    ("POST", "/v1/posts/{post}/schedule", lambda w: {"at": "2027-01-01T00:00:00Z"}, WRITERS),
    ("POST", "/v1/posts/{post}/published", lambda w: {}, WRITERS),
    ("POST", "/v1/posts/{post}/failed", lambda w: {"error": "e"}, WRITERS),
    ("GET", "/v1/audit-events", None, USERS),
    ("POST", "/v1/contacts/{spare_contact}/erase", None, {"owner"}),  # its body is optional
    ("GET", "/v1/agents/{agent}/retention", None, ADMINS),
    ("PUT", "/v1/agents/{agent}/retention", lambda w: {"delete_after_days": 36500}, ADMINS),
    ("GET", "/v1/retention/policies", None, ADMINS),
    ("POST", "/v1/retention/apply?dry_run=true", None, {"owner"}),
    (
        "POST",
        "/v1/batch",
        lambda w: {"items": [{"type": "llm_call", "body": {"model": "m"}}]},
        WRITERS | BOT,
    ),
    ("POST", "/v1/widget/conversations", lambda w: {}, {"widget"}),
    (
        "POST",
        "/v1/widget/conversations/{conversation}/messages",
        lambda w: {"content": "x"},
        {"widget"},
    ),
]


def test_the_matrix_covers_every_operation(api):
    spec = api.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    names = {
        "{user_viewer}": "{user_id}",
        "{agent}": "{agent_id}",
        "{spare_key}": "{key_id}",
        "{contact}": "{contact_id}",
        "{spare_contact}": "{contact_id}",
        "{conversation}": "{conversation_id}",
        "{message}": "{message_id}",
        "{llm_call}": "{llm_call_id}",
        "{session}": "{key}",
        "{post}": "{post_id}",
        "/sessions/m": "/sessions/{key}",
    }
    covered = set()
    for method, path, _, _ in MATRIX:
        path = path.split("?")[0]
        for old, new in names.items():
            path = path.replace(old, new)
        covered.add((method, path))
    assert documented - PUBLIC - OWN_TOKEN - WEBHOOK == covered


def _call(api, world, method, path, body, headers):
    url = path.format(**world.ids)
    payload = body(world) if body else None
    headers = {**headers, "X-Conversation-Token": "plw_wrong"}
    return api.request(method, url, json=payload, headers=headers)


def test_every_role_against_every_route(api, store):
    world = build_world(store)
    roles = ["owner", "admin", "member", "viewer", "bot", "widget"]
    wrong = []
    for (method, path, body, allowed), role in itertools.product(MATRIX, roles):
        answer = _call(api, world, method, path, body, world.headers[role])
        assert answer.status_code < 500, (method, path, role, answer.text)
        permitted = answer.status_code not in (401, 403)
        if permitted != (role in allowed):
            wrong.append((method, path, role, answer.status_code, answer.text[:200]))
        if not permitted:
            assert answer.headers["content-type"] == "application/problem+json"
    assert wrong == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer pls_nope"},
        {"Authorization": "Bearer plr_abc_def"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer " + "x" * 10_000},
    ],
)
def test_no_or_bad_credentials_answer_401_everywhere(api, store, headers):
    world = build_world(store)
    for method, path, body, _ in MATRIX:
        answer = _call(api, world, method, path, body, headers)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"


def test_duplicate_authorization_headers_are_refused(api, store):
    world = build_world(store)
    token = world.headers["owner"]["Authorization"]
    answer = api.get("/v1/users", headers=[("Authorization", token), ("Authorization", token)])
    assert answer.status_code == 401


def test_a_bot_key_sees_only_its_agent(api, store):
    w = build_world(store)
    h = w.headers["bot"]
    other_conv, other_msg = w.ids["other_conversation"], w.ids["other_message"]
    assert api.get(f"/v1/conversations/{other_conv}", headers=h).status_code == 404
    assert api.get(f"/v1/conversations/{other_conv}/messages", headers=h).status_code == 404
    assert (
        api.post(
            f"/v1/conversations/{other_conv}/messages",
            json={"role": "user", "content": "x"},
            headers=h,
        ).status_code
        == 404
    )
    assert api.get(f"/v1/messages/{other_msg}", headers=h).status_code == 404
    assert api.post(f"/v1/messages/{other_msg}/read", headers=h).status_code == 404
    listed = api.get("/v1/conversations", headers=h).json()["items"]
    assert {c["id"] for c in listed} == {str(w.ids["conversation"])}
    other_agent = str(w.ids["other_agent"])
    assert (
        api.get("/v1/conversations", params={"agent_id": other_agent}, headers=h).status_code == 404
    )
    opened = api.post(
        "/v1/conversations", json={"agent_id": other_agent, "channel": "web"}, headers=h
    )
    assert opened.status_code == 422
    call = api.post("/v1/llm-calls", json={"model": "m"}, headers=h).json()
    assert call["agent_id"] == str(w.ids["agent"])
    assert (
        api.post(
            "/v1/llm-calls", json={"model": "m", "agent_id": other_agent}, headers=h
        ).status_code
        == 422
    )
    assert (
        api.post(
            "/v1/llm-calls", json={"model": "m", "conversation_id": str(other_conv)}, headers=h
        ).status_code
        == 422
    )
    assert (
        api.post("/v1/feedback", json={"message_id": str(other_msg)}, headers=h).status_code == 422
    )
    assert api.get("/v1/feedback", headers=h).status_code == 422
    batch = {
        "items": [
            {
                "type": "message",
                "conversation_id": str(other_conv),
                "body": {"role": "user", "content": "x"},
            }
        ]
    }
    assert api.post("/v1/batch", json=batch, headers=h).json()["results"][0]["status"] == 404
    assert (
        api.post(
            "/v1/api-keys", json={"name": "k", "agent_id": str(w.ids["agent"])}, headers=h
        ).status_code
        == 403
    )


def test_bot_sessions_live_in_their_agent_namespace(api, store):
    w = build_world(store)
    put = api.put("/v1/sessions/state", json={"context": 1}, headers=w.headers["bot"])
    assert put.json()["key"] == "state"
    assert api.get("/v1/sessions/state", headers=w.headers["bot"]).json()["context"] == 1
    assert api.get("/v1/sessions/state", headers=w.headers["owner"]).status_code == 404
    stored = api.get(f"/v1/sessions/agent:{w.ids['agent']}:state", headers=w.headers["owner"])
    assert stored.json()["context"] == 1
    assert api.get(f"/v1/sessions/{w.ids['session']}", headers=w.headers["bot"]).status_code == 404


def test_only_an_owner_grants_or_changes_the_owner_role(api, store):
    w = build_world(store)
    admin = w.headers["admin"]
    made = api.post(
        "/v1/users", json={"username": "o2", "password": "12345678", "role": "owner"}, headers=admin
    )
    assert made.status_code == 403
    owner_id = w.ids["user_owner"]
    assert (
        api.patch(f"/v1/users/{owner_id}", json={"is_active": False}, headers=admin).status_code
        == 403
    )
    assert (
        api.patch(
            f"/v1/users/{w.ids['user_member']}", json={"role": "owner"}, headers=admin
        ).status_code
        == 403
    )
    assert (
        api.patch(
            f"/v1/users/{w.ids['user_member']}", json={"role": "owner"}, headers=w.headers["owner"]
        ).json()["role"]
        == "owner"
    )


def test_revoked_and_expired_credentials_stop_at_once(api, store, clock):
    w = build_world(store)
    owner = w.headers["owner"]
    assert api.get("/v1/conversations", headers=w.headers["bot"]).status_code == 200
    api.post(f"/v1/api-keys/{w.ids['bot_key']}/revoke", headers=owner)
    for _ in range(20):
        assert api.get("/v1/conversations", headers=w.headers["bot"]).status_code == 401
    assert api.get("/v1/users", headers=owner).status_code == 200
    clock.advance(hours=1, seconds=1)
    assert api.get("/v1/users", headers=owner).status_code == 401


def test_a_deactivated_user_loses_access(api, store):
    w = build_world(store)
    api.patch(
        f"/v1/users/{w.ids['user_member']}", json={"is_active": False}, headers=w.headers["owner"]
    )
    assert api.get("/v1/users", headers=w.headers["member"]).status_code == 401


def test_logout_revokes_only_that_token(api, store):
    w = build_world(store)
    first = api.post("/v1/auth/login", json={"username": "viewer-default", "password": PASSWORD})
    token = {"Authorization": "Bearer " + first.json()["token"]}
    assert api.post("/v1/auth/logout", headers=token).status_code == 204
    assert api.get("/v1/auth/me", headers=token).status_code == 401
    assert api.get("/v1/auth/me", headers=w.headers["viewer"]).status_code == 200
    assert api.post("/v1/auth/logout", headers=w.headers["bot"]).status_code == 403


def test_login_names_a_tenant_or_the_default_one(api, store):
    build_world(store)
    build_world(store, "acme")
    in_acme = api.post(
        "/v1/auth/login", json={"username": "owner-acme", "password": PASSWORD, "tenant": "acme"}
    )
    assert in_acme.status_code == 200
    assert in_acme.json()["user"]["tenant_id"] != str(store.tenant_id)
    wrong_tenant = api.post("/v1/auth/login", json={"username": "owner-acme", "password": PASSWORD})
    assert wrong_tenant.status_code == 401
    unknown = api.post(
        "/v1/auth/login", json={"username": "owner-acme", "password": PASSWORD, "tenant": "nope"}
    )
    assert unknown.status_code == 401


def test_unknown_user_and_wrong_password_look_the_same(api, store):
    build_world(store)
    a = api.post("/v1/auth/login", json={"username": "owner-default", "password": "wrong!!!"})
    b = api.post("/v1/auth/login", json={"username": "nobody", "password": "wrong!!!"})
    assert a.status_code == b.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(a) == strip(b)


def test_failed_logins_are_limited_per_user(api, store):
    build_world(store)
    for _ in range(10):
        bad = api.post("/v1/auth/login", json={"username": "member-default", "password": "nope"})
        assert bad.status_code == 401
    locked = api.post("/v1/auth/login", json={"username": "member-default", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    other = api.post("/v1/auth/login", json={"username": "viewer-default", "password": PASSWORD})
    assert other.status_code == 200


def test_failed_logins_are_limited_per_address(store):
    from fastapi.testclient import TestClient

    from parloir.server.settings import ServerSettings

    build_world(store)
    settings = ServerSettings(login_max_failures_per_address=3)
    client = TestClient(create_app(store, settings))
    for n in range(3):
        client.post("/v1/auth/login", json={"username": f"u{n}", "password": "nope"})
    answer = client.post("/v1/auth/login", json={"username": "owner-default", "password": PASSWORD})
    assert answer.status_code == 429


def test_login_upgrades_weak_hashes(api, store):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("12345678")
    store.create_user(username="old", password_hash=weak)
    assert (
        api.post("/v1/auth/login", json={"username": "old", "password": "12345678"}).status_code
        == 200
    )
    token = store.create_login_token(store.list_users()[0].id, timedelta(minutes=1))
    assert token.token.startswith("pls_")
    assert (
        api.post("/v1/auth/login", json={"username": "old", "password": "x" * 2000}).status_code
        == 422
    )


def test_widget_token_works_only_for_its_conversation(api, store):
    w = build_world(store)
    first, token = open_widget(api, w)
    second, _ = open_widget(api, w)
    wh = {**w.headers["widget"], "X-Conversation-Token": token}
    assert (
        api.post(
            f"/v1/widget/conversations/{second}/messages", json={"content": "x"}, headers=wh
        ).status_code
        == 404
    )
    assert (
        api.post(
            f"/v1/widget/conversations/{first}/messages", json={"content": "x"}, headers=wh
        ).status_code
        == 201
    )
    assert hash_password  # the world hashes once; nothing else here hashes
