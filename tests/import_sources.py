"""Source databases for the import tests: the seeds' DDL on SQLite files and on PostgreSQL.

A layout's DDL is written once with placeholders (``{serial}``, ``{ts}``, ``{json}``,
``{uuid}``) and adapted per engine. PostgreSQL sources live in a database of their own,
created and dropped by the fixture.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

PG_ENV = "PARLOIR_TEST_POSTGRES_URL"
TYPES = {
    "sqlite": {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "ts": "TIMESTAMP",
        "json": "TEXT",
        "uuid": "TEXT",
    },
    "postgresql": {
        "serial": "BIGSERIAL PRIMARY KEY",
        "ts": "TIMESTAMP WITH TIME ZONE",
        "json": "JSONB",
        "uuid": "UUID",
    },
}
Rows = Mapping[str, Sequence[Mapping[str, Any]]]
_names = itertools.count()


class SourceDB:
    """One source database: where it is, and how to fingerprint it (to prove it untouched)."""

    def __init__(self, kind: str, location: str, path: Path | None = None) -> None:
        self.kind = kind
        self.location = location
        self.path = path

    def fingerprint(self) -> str:
        if self.path is not None:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        import psycopg

        with psycopg.connect(self.location) as db:
            tables = db.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('public', 'auth') ORDER BY 1"
            ).fetchall()
            counts = [
                (
                    name,
                    db.execute(
                        f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {name} t"
                    ).fetchone(),
                )
                for (name,) in tables
            ]
        return repr(counts)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return value


def _fill_sqlite(path: Path, ddl: str, rows: Rows) -> None:
    db = sqlite3.connect(path)
    db.executescript(ddl.format(**TYPES["sqlite"]))
    for table, items in rows.items():
        for item in items:
            names = ", ".join(f'"{k}"' for k in item)
            marks = ", ".join("?" for _ in item)
            values = [_sqlite_value(v) for v in item.values()]
            db.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)
    db.commit()
    db.close()


def _fill_postgres(url: str, ddl: str, rows: Rows) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(ddl.format(**TYPES["postgresql"]))
        for table, items in rows.items():
            quoted = ".".join(f'"{p}"' for p in table.split("."))
            for item in items:
                names = ", ".join(f'"{k}"' for k in item)
                marks = ", ".join("%s" for _ in item)
                values = [Jsonb(v) if isinstance(v, dict | list) else v for v in item.values()]
                db.execute(f"INSERT INTO {quoted} ({names}) VALUES ({marks})", values)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="from-sqlite"),
        pytest.param("postgresql", id="from-postgresql"),
    ]
)
def source_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_source(source_kind: str, tmp_path: Path) -> Iterator[Callable[[str, Rows], SourceDB]]:
    """Build a source database of ``source_kind`` from DDL and rows."""
    created: list[str] = []
    base = os.environ.get(PG_ENV)

    def make(ddl: str, rows: Rows) -> SourceDB:
        if source_kind == "sqlite":
            path = tmp_path / f"source{next(_names)}.db"
            _fill_sqlite(path, ddl, rows)
            return SourceDB("sqlite", str(path), path)
        if not base:
            pytest.skip(f"{PG_ENV} is not set")
        import psycopg

        name = f"parloir_src_{os.getpid()}_{next(_names)}"
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = base.rsplit("/", 1)[0] + "/" + name
        _fill_postgres(url, ddl, rows)
        return SourceDB("postgresql", url)

    yield make
    if created and base:
        import psycopg

        with psycopg.connect(base, autocommit=True) as admin:
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def skip_on(kind: str, source: str, reason: str) -> bool:
    """True (and the row is left out) when ``source`` cannot hold a value, e.g. NUL on PG."""
    return kind == source and bool(reason)
