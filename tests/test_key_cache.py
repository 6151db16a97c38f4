"""The moment for which ``Store.peek_api_key`` keeps the keys it finds (parloir.key_cache).

A key revoked through the same store is refused at once; revoked elsewhere (another store on
the same database: another worker or process), it is refused once the cache time has passed;
expiry is checked at every use; the cache can be turned off.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from parloir import Settings, Store
from parloir.errors import ConfigError
from parloir.key_cache import KeyCache
from parloir.schemas import ApiKeyRead


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _key(**fields: object) -> ApiKeyRead:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "agent_id": uuid.uuid4(),
        "name": "k",
        "prefix": "plr_x",
        "scopes": ["bot"],
        "created_by_user_id": None,
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
        "created_at": "2026-01-01T00:00:00Z",
        **fields,
    }
    return ApiKeyRead.model_validate(values)


def test_an_entry_lives_for_the_cache_time_only():
    ticks = Ticks()
    cache = KeyCache(1.0, clock=ticks)
    key = _key()
    cache.put("secret", key, cache.generation)
    assert cache.get("secret") == key
    assert cache.get("other") is None
    ticks.now += 0.75
    assert cache.get("secret") == key
    ticks.now += 0.25  # exactly 1 s after the read
    assert cache.get("secret") is None


def test_an_entry_read_before_a_clear_is_not_kept():
    cache = KeyCache(1.0, clock=Ticks())
    before = cache.generation
    cache.clear()  # a revocation between the read and the put
    cache.put("secret", _key(), before)
    assert cache.get("secret") is None
    cache.put("secret", _key(), cache.generation)
    assert cache.get("secret") is not None
    cache.forget("secret")
    assert cache.get("secret") is None


def test_a_zero_time_keeps_nothing_and_the_size_is_bounded(monkeypatch):
    off = KeyCache(0)
    off.put("secret", _key(), off.generation)
    assert off.get("secret") is None
    monkeypatch.setattr("parloir.key_cache.MAX_KEYS", 3)
    cache = KeyCache(1.0, clock=Ticks())
    for n in range(4):
        cache.put(f"s{n}", _key(), cache.generation)
    assert [cache.get(f"s{n}") is not None for n in range(4)] == [False, False, False, True]


def test_the_setting_reads_the_environment_and_refuses_a_negative_time():
    assert Settings().api_key_cache_ms == 1_000
    assert Settings.from_env({"PARLOIR_API_KEY_CACHE_MS": "0"}).api_key_cache_ms == 0
    with pytest.raises(ConfigError, match="api_key_cache_ms"):
        Settings(api_key_cache_ms=-1)


@pytest.fixture
def ticks(store: Store) -> Ticks:
    made = Ticks()
    store._shared.key_cache = KeyCache(1.0, clock=made)
    return made


def test_a_key_revoked_through_the_same_store_is_refused_at_once(store, agent_id, ticks):
    created = store.create_api_key(agent_id=agent_id, name="bot")
    assert store.peek_api_key(created.key) is not None
    store.revoke_api_key(created.id)
    assert store.peek_api_key(created.key) is None


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_time_has_passed(
    store, make_store, agent_id, ticks
):
    created = store.create_api_key(agent_id=agent_id, name="bot")
    assert store.peek_api_key(created.key) is not None
    elsewhere = make_store(tenant_id=store.tenant_id)
    elsewhere.revoke_api_key(created.id)
    assert elsewhere.peek_api_key(created.key) is None
    ticks.now += 0.5
    assert store.peek_api_key(created.key) is not None  # kept: read less than 1 s ago
    ticks.now += 0.5
    assert store.peek_api_key(created.key) is None
    ticks.now += 5
    assert store.peek_api_key(created.key) is None  # a refused key is not kept


def test_expiry_is_checked_at_every_use(store, agent_id, clock, ticks):
    created = store.create_api_key(
        agent_id=agent_id, name="bot", expires_at=clock.now + timedelta(seconds=30)
    )
    assert store.peek_api_key(created.key) is not None
    clock.advance(seconds=30)
    assert store.peek_api_key(created.key) is None


def test_noting_a_use_refreshes_the_kept_key(store, agent_id, clock, ticks):
    created = store.create_api_key(agent_id=agent_id, name="bot")
    assert store.peek_api_key(created.key).last_used_at is None
    clock.advance(minutes=2)
    store.verify_api_key(created.key)
    assert store.peek_api_key(created.key).last_used_at == clock.now


def test_with_the_cache_off_a_revocation_elsewhere_is_seen_at_once(make_store, clock, tmp_path):
    settings = Settings(home=tmp_path / "home", api_key_cache_ms=0)
    store = make_store(clock=clock, settings=settings)
    agent = store.create_agent(name="helper")
    created = store.create_api_key(agent_id=agent.id, name="bot")
    assert store.peek_api_key(created.key) is not None
    make_store(tenant_id=store.tenant_id).revoke_api_key(created.id)
    assert store.peek_api_key(created.key) is None
