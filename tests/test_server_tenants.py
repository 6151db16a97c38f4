"""Tenant isolation through the REST API: another tenant's id answers exactly like a missing one.

Three tenants, each with users, agents, keys and one of every object carrying a canary string.
Every operation that takes an id is called by each identity of each tenant with every other
tenant's ids (in the path, the query and the body): all of them at once, and, for an operation
that takes several, each one alone beside the caller's own ids. Each call is paired with one
where that id is made up; the two answers must be the same, nothing may be written, and no
response may carry another tenant's canary.
"""

from __future__ import annotations

import re
import uuid

from server_support import World, build_world
from test_bad_inputs import snapshot
from test_server_auth import MATRIX

IDENTITIES = ("owner", "admin", "member", "viewer", "bot", "widget")
ID_PATTERN = re.compile(r"\{[a-z_]+\}")


def _ghost(world: World) -> World:
    ids = {
        k: (uuid.uuid4() if isinstance(v, uuid.UUID) else f"ghost-{v}")
        for k, v in world.ids.items()
    }
    return World(slug="ghost", tenant_id=uuid.uuid4(), canary="none", ids=ids)


def _takes_ids(path: str, body) -> bool:
    return bool(_id_keys(path, body))


def _id_keys(path: str, body) -> list[str]:
    """The world ids an operation uses: in its path and query, and in its body."""
    keys = [name.strip("{}") for name in ID_PATTERN.findall(path)]
    if body is not None:
        probe = _Probe()
        body(probe)
        keys += [key for key, value in probe.ids.items() if _is_uuid(value)]
    return list(dict.fromkeys(keys))


def _with(world: World, key: str, value) -> World:
    """``world`` with one id replaced."""
    return World(
        world.slug, world.tenant_id, world.canary, dict(world.headers), {**world.ids, key: value}
    )


def _pairs(caller: World, foreign: World, keys: list[str], *, confuse: bool):
    """(world with foreign ids, the same with made-up ids instead): every id at once, then
    each id alone among the caller's own; with ``confuse``, also each of the other tenant's
    ids of every kind in each id's place (a message id where a conversation id goes...)."""
    yield foreign, _ghost(foreign)
    if len(keys) > 1:
        for key in keys:
            made_up = _ghost(foreign).ids[key]
            yield _with(caller, key, foreign.ids[key]), _with(caller, key, made_up)
    if confuse:
        kinds = [k for k, v in foreign.ids.items() if isinstance(v, uuid.UUID)]
        for key in keys:
            for kind in kinds:
                if kind != key:
                    made_up = uuid.uuid4()
                    yield _with(caller, key, foreign.ids[kind]), _with(caller, key, made_up)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class _Probe:
    """Stands in for a world to see which body fields carry ids."""

    def __init__(self) -> None:
        self.ids = _AnyIds()


class _AnyIds(dict):
    def __missing__(self, key):
        self[key] = uuid.uuid4()
        return self[key]


def _normalise(answer, worlds) -> tuple[int, str]:
    text = answer.text
    for world in worlds:
        for value in world.ids.values():
            text = text.replace(str(value), "<id>")
    text = re.sub(r'"request_id":\s*"[^"]+"', '"request_id":"-"', text)
    return answer.status_code, text


def _request(api, method, path, body, world, headers):
    url = path.format(**world.ids)
    payload = body(world) if body else None
    return api.request(
        method, url, json=payload, headers={**headers, "X-Conversation-Token": "plw_x"}
    )


def test_foreign_ids_answer_like_missing_ones(api, store, database_url):
    worlds = [build_world(store), build_world(store, "acme"), build_world(store, "beta")]
    for world in worlds:
        for identity in IDENTITIES:
            api.get("/v1/conversations", headers=world.headers[identity])  # note key use now
    store.fold_rollups()  # SQLite: the worlds' appends counted now (a statistics read folds)
    before = snapshot(database_url)
    probes, leaks, differences = 0, [], []
    id_ops = [op for op in MATRIX if _takes_ids(op[1], op[2])]
    for caller in worlds:
        for identity in IDENTITIES:
            headers = caller.headers[identity]
            for method, path, body, _ in id_ops:
                others = [w for w in worlds if w is not caller]
                keys = _id_keys(path, body)
                confuse = identity in ("owner", "bot")
                pairs = (p for w in others for p in _pairs(caller, w, keys, confuse=confuse))
                for foreign, ghost in pairs:
                    seen = _request(api, method, path, body, foreign, headers)
                    missing = _request(api, method, path, body, ghost, headers)
                    probes += 1
                    assert seen.status_code < 500, (method, path, seen.text)
                    filter_only = method == "GET" and not ID_PATTERN.search(path.split("?")[0])
                    assert filter_only or seen.status_code not in (200, 201, 204, 207), (
                        caller.slug,
                        identity,
                        method,
                        path,
                        seen.text,
                    )
                    if _normalise(seen, [foreign, ghost]) != _normalise(missing, [foreign, ghost]):
                        differences.append((identity, method, path, seen.text, missing.text))
                    for other in worlds:
                        if other is not caller and other.canary in seen.text + str(seen.headers):
                            leaks.append((identity, method, path))
    assert snapshot(database_url) == before
    assert (differences, leaks) == ([], [])
    assert probes >= 3 * len(IDENTITIES) * len(id_ops) * 2
    print(f"AZ-01: {probes} probes, 0 leaks")
    assert probes >= 5_000  # RELIABILITY.md AZ-01


def test_listings_and_totals_show_only_the_callers_tenant(api, store):
    worlds = [build_world(store), build_world(store, "acme"), build_world(store, "beta")]
    lists = [op for op in MATRIX if op[0] == "GET" and not ID_PATTERN.search(op[1])]
    for caller in worlds:
        for identity in ("owner", "viewer", "bot"):
            for method, path, _, _ in lists:
                answer = api.request(
                    method,
                    path.split("?")[0] if "{" in path else path,
                    headers=caller.headers[identity],
                )
                assert answer.status_code < 500
                for other in worlds:
                    if other is not caller:
                        assert other.canary not in answer.text, (identity, path)
                        assert str(other.tenant_id) not in answer.text, (identity, path)
        totals = api.get("/v1/stats/totals", headers=caller.headers["owner"]).json()
        assert totals["conversations"] == 2 and totals["messages"] == 2
        assert totals["llm_calls"] == 1
