"""The migrations are the only way the schema changes, and they agree with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from parloir import SchemaError, Store
from parloir.config import Settings
from parloir.db import migrate
from parloir.db.engine import create_engines
from parloir.db.models import Base
from parloir.db.search_index import include_object

TABLES = {
    "tenants",
    "users",
    "agents",
    "api_keys",
    "contacts",
    "conversations",
    "messages",
    "llm_calls",
    "retrievals",
    "feedback",
    "sessions",
    "audit_events",
    "posts",
}


def _engines(url: str):
    return create_engines(Settings(database_url=url))


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_head_schema_matches_the_models(database_url):
    assert _diff(database_url) == []


def test_head_to_base_to_head_round_trips(database_url):
    engines = _engines(database_url)
    try:
        migrate.downgrade(engines.owner, "base")
        assert migrate.current_revision(engines.owner) is None
        assert set(inspect(engines.owner).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engines.owner)
        assert migrate.current_revision(engines.owner) == migrate.head_revision()
        assert set(inspect(engines.owner).get_table_names()) >= TABLES
    finally:
        engines.dispose()
    assert _diff(database_url) == []


def test_empty_sqlite_file_is_migrated_on_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'parloir.db'}"
    with Store.open(url) as store:
        assert store.current_revision() == migrate.head_revision()
        assert store.get_tenant().slug == "default"
    assert _diff(url) == []


@pytest.mark.postgresql
def test_postgres_not_at_head_is_refused_with_the_command_to_run(postgres_url):
    engines = _engines(postgres_url)
    try:
        migrate.downgrade(engines.owner, "base")
        with pytest.raises(SchemaError, match="parloir db upgrade"):
            Store.open(postgres_url)
        Store.open(postgres_url, migrate=True).close()
        assert migrate.current_revision(engines.owner) == migrate.head_revision()
    finally:
        engines.dispose()


def test_database_newer_than_the_code_is_refused(database_url):
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaError, match="newer"):
            Store.open(database_url, migrate=True)
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": migrate.head_revision()}
            )
        engine.dispose()
