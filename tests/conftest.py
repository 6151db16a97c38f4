"""Shared fixtures: the same suite runs on a temporary SQLite file and on PostgreSQL.

PostgreSQL comes from ``PARLOIR_TEST_POSTGRES_URL``. Without it the PostgreSQL half of the
suite is skipped with a visible reason, except when ``CI`` is true: there a missing or
unreachable server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from parloir import Store
from parloir.config import Settings
from parloir.db import migrate
from parloir.db.engine import create_engines

PG_ENV = "PARLOIR_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 15, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's parloir settings."""
    for name in list(os.environ):
        if (name.startswith("PARLOIR_") and name != PG_ENV) or name == "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "parloir.db"
    Store.open(f"sqlite:///{path}").close()
    return path


def _pg_admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to head."""
    base = os.environ.get(PG_ENV)
    if not base:
        if IN_CI:
            pytest.fail(f"{PG_ENV} is not set: PostgreSQL tests cannot be skipped in CI")
        pytest.skip(f"{PG_ENV} is not set")
    url = Settings(database_url=base).database_url
    name = f"parloir_test_{os.getpid()}"
    admin = create_engine(_pg_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {base} is unreachable: {error}")
        pytest.skip(f"PostgreSQL at {base} is unreachable: {error}")
    test_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    engines = create_engines(Settings(database_url=test_url))
    migrate.upgrade(engines.owner)
    engines.dispose()
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE tenants CASCADE"))
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, slug, metadata, created_at, updated_at) VALUES "
                "('00000000-0000-7000-8000-000000000001', 'Default', 'default', '{}', now(), now())"
            )
        )
    engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at head: a SQLite file, or the reset PostgreSQL test database."""
    if request.param == "sqlite":
        path = tmp_path / "parloir.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[..., Store]]:
    """Open stores on the test database; all are closed at teardown."""
    opened: list[Store] = []

    def _open(**kwargs: object) -> Store:
        store = Store.open(database_url, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store], clock: FakeClock, tmp_path: Path) -> Store:
    """A store on the test database with a fake clock (its home, where an erasure writes its
    journal, is a temporary folder)."""
    return make_store(clock=clock, settings=Settings(home=tmp_path / "home"))


@pytest.fixture
def agent_id(store: Store) -> uuid.UUID:
    return store.create_agent(name="helper", instructions="Be brief.", model="gpt-4o-mini").id


@pytest.fixture
def conversation_id(store: Store, agent_id: uuid.UUID) -> uuid.UUID:
    return store.get_or_create_conversation(
        agent_id=agent_id, channel="telegram", external_id="chat-1"
    ).id


@pytest.fixture
def api(store: Store) -> Iterator[object]:
    """A TestClient over the REST application on the test database (fake clock)."""
    from fastapi.testclient import TestClient

    from parloir.server.app import create_app

    with TestClient(create_app(store)) as client:
        yield client
