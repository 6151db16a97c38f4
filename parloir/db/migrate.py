"""Run the Alembic migrations that live inside the package.

Alembic is driven programmatically: the caller's connection is handed to ``env.py`` through
``config.attributes["connection"]``, so a migration runs in the same transaction discipline as
everything else (``BEGIN IMMEDIATE`` on SQLite). SQLite cannot alter tables in place and Alembic
rebuilds them ("batch" mode); foreign keys are switched off around that, as SQLite's own
documentation prescribes, and checked afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from parloir.errors import SchemaError

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic config for parloir's migrations, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision``."""
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` empties it)."""
    _run(engine, lambda config: command.downgrade(config, revision))


def check_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema is at head: upgrade it if allowed, else raise ``SchemaError``."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaError(
            f"the database is at revision {current}, newer than this version of parloir "
            f"(head {head}): upgrade parloir"
        )
    if not auto_upgrade:
        raise SchemaError(
            f"the database is at revision {current or 'empty'}, not {head}: "
            "run `parloir db upgrade`"
        )
    upgrade(engine)


def _run(engine: Engine, action: Callable[[Config], None]) -> None:
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                action(alembic_config(connection))
            if sqlite:
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.commit()
                if problems:
                    raise SchemaError(f"foreign key check failed after migration: {problems[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
