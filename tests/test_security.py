"""Row-level security on PostgreSQL: a second wall beside the library's tenant filters.

Each test goes around the library's own ``tenant_id`` filters (raw SQL on a store connection,
or a service called with the wrong tenant in its scope) and checks that the database itself
still shows and accepts only the rows of the connection's tenant.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import create_engine, text

from parloir import NotFoundError, ParloirError, Store
from parloir.db.engine import ADMIN_ROLE, APP_ROLE
from parloir.db.models import DEFAULT_TENANT_ID
from parloir.history import get_message, last_messages

pytestmark = pytest.mark.postgresql


@pytest.fixture
def database_url(postgres_url):
    """PostgreSQL only (row-level security does not exist on SQLite): the reset test database."""
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE tenants CASCADE"))
        connection.execute(
            text(
                "INSERT INTO tenants (id, name, slug, metadata, created_at, updated_at) "
                "VALUES (:id, 'Default', 'default', '{}', now(), now())"
            ),
            {"id": DEFAULT_TENANT_ID},
        )
    engine.dispose()
    return postgres_url


@pytest.fixture
def two_tenants(store):
    """Tenant A (the store's default tenant) and tenant B, each with a conversation."""
    b = store.for_tenant(store.create_tenant(name="B", slug="b").id)
    rows = {}
    for name, view in (("a", store), ("b", b)):
        agent = view.create_agent(name=f"agent-{name}")
        conv = view.get_or_create_conversation(agent_id=agent.id, channel="web", external_id="1")
        msg = view.append_message(conv.id, role="user", content=f"secret of {name}")
        view.record_llm_call(model="gpt-4o-mini", message_id=msg.id, cost_nanos=1)
        view.set_session(f"s-{name}", {"x": 1})
        rows[name] = {"store": view, "agent": agent.id, "conversation": conv.id, "message": msg.id}
    return rows


def _tenant_ids(session, table):
    return {row[0] for row in session.execute(text(f"SELECT tenant_id FROM {table}"))}


@pytest.mark.parametrize("table", ["agents", "conversations", "messages", "llm_calls", "sessions"])
def test_raw_sql_on_a_store_connection_sees_only_its_tenant(two_tenants, table):
    a, b = two_tenants["a"]["store"], two_tenants["b"]["store"]
    with a.transaction() as session:  # a write transaction, no tenant filter in the SQL
        assert _tenant_ids(session, table) == {a.tenant_id}
    with b._read() as scope:  # the autocommit read path
        assert _tenant_ids(scope.session, table) == {b.tenant_id}


def test_raw_sql_sees_only_the_own_tenant_row_of_tenants(two_tenants):
    a = two_tenants["a"]["store"]
    with a.transaction() as session:
        ids = [row[0] for row in session.execute(text("SELECT id FROM tenants"))]
    assert ids == [a.tenant_id]


def test_a_service_given_the_wrong_tenant_still_cannot_read_it(two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    # The scope claims tenant B (as a buggy filter would), the connection is tenant A's.
    with a["store"]._read() as scope:
        wrong = dataclasses.replace(scope, tenant_id=b["store"].tenant_id)
        with pytest.raises(NotFoundError):
            get_message(wrong, b["message"])
        with pytest.raises(NotFoundError):
            last_messages(wrong, b["conversation"], 50)


def test_a_row_for_another_tenant_is_refused_by_with_check(two_tenants):
    a, b = two_tenants["a"]["store"], two_tenants["b"]["store"]
    insert = text(
        "INSERT INTO agents (id, tenant_id, name, is_active, metadata, created_at, updated_at) "
        "VALUES (:id, :tenant, 'intruder', true, '{}', now(), now())"
    )
    with pytest.raises(ParloirError, match="row-level security"), a.transaction() as session:
        session.execute(insert, {"id": uuid.uuid4(), "tenant": b.tenant_id})
    # Moving an own row to the other tenant is refused too.
    update = text("UPDATE agents SET tenant_id = :tenant")
    with pytest.raises(ParloirError, match="row-level security"), a.transaction() as session:
        session.execute(update, {"tenant": b.tenant_id})
    assert [agent.name for agent in b.list_agents()] == ["agent-b"]


def test_updates_and_deletes_without_a_filter_touch_only_the_own_tenant(two_tenants):
    a, b = two_tenants["a"]["store"], two_tenants["b"]["store"]
    with a.transaction() as session:
        assert session.execute(text("UPDATE agents SET name = 'renamed'")).rowcount == 1
        assert session.execute(text("DELETE FROM sessions")).rowcount == 1
    assert b.get_agent(two_tenants["b"]["agent"]).name == "agent-b"
    assert b.get_session("s-b") is not None


def test_no_tenant_set_sees_no_rows(two_tenants):
    a = two_tenants["a"]["store"]
    engines = a._shared.engines
    for engine in (engines.write, engines.read):
        with engine.connect() as connection:  # a store connection with no tenant given
            assert connection.execute(text("SELECT count(*) FROM messages")).scalar() == 0
            assert connection.execute(text("SELECT count(*) FROM tenants")).scalar() == 0


def test_the_tenant_does_not_outlive_its_transaction(two_tenants):
    a = two_tenants["a"]["store"]
    engine = a._shared.engines.write
    engine.pool.dispose()
    a.get_agent(two_tenants["a"]["agent"])
    a.append_messages(two_tenants["a"]["conversation"], [{"role": "user", "content": "x"}])
    with engine.connect() as connection:  # the same pooled connection, next transaction
        setting = connection.execute(text("SELECT current_setting('parloir.tenant_id', true)"))
        assert setting.scalar() in (None, "")
        assert connection.execute(text("SELECT count(*) FROM messages")).scalar() == 0


def test_alternating_tenants_on_one_pooled_connection_never_mix(make_store, two_tenants):
    small = make_store()
    for engine in (small._shared.engines.write, small._shared.engines.read):
        engine.pool.dispose()
    views = {name: small.for_tenant(rows["store"].tenant_id) for name, rows in two_tenants.items()}
    for i in range(40):
        name = "ab"[i % 2]
        rows = two_tenants[name]
        view = views[name]
        seen = [m.content for m in view.last_messages(rows["conversation"])]
        assert seen[0] == f"secret of {name}"
        with view._read() as scope:
            assert _tenant_ids(scope.session, "messages") == {view.tenant_id}
        if i % 5 == 0:
            with pytest.raises(NotFoundError):  # an error mid-way leaves nothing behind
                view.get_message(two_tenants["ba"[i % 2]]["message"])


def test_the_admin_role_spans_tenants_and_only_tenant_management_uses_it(two_tenants):
    a = two_tenants["a"]["store"]
    assert {t.slug for t in a.list_tenants()} == {"default", "b"}
    assert a.totals(all_tenants=True).messages == 2
    assert a.totals().messages == 1


def _catalog(store, sql, **params):
    with store._shared.engines.owner.connect() as connection:
        return connection.execute(text(sql), params).all()


def test_every_table_with_a_tenant_id_has_row_level_security_enabled_and_forced(store):
    tables = _catalog(
        store,
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND (c.relname = 'tenants' OR EXISTS (
              SELECT FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
        """,
    )
    assert len(tables) >= 13
    unprotected = [name for name, enabled, forced in tables if not (enabled and forced)]
    assert unprotected == []
    policies = _catalog(
        store,
        """
        SELECT tablename, policyname, qual, with_check, roles::text[]
        FROM pg_policies WHERE schemaname = current_schema()
        """,
    )
    by_table: dict[str, dict[str, tuple]] = {}
    for table, name, qual, check, roles in policies:
        by_table.setdefault(table, {})[name] = (qual, check, roles)
    for name, _, _ in tables:
        isolation = by_table[name]["tenant_isolation"]
        for expression in isolation[:2]:
            assert "NULLIF(current_setting('parloir.tenant_id'::text, true), ''::text)" in (
                expression
            ), (name, expression)
        assert isolation[2] == ["public"]
        assert by_table[name]["admin_all"][2] == [ADMIN_ROLE]
        assert set(by_table[name]) == {"tenant_isolation", "admin_all"}


def test_the_store_roles_cannot_bypass_row_level_security_and_own_nothing(store):
    for role in (APP_ROLE, ADMIN_ROLE):
        rows = _catalog(
            store,
            "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb "
            "FROM pg_roles WHERE rolname = :role",
            role=role,
        )
        assert rows == [(False, False, False, False, False)], role
        owned = _catalog(
            store,
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = :role",
            role=role,
        )
        assert owned == [(0,)], role
    with store._shared.engines.write.connect() as connection:
        assert connection.execute(text("SELECT current_user")).scalar() == APP_ROLE


def test_the_app_role_has_dml_grants_only_on_tenant_tables(store):
    grants = _catalog(
        store,
        """
        SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)
        FROM information_schema.role_table_grants
        WHERE grantee = :role AND table_schema = current_schema()
        GROUP BY table_name
        """,
        role=APP_ROLE,
    )
    by_table = dict(grants)
    assert by_table.pop("tenants") == "SELECT"
    for view in ("agent_statistics", "conversation_stats"):  # security_invoker views
        assert by_table.pop(view) == "SELECT"
    assert "alembic_version" not in by_table
    assert set(by_table.values()) == {"DELETE,INSERT,SELECT,UPDATE"}


def test_every_view_is_security_invoker(store):
    views = _catalog(
        store,
        """
        SELECT c.relname, coalesce(c.reloptions, '{}')::text[]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'v'
        """,
    )
    assert [name for name, options in views if "security_invoker=true" not in options] == []


def test_each_policy_is_load_bearing(store, two_tenants):
    """Without its policy a table shows the other tenant's rows: the policy is what hides them."""
    b_tenant = two_tenants["b"]["store"].tenant_id
    for table in ("agents", "conversations", "messages", "llm_calls", "sessions"):
        with store._shared.engines.owner.connect() as connection, connection.begin() as tx:
            connection.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            connection.execute(
                text("SELECT set_config('parloir.tenant_id', :t, true)"),
                {"t": str(store.tenant_id)},
            )
            count = text(f"SELECT count(*) FROM {table} WHERE tenant_id = :b")
            assert connection.execute(count, {"b": b_tenant}).scalar() == 0
            connection.execute(text("RESET ROLE"))
            connection.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
            connection.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            assert connection.execute(count, {"b": b_tenant}).scalar() == 1
            tx.rollback()


def test_a_store_opened_for_one_tenant_reads_only_that_tenant(database_url, two_tenants):
    b = two_tenants["b"]
    with Store.open(database_url, tenant_id=b["store"].tenant_id) as only_b:
        assert [a.name for a in only_b.list_agents()] == ["agent-b"]
        with only_b.transaction() as session:
            assert _tenant_ids(session, "conversations") == {b["store"].tenant_id}


def test_a_second_database_shares_the_roles_and_its_downgrade_leaves_them(store, postgres_url):
    from sqlalchemy.engine import make_url

    from parloir.config import Settings
    from parloir.db import migrate
    from parloir.db.engine import create_engines

    name = f"{make_url(postgres_url).database}_second"
    admin = create_engine(
        make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        second = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        engines = create_engines(Settings(database_url=second))
        migrate.upgrade(engines.owner)  # the roles exist already: created only if missing
        with Store.open(second) as other:
            other.create_agent(name="elsewhere")
        migrate.downgrade(engines.owner, "base")
        engines.dispose()
        # The first database still works through the shared roles.
        agent = store.create_agent(name="still here")
        assert store.get_agent(agent.id).name == "still here"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_admin_engine_has_a_small_pool_and_the_owner_engine_none(store):
    from sqlalchemy.pool import NullPool

    engines = store._shared.engines
    assert engines.admin.pool.size() == 2
    assert engines.write.pool.size() == engines.read.pool.size() == 10
    assert isinstance(engines.owner.pool, NullPool)


_WINDOW = text(
    "SELECT id FROM parloir_search_window(to_tsquery('simple', :word), "
    "NULL, NULL, NULL, NULL, NULL, NULL, 100)"
)


def test_the_search_window_function_keeps_to_the_transactions_tenant(two_tenants):
    # It runs as parloir_admin (to use the GIN index), so it must confine itself.
    a, b = two_tenants["a"], two_tenants["b"]
    engine = a["store"]._shared.engines.read
    with engine.connect() as connection:  # no tenant set: nothing
        assert connection.execute(_WINDOW, {"word": "secret"}).all() == []
    for mine, theirs in ((a, b), (b, a)):
        with mine["store"]._read() as scope:
            found = {row[0] for row in scope.session.execute(_WINDOW, {"word": "secret"})}
        assert found == {mine["message"]}
        assert theirs["message"] not in found
    assert [hit.message_id for hit in a["store"].search("secret").items] == [a["message"]]


def test_the_search_window_function_returns_the_scores_of_its_tenants_matches(two_tenants):
    a = two_tenants["a"]
    ranked = text(str(_WINDOW).replace("SELECT id FROM", "SELECT id, score FROM"))
    with a["store"]._read() as scope:
        rows = scope.session.execute(ranked, {"word": "secret"}).all()
    assert [row.id for row in rows] == [a["message"]]
    assert rows[0].score == a["store"].search("secret").items[0].score > 0


def test_only_the_app_role_may_call_the_search_window_function(store):
    rows = _catalog(
        store,
        "SELECT r.rolname FROM pg_proc p, aclexplode(p.proacl) acl "
        "JOIN pg_roles r ON r.oid = acl.grantee "
        "WHERE p.proname = 'parloir_search_window' AND acl.privilege_type = 'EXECUTE'",
    )
    owner = _catalog(
        store,
        "SELECT pg_get_userbyid(proowner), prosecdef FROM pg_proc "
        "WHERE proname = 'parloir_search_window'",
    )
    assert {row[0] for row in rows} <= {APP_ROLE, ADMIN_ROLE}
    assert APP_ROLE in {row[0] for row in rows}
    assert owner == [(ADMIN_ROLE, True)]
