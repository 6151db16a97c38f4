"""Statistics and search through the REST API, on both databases."""

from __future__ import annotations

from server_support import build_world


def test_statistics_per_agent_day_group_and_conversation(api, store):
    w = build_world(store)
    h = w.headers["viewer"]
    agent, other = str(w.ids["agent"]), str(w.ids["other_agent"])
    per_agent = api.get("/v1/stats/agents", headers=h).json()
    assert {a["agent_id"]: a["messages"] for a in per_agent} == {agent: 1, other: 1}
    assert {a["agent_id"]: a["llm_calls"] for a in per_agent} == {agent: 1, other: 0}
    one = api.get("/v1/stats/agents", params={"agent_id": other}, headers=h).json()
    assert [a["agent_id"] for a in one] == [other]
    period = {"since": "2026-01-14", "until": "2026-01-17"}
    daily = api.get("/v1/stats/daily", params=period, headers=h).json()
    assert [(d["day"], d["messages"]) for d in daily] == [
        ("2026-01-14", 0),
        ("2026-01-15", 2),
        ("2026-01-16", 0),
    ]
    grouped = api.get("/v1/stats", params={"by": "model", **period}, headers=h).json()
    assert grouped["by"] == "model" and grouped["overall"]["llm_calls"] == 1
    assert {g["key"]: g["llm_calls"] for g in grouped["groups"]} == {"": 0, "gpt-4o-mini": 1}
    plain = api.get("/v1/stats", headers=h).json()
    assert plain["by"] is None and plain["groups"] == [] and plain["overall"]["messages"] == 2
    overall = api.get("/v1/stats/global", headers=h).json()
    assert (overall["agents"], overall["conversations"], overall["input_tokens"]) == (2, 2, 10)
    narrowed = api.get("/v1/stats/global", params={"agent_id": other}, headers=h).json()
    assert (narrowed["agents"], narrowed["llm_calls"], narrowed["messages"]) == (1, 0, 1)
    conv = api.get(f"/v1/conversations/{w.ids['conversation']}/stats", headers=h).json()
    assert (conv["message_count"], conv["user_messages"], conv["llm_calls"]) == (1, 1, 1)
    assert conv["total_tokens"] == 12


def test_a_bot_reads_only_its_agents_statistics(api, store):
    w = build_world(store)
    h = w.headers["bot"]
    agent, other = str(w.ids["agent"]), str(w.ids["other_agent"])
    listed = api.get("/v1/stats/agents", headers=h).json()
    assert [a["agent_id"] for a in listed] == [agent]
    grouped = api.get("/v1/stats", params={"by": "agent"}, headers=h).json()
    assert [g["key"] for g in grouped["groups"]] == [agent]
    overall = api.get("/v1/stats/global", headers=h).json()
    assert (overall["agents"], overall["messages"]) == (1, 1)
    assert [d["messages"] for d in api.get("/v1/stats/daily", headers=h).json()] == [1]
    for path in ("/v1/stats/agents", "/v1/stats/daily", "/v1/stats", "/v1/stats/global"):
        answer = api.get(path, params={"agent_id": other}, headers=h)
        assert answer.status_code == 404 and w.canary not in answer.text, path
    theirs = api.get(f"/v1/conversations/{w.ids['other_conversation']}/stats", headers=h)
    assert theirs.status_code == 404
    widget = api.get("/v1/stats/global", headers=w.headers["widget"])
    assert widget.status_code == 403


def test_statistics_reject_bad_periods(api, store):
    w = build_world(store)
    h = w.headers["owner"]
    backwards = api.get(
        "/v1/stats", params={"since": "2026-02-01", "until": "2026-01-01"}, headers=h
    )
    assert backwards.status_code == 422
    assert (backwards.json()["errors"][0]["field"], backwards.json()["errors"][0]["rule"]) == (
        "until",
        "after_since",
    )
    long = api.get(
        "/v1/stats/daily", params={"since": "2000-01-01", "until": "2026-01-01"}, headers=h
    )
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "until"
    not_a_day = api.get("/v1/stats/agents", params={"since": "yesterday"}, headers=h)
    assert not_a_day.status_code == 422
    assert not_a_day.json()["errors"][0]["field"] == "query.since"
    bad_group = api.get("/v1/stats", params={"by": "week"}, headers=h)
    assert bad_group.status_code == 422 and bad_group.json()["errors"][0]["field"] == "query.by"


def _apples(store, w) -> None:
    for n in range(3):
        store.append_message(w.ids["conversation"], role="assistant", content=f"apple pie {n}")
    store.append_message(w.ids["other_conversation"], role="user", content="an apple a day")


def test_search_ranks_pages_and_filters(api, store):
    w = build_world(store)
    _apples(store, w)
    h = w.headers["viewer"]
    first = api.get("/v1/search", params={"q": "apple", "limit": 3}, headers=h).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    hit = first["items"][0]
    assert "[apple]" in hit["snippet"].lower()
    assert ["apple", True] in [[t.lower(), m] for t, m in hit["snippet_parts"]]
    rest = api.get(
        "/v1/search", params={"q": "apple", "limit": 3, "cursor": first["next_cursor"]}, headers=h
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    seen = {i["message_id"] for i in first["items"] + rest["items"]}
    assert len(seen) == 4
    users = api.get("/v1/search", params={"q": "apple", "role": "user"}, headers=h).json()
    assert [i["conversation_id"] for i in users["items"]] == [str(w.ids["other_conversation"])]
    by_contact = api.get(
        "/v1/search", params={"q": "apple OR hello", "contact_id": str(w.ids["contact"])}, headers=h
    ).json()
    assert {i["conversation_id"] for i in by_contact["items"]} == {str(w.ids["conversation"])}
    assert len(by_contact["items"]) == 4
    later = api.get(
        "/v1/search", params={"q": "apple", "since": "2026-01-16T00:00:00Z"}, headers=h
    ).json()
    assert later["items"] == []


def test_a_bot_searches_only_its_agent(api, store):
    w = build_world(store)
    _apples(store, w)
    h = w.headers["bot"]
    found = api.get("/v1/search", params={"q": "apple"}, headers=h).json()["items"]
    assert len(found) == 3 and {i["agent_id"] for i in found} == {str(w.ids["agent"])}
    other = str(w.ids["other_agent"])
    assert api.get(
        "/v1/search", params={"q": "apple", "agent_id": other}, headers=h
    ).status_code == (404)
    assert api.get(
        "/v1/search", params={"q": "apple"}, headers=w.headers["widget"]
    ).status_code == (403)


def test_search_names_the_bad_field(api, store):
    w = build_world(store)
    h = w.headers["owner"]

    def field(params) -> tuple[int, str, str]:
        answer = api.get("/v1/search", params=params, headers=h)
        assert answer.headers["content-type"] == "application/problem+json"
        error = answer.json()["errors"][0]
        return answer.status_code, error["field"], error["rule"]

    assert field({"q": "!!!"})[:2] == (422, "q")
    assert field({"q": "a " * 40})[:2] == (422, "q")
    assert field({"q": "apple", "cursor": "not-a-cursor"}) == (422, "cursor", "valid_cursor")
    assert field({})[:2] == (422, "query.q")
    assert field({"q": "apple", "role": "robot"})[:2] == (422, "query.role")
    assert field({"q": "apple", "limit": 101})[:2] == (422, "query.limit")
    assert field({"q": "apple", "since": "2026-01-01T00:00:00"})[:2] == (422, "query.since")
