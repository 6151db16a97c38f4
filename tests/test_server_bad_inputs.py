"""The bad-input corpus against every write operation: a clear 4xx, and nothing written.

Each case is sent to every POST, PUT and PATCH operation; a snapshot of every table (row count
and a hash of the rows) is taken before and after the whole corpus and must not change.
"""

from __future__ import annotations

import json

from server_support import build_world
from test_bad_inputs import snapshot
from test_server_auth import MATRIX

from parloir.server.settings import ServerSettings

CLEAR = {400, 404, 413, 415, 422, 431}
LIMIT = ServerSettings().max_body_bytes


def _nest(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _with(base: dict, raw_value: str) -> bytes:
    """``base`` as JSON with one string field (or an extra field) set to ``raw_value``."""
    key = next((k for k, v in base.items() if isinstance(v, str)), "metadata")
    text = json.dumps({k: v for k, v in base.items() if k != key})
    inner = f'"{key}": {raw_value}'
    return (text[:-1] + (", " if len(text) > 2 else "") + inner + "}").encode()


def _cases(base: dict) -> list[tuple[str, bytes, str]]:
    """(name, body, content type) for one operation whose valid body is ``base``."""
    json_type = "application/json"
    raw = [
        ("invalid utf-8", b'{"a": "\xff\xfe"}'),
        ("overlong utf-8", b'{"a": "\xc0\xaf"}'),
        ("cesu surrogate bytes", b'{"a": "\xed\xa0\x80"}'),
        ("truncated 4-byte", b'{"a": "\xf0\x9f\x98"}'),
        ("raw nul byte", b'{"a": "x\x00y"}'),
        ("nul escape", _with(base, '"x\\u0000y"')),
        ("lone high surrogate", _with(base, '"\\ud800"')),
        ("lone low surrogate", _with(base, '"\\udfff"')),
        ("reversed pair", _with(base, '"\\udc00\\ud800"')),
        ("nul in a key", _with(base, '{"k\\u0000": 1}')),
        ("NaN", _with(base, "NaN")),
        ("Infinity", _with(base, "Infinity")),
        ("-Infinity", _with(base, "-Infinity")),
        ("1e400", _with(base, "1e400")),
        ("10^5000", _with(base, "1" + "0" * 5000)),
        ("depth 64", _with(base, _nest(64))),
        ("depth 1000", _with(base, _nest(1000))),
        ("depth 100000", _with(base, _nest(100_000))),
        ("not json", b"{nope"),
        ("array body", b"[1, 2]"),
        ("string body", b'"text"'),
        ("null body", b"null"),
        (
            "tenant_id",
            json.dumps({**base, "tenant_id": "00000000-0000-7000-8000-000000000002"}).encode(),
        ),
        (
            "mass assignment",
            json.dumps(
                {
                    **base,
                    "id": "x",
                    "created_at": "2020-01-01T00:00:00Z",
                    "message_count": 9,
                    "api_key_hash": "h",
                    "is_superuser": True,
                }
            ).encode(),
        ),
        ("over the size limit", b'{"a": "' + b"x" * LIMIT + b'"}'),
    ]
    cases = [(name, body, json_type) for name, body in raw]
    cases.append(("text/plain", json.dumps(base).encode(), "text/plain"))
    cases.append(("no content type", json.dumps(base).encode(), ""))
    return cases


def _check(answer, what) -> None:
    assert answer.status_code in CLEAR, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/problem+json", what
    problem = answer.json()
    assert {"type", "title", "status", "detail", "code"} <= problem.keys(), what
    lowered = answer.text.lower()
    assert "traceback" not in lowered and "select " not in lowered, what


def test_bad_bodies_are_refused_and_write_nothing(api, store, database_url):
    world = build_world(store)
    headers = world.headers["owner"]
    api.get("/v1/users", headers=headers)
    before = snapshot(database_url)
    sent = 0
    for method, path, body, _ in MATRIX:
        if method not in ("POST", "PUT", "PATCH") or body is None or "widget" in path:
            continue
        url = path.format(**world.ids)
        for name, payload, content_type in _cases(body(world)):
            extra = {"Content-Type": content_type} if content_type else {}
            answer = api.request(method, url, content=payload, headers={**headers, **extra})
            sent += 1
            if path == "/v1/batch" and answer.status_code == 207:
                assert answer.json()["created"] == 0, name
                continue
            _check(answer, (method, path, name))
    assert snapshot(database_url) == before
    assert sent > 500


def test_bodies_without_a_length_are_bounded(api, store, database_url):
    world = build_world(store)
    before = snapshot(database_url)
    url = f"/v1/conversations/{world.ids['conversation']}/messages"

    def chunks():
        yield b'{"role": "user", "content": "'
        for _ in range(LIMIT // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    answer = api.post(
        url,
        content=chunks(),
        headers={**world.headers["owner"], "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    lying = api.post(
        url,
        content=b'{"role": "user", "content": "x"}',
        headers={
            **world.headers["owner"],
            "Content-Type": "application/json",
            "Content-Length": "nope",
        },
    )
    assert lying.status_code in (400, 413)
    assert snapshot(database_url) == before


def test_bad_paths_and_queries_are_refused(api, store):
    world = build_world(store)
    h = world.headers["owner"]
    cid = world.ids["conversation"]
    for url in [
        "/v1/conversations/not-a-uuid",
        "/v1/conversations/" + "a" * 10_000,
        "/v1/conversations/%00",
        "/v1/conversations/..%2f..%2fusers",
        "/v1/conversations?limit=-1",
        f"/v1/conversations?limit={10**12}",
        "/v1/conversations?limit=501",
        "/v1/conversations?cursor=garbage!!",
        "/v1/conversations?since=2026-01-01T00:00:00",
        "/v1/conversations?channel=%00",
        f"/v1/conversations/{cid}/messages?after_seq={2**63}",
        "/v1/contacts?channel=web&external_id=%00",
        "/v1/sessions/%00",
        "/v1/llm-calls?limit=abc",
    ]:
        answer = api.get(url, headers=h)
        _check(answer, url)
    # Invalid UTF-8 in a query decodes to U+FFFD: a harmless filter that matches nothing.
    replaced = api.get("/v1/audit-events?event_type=%ED%A0%80", headers=h)
    assert replaced.status_code == 200 and replaced.json()["items"] == []
    max_page = api.get("/v1/conversations", params={"limit": 500}, headers=h)
    assert max_page.status_code == 200


def test_unknown_query_parameters_are_refused_and_write_nothing(api, store, database_url):
    """A misspelt filter is an error naming it, not a filter silently ignored."""
    world = build_world(store)
    headers = world.headers["owner"]
    before = snapshot(database_url)
    checked = 0
    for method, path, body, _ in MATRIX:
        url = path.format(**world.ids)
        url += ("&" if "?" in url else "?") + "chanel=web&limit=1"
        payload = json.dumps(body(world)).encode() if body is not None else None
        extra = {"Content-Type": "application/json"} if payload is not None else {}
        answer = api.request(method, url, content=payload, headers={**headers, **extra})
        _check(answer, (method, url))
        assert answer.status_code == 422, (method, url, answer.text[:300])
        fields = {e["field"]: e["rule"] for e in answer.json()["errors"]}
        assert fields.get("query.chanel") == "unknown_field", (method, url, fields)
        checked += 1
    assert snapshot(database_url) == before
    assert checked == len(MATRIX)
    known = api.get("/v1/conversations", params={"channel": "web", "limit": 1}, headers=headers)
    assert known.status_code == 200
    # A webhook is never refused for its URL; the probes and documentation are not checked.
    agent = world.ids["agent"]
    hook = api.post(f"/v1/telegram/{agent}/webhook?chanel=web", json={"update_id": 1})
    assert hook.status_code != 422
    assert api.get("/health?x=1").status_code == 200


def test_header_abuse_is_refused(api, store):
    world = build_world(store)
    bad_id = api.get("/health", headers={"X-Request-ID": "x" * 10_000})
    assert bad_id.status_code == 200 and len(bad_id.headers["x-request-id"]) == 32
    long_key = api.post(
        "/v1/llm-calls",
        json={"model": "m"},
        headers={**world.headers["owner"], "Idempotency-Key": "k" * 256},
    )
    _check(long_key, "idempotency key")
