"""Tenants and their isolation, users and passwords, agents, API keys."""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select

from parloir import ConflictError, InvalidInputError, NotFoundError, Store, UserRead
from parloir.config import normalize_database_url
from parloir.db.models import Base


def raw_rows(database_url: str, table_name: str) -> list[dict[str, object]]:
    """Every row of a table, read with a raw engine (no parloir code)."""
    table = Base.metadata.tables[table_name]
    engine = create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(table))]
    finally:
        engine.dispose()


def _parts(key: str) -> list[str]:
    return key.split("_", 2)


# Tenants


def test_a_created_tenant_can_be_read_back_and_listed(store):
    tenant = store.create_tenant(name="Acme", slug="acme", metadata={"plan": "pro"})
    assert (tenant.name, tenant.slug, tenant.metadata) == ("Acme", "acme", {"plan": "pro"})
    assert store.get_tenant(tenant.id) == tenant
    slugs = [t.slug for t in store.list_tenants()]
    assert sorted(slugs) == ["acme", "default"]
    assert store.for_tenant(tenant.id).get_tenant() == tenant


def test_a_tenant_slug_is_unique(store):
    store.create_tenant(name="Acme", slug="acme")
    with pytest.raises(ConflictError):
        store.create_tenant(name="Other Acme", slug="acme")
    assert len(store.list_tenants()) == 2


def test_an_unknown_tenant_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.get_tenant(uuid.uuid4())


@pytest.fixture
def tenant_a_rows(store, agent_id, conversation_id):
    """One row of every kind in the default tenant (A)."""
    user = store.create_user(username="alice")
    contact = store.upsert_contact(channel="telegram", external_id="42", name="Bob")
    message = store.append_message(conversation_id, role="user", content="hello")
    call = store.record_llm_call(model="gpt-4o-mini", message_id=message.id, cost_nanos=10)
    store.set_session("sess-a", {"step": 1})
    store.record_audit_event(event_type="login", actor="alice", correlation_id="c-1")
    post = store.create_post(content="news", channel="telegram", agent_id=agent_id)
    key = store.create_api_key(name="bot key", agent_id=agent_id)
    return {
        "agent": agent_id,
        "user": user.id,
        "contact": contact.id,
        "conversation": conversation_id,
        "message": message.id,
        "llm_call": call.id,
        "post": post.id,
        "api_key": key.id,
    }


@pytest.fixture
def tenant_b(store) -> Store:
    return store.for_tenant(store.create_tenant(name="B", slug="tenant-b").id)


@pytest.mark.parametrize(
    ("getter", "kind"),
    [
        ("get_agent", "agent"),
        ("get_user", "user"),
        ("get_contact", "contact"),
        ("get_conversation", "conversation"),
        ("get_message", "message"),
        ("get_post", "post"),
        ("last_messages", "conversation"),
    ],
)
def test_another_tenant_cannot_get_a_row_of_tenant_a(tenant_a_rows, tenant_b, getter, kind):
    with pytest.raises(NotFoundError):
        getattr(tenant_b, getter)(tenant_a_rows[kind])


def test_another_tenant_lists_none_of_tenant_a_rows(store, tenant_a_rows, tenant_b):
    assert tenant_b.list_agents() == []
    assert tenant_b.list_users() == []
    assert tenant_b.list_conversations().items == []
    assert tenant_b.list_llm_calls().items == []
    assert tenant_b.list_llm_calls(message_id=tenant_a_rows["message"]).items == []
    assert tenant_b.list_audit_events().items == []
    assert tenant_b.list_audit_events(correlation_id="c-1").items == []
    assert tenant_b.list_posts().items == []
    assert tenant_b.list_api_keys() == []
    assert tenant_b.find_contact("telegram", "42") is None
    assert tenant_b.get_session("sess-a") is None
    assert tenant_b.totals().llm_calls == 0
    # ...while tenant A still sees all of them.
    assert [a.id for a in store.list_agents()] == [tenant_a_rows["agent"]]
    assert [c.id for c in store.list_llm_calls().items] == [tenant_a_rows["llm_call"]]
    assert store.get_session("sess-a") is not None


def test_another_tenant_cannot_write_into_or_delete_tenant_a_rows(store, tenant_a_rows, tenant_b):
    with pytest.raises(NotFoundError):
        tenant_b.append_message(tenant_a_rows["conversation"], role="user", content="intrusion")
    with pytest.raises(NotFoundError):
        tenant_b.revoke_api_key(tenant_a_rows["api_key"])
    with pytest.raises(NotFoundError):
        tenant_b.mark_post_published(tenant_a_rows["post"])
    assert tenant_b.delete_session("sess-a") is False
    assert store.get_session("sess-a") is not None
    assert store.get_conversation(tenant_a_rows["conversation"]).message_count == 1
    assert store.get_post(tenant_a_rows["post"]).status == "draft"


def test_the_same_natural_keys_can_exist_in_two_tenants(store, tenant_b):
    store.create_user(username="alice")
    tenant_b.create_user(username="alice")
    store.set_session("k", "a")
    tenant_b.set_session("k", "b")
    assert store.get_session("k").context == "a"
    assert tenant_b.get_session("k").context == "b"


# Users


def test_a_password_is_stored_as_an_argon2id_hash_and_never_returned(store, database_url):
    user = store.create_user(username="alice", password="correct horse battery")
    [row] = [r for r in raw_rows(database_url, "users") if r["id"] == user.id]
    assert row["password_hash"].startswith("$argon2id$")
    assert "correct horse battery" not in row["password_hash"]
    assert not {"password", "password_hash"} & set(UserRead.model_fields)
    assert not any("password" in name for name in user.model_dump())


def test_authenticate_accepts_the_right_password_and_records_the_login(store, clock):
    user = store.create_user(username="alice", password="correct horse battery")
    assert user.last_login_at is None
    clock.advance(minutes=5)
    found = store.authenticate("alice", "correct horse battery")
    assert found is not None
    assert found.id == user.id
    assert found.last_login_at == clock.now
    assert store.get_user(user.id).last_login_at == clock.now


def test_authenticate_rejects_a_wrong_password_an_unknown_user_and_an_inactive_user(store):
    user = store.create_user(username="alice", password="correct horse battery")
    assert store.authenticate("alice", "wrong password") is None
    assert store.authenticate("nobody", "correct horse battery") is None
    assert store.get_user(user.id).last_login_at is None
    store.update_user(user.id, is_active=False)
    assert store.authenticate("alice", "correct horse battery") is None


def test_a_user_without_a_password_cannot_authenticate(store):
    store.create_user(username="bot-owner")
    assert store.authenticate("bot-owner", "") is None
    assert store.authenticate("bot-owner", "anything at all") is None


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_each_known_user_role_is_stored(store, role):
    user = store.create_user(username=f"u-{role}", role=role)
    assert user.role == role
    assert store.get_user(user.id).role == role


def test_an_unknown_user_role_is_rejected_with_literal_error(store):
    assert store.create_user(username="default-role").role == "member"
    with pytest.raises(InvalidInputError) as info:
        store.create_user(username="alice", role="superuser")
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("role", "literal_error")
    assert [u.username for u in store.list_users()] == ["default-role"]


def test_a_duplicate_username_conflicts(store):
    store.create_user(username="alice")
    with pytest.raises(ConflictError):
        store.create_user(username="alice", email="other@example.com")
    assert [u.username for u in store.list_users()] == ["alice"]


def test_update_user_changes_role_email_and_activity(store, clock):
    user = store.create_user(username="alice")
    clock.advance(seconds=30)
    updated = store.update_user(user.id, role="admin", email="alice@example.com")
    assert (updated.role, updated.email, updated.is_active) == ("admin", "alice@example.com", True)
    assert updated.updated_at == clock.now
    assert store.get_user(user.id) == updated
    assert store.update_user(user.id, is_active=False).is_active is False
    assert store.get_user(user.id).is_active is False
    with pytest.raises(InvalidInputError) as info:
        store.update_user(user.id, role="root")
    assert info.value.errors[0].rule == "literal_error"
    assert store.get_user(user.id).role == "admin"
    with pytest.raises(NotFoundError):
        store.update_user(uuid.uuid4(), role="admin")


def test_update_user_replaces_the_password(store, database_url):
    user = store.create_user(username="alice", password="first password")
    store.update_user(user.id, password="second password")
    [row] = raw_rows(database_url, "users")
    assert row["password_hash"].startswith("$argon2id$")
    assert store.authenticate("alice", "first password") is None
    assert store.authenticate("alice", "second password") is not None


# Agents

AGENT_FIELDS = {
    "name": "support",
    "role": "customer support",
    "instructions": "Answer in French. Be brief.",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "temperature": 0.7,
    "max_tokens": 512,
    "top_p": 0.9,
    "is_active": False,
    "external_id": "bot-7",
    "metadata": {"tags": ["fr", "support"], "limits": {"daily": 100}, "note": "été ☀"},
}


def test_every_agent_field_round_trips(store):
    agent = store.create_agent(**AGENT_FIELDS)
    for name, value in AGENT_FIELDS.items():
        assert getattr(agent, name) == value, name
    assert agent.tenant_id == store.tenant_id
    assert store.get_agent(agent.id) == agent
    assert store.list_agents() == [agent]


def test_update_agent_changes_only_the_fields_given(store, clock):
    agent = store.create_agent(**AGENT_FIELDS)
    clock.advance(seconds=10)
    updated = store.update_agent(agent.id, temperature=0.2, instructions="Be formal.")
    assert (updated.temperature, updated.instructions) == (0.2, "Be formal.")
    assert updated.updated_at == clock.now
    assert store.get_agent(agent.id) == updated
    untouched = {k: v for k, v in AGENT_FIELDS.items() if k not in ("temperature", "instructions")}
    for name, value in untouched.items():
        assert getattr(updated, name) == value, name


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("temperature", math.nan, "finite_number"),
        ("temperature", -1, "greater_than_equal"),
        ("temperature", 3, "less_than_equal"),
        ("top_p", 1.5, "less_than_equal"),
    ],
    ids=["temperature-nan", "temperature-negative", "temperature-3", "top_p-1.5"],
)
def test_out_of_range_sampling_settings_are_rejected(store, field, value, rule):
    with pytest.raises(InvalidInputError) as info:
        store.create_agent(name="bad", **{field: value})
    assert (info.value.errors[0].field, info.value.errors[0].rule) == (field, rule)
    agent = store.create_agent(name="good")
    with pytest.raises(InvalidInputError):
        store.update_agent(agent.id, **{field: value})
    assert store.list_agents() == [agent]


# API keys


def test_an_api_key_is_returned_once_and_stored_only_as_its_sha256(store, database_url, agent_id):
    created = store.create_api_key(name="bot key", agent_id=agent_id)
    assert created.key.startswith(f"plr_{created.prefix}_")
    secret = _parts(created.key)[2]
    assert len(secret) >= 32
    listed = store.list_api_keys()
    assert [k.id for k in listed] == [created.id]
    assert not hasattr(listed[0], "key")
    [row] = raw_rows(database_url, "api_keys")
    assert row["key_hash"] == hashlib.sha256(created.key.encode()).hexdigest()
    for table in Base.metadata.sorted_tables:
        for stored in raw_rows(database_url, table.name):
            for column, value in stored.items():
                assert created.key not in str(value), (table.name, column)
                assert secret not in str(value), (table.name, column)


def test_an_imported_api_key_works_and_is_stored_only_hashed(store, database_url):
    foreign = "wk_live_0123456789abcdefXYZ"
    created = store.create_api_key(name="widget", key=foreign)
    assert created.key == foreign
    assert store.verify_api_key(foreign).id == created.id
    assert store.verify_api_key(foreign[:-1]) is None
    [row] = raw_rows(database_url, "api_keys")
    assert row["key_hash"] == hashlib.sha256(foreign.encode()).hexdigest()
    assert all(foreign not in str(value) for value in row.values())
    with pytest.raises(ConflictError):
        store.create_api_key(name="again", key=foreign)


def test_verify_api_key_returns_the_key_record_with_its_tenant(store, agent_id):
    created = store.create_api_key(name="bot key", agent_id=agent_id)
    record = store.verify_api_key(created.key)
    assert record is not None
    assert (record.id, record.agent_id) == (created.id, agent_id)
    assert record.tenant_id == store.tenant_id
    other = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    from_other = other.verify_api_key(created.key)
    assert from_other is not None
    assert from_other.tenant_id == store.tenant_id


TAMPERED = {
    "last-char-changed": lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
    "suffix-added": lambda key: key + "x",
    "truncated": lambda key: key[:-1],
    "upper-cased": lambda key: key.upper(),
    "wrong-scheme": lambda key: key.replace("plr_", "plx_", 1),
    "wrong-prefix": lambda key: f"plr_{'0' * 12}_{_parts(key)[2]}",
    "wrong-secret": lambda key: f"plr_{_parts(key)[1]}_guess",
    "garbage": lambda key: "garbage",
    "empty": lambda key: "",
    "scheme-only": lambda key: "plr_",
    "empty-parts": lambda key: "plr__",
}


@pytest.mark.parametrize("tamper", list(TAMPERED.values()), ids=list(TAMPERED))
def test_verify_api_key_rejects_a_wrong_or_tampered_key(store, tamper):
    created = store.create_api_key(name="bot key")
    assert store.verify_api_key(tamper(created.key)) is None
    assert store.list_api_keys()[0].last_used_at is None


def test_a_revoked_api_key_stops_working_at_once(store, clock):
    created = store.create_api_key(name="bot key")
    assert store.verify_api_key(created.key) is not None
    revoked = store.revoke_api_key(created.id)
    assert revoked.revoked_at == clock.now
    assert store.verify_api_key(created.key) is None
    assert store.revoke_api_key(created.id).revoked_at == clock.now  # revoking twice is a no-op


def test_an_api_key_stops_working_when_it_expires(store, clock):
    created = store.create_api_key(name="bot key", expires_at=clock.now + timedelta(hours=1))
    clock.advance(minutes=59, seconds=59)
    assert store.verify_api_key(created.key) is not None
    clock.advance(seconds=1)
    assert store.verify_api_key(created.key) is None
    clock.advance(days=1)
    assert store.verify_api_key(created.key) is None


def test_an_api_key_created_already_expired_never_works(store, clock):
    created = store.create_api_key(name="old key", expires_at=clock.now - timedelta(seconds=1))
    assert store.verify_api_key(created.key) is None


def test_verify_api_key_records_the_last_use(store, clock, database_url):
    created = store.create_api_key(name="bot key")
    assert created.last_used_at is None
    clock.advance(minutes=3)
    first = store.verify_api_key(created.key)
    assert first.last_used_at == clock.now
    assert store.list_api_keys()[0].last_used_at == clock.now
    clock.advance(minutes=10)
    second = store.verify_api_key(created.key)
    assert second.last_used_at == clock.now
    [row] = raw_rows(database_url, "api_keys")
    assert row["last_used_at"] == clock.now


def test_api_key_scopes_are_stored(store, database_url):
    created = store.create_api_key(name="admin key", scopes=["bot", "admin:read", "usage_*"])
    assert created.scopes == ["bot", "admin:read", "usage_*"]
    assert store.list_api_keys()[0].scopes == ["bot", "admin:read", "usage_*"]
    [row] = raw_rows(database_url, "api_keys")
    assert row["scopes"] == ["bot", "admin:read", "usage_*"]
    assert store.create_api_key(name="default").scopes == ["bot"]


def test_an_invalid_api_key_scope_is_rejected(store):
    with pytest.raises(InvalidInputError) as info:
        store.create_api_key(name="bad", scopes=["Admin Read"])
    assert (info.value.errors[0].field, info.value.errors[0].rule) == ("scopes", "pattern")
    assert store.list_api_keys() == []
