"""Read-only access to an import source: a SQLite file, a PostgreSQL database, a JSONL file.

A source is never written: SQLite is opened through a ``mode=ro`` URI, PostgreSQL in
read-only transactions. Rows come back in chunks (``fetchmany`` on SQLite, a server-side
cursor on PostgreSQL) as dicts keyed by column name, so memory stays bounded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from parloir.errors import InvalidInputError

__all__ = ["Source", "open_source"]

Row = dict[str, Any]


class Source:
    """A database to import from: its tables, their columns, and chunked reads."""

    kind = "sqlite"

    def __init__(self, location: str) -> None:
        self.location = location

    def tables(self) -> set[str]:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def rows(self, sql: str, chunk: int) -> Iterator[list[Row]]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        for chunk in self.rows(f"SELECT COUNT(*) AS n FROM {quote_name(table)}", 1):
            return int(chunk[0]["n"])
        return 0

    def close(self) -> None:
        raise NotImplementedError


def quote_name(name: str) -> str:
    """A table name quoted for SQL (``auth.users`` keeps its schema)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class SQLiteSource(Source):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        self._uri = uri
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        return {name for (name,) in rows}

    def columns(self, table: str) -> list[str]:
        rows = self._db.execute(f"PRAGMA table_info({quote_name(table)})").fetchall()
        return [row[1] for row in rows]

    def rows(self, sql: str, chunk: int) -> Iterator[list[Row]]:
        done = 0
        try:
            for batch in _read(self._db, sql, chunk, 0):
                done += len(batch)
                yield batch
        except sqlite3.OperationalError as error:
            if "decode" not in str(error):
                raise
            # Invalid UTF-8 somewhere: read on with a slower decoder that keeps it visible.
            slow = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            slow.text_factory = _text
            try:
                yield from _read(slow, sql, chunk, done)
            finally:
                slow.close()

    def close(self) -> None:
        self._db.close()


def _read(db: sqlite3.Connection, sql: str, chunk: int, skip: int) -> Iterator[list[Row]]:
    cursor = db.execute(sql)
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(chunk):
        if skip >= len(batch):
            skip -= len(batch)
            continue
        yield [dict(zip(names, row, strict=True)) for row in batch[skip:]]
        skip = 0
    cursor.close()


def _text(raw: bytes) -> str:
    """SQLite text as str; invalid UTF-8 is kept visible (and later refused) rather than
    failing the whole read."""
    return raw.decode("utf-8", "surrogateescape")


class PostgresSource(Source):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__(url)
        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._db = psycopg.connect(conninfo, autocommit=False)
        self._db.read_only = True
        self._counter = 0

    def tables(self) -> set[str]:
        sql = (
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        with self._db.cursor() as cursor:
            found = cursor.execute(sql).fetchall()
        self._db.rollback()
        visible = self._visible_schemas()
        out: set[str] = set()
        for schema, name in found:
            out.add(f"{schema}.{name}")
            if schema in visible:
                out.add(name)
        return out

    def _visible_schemas(self) -> set[str]:
        with self._db.cursor() as cursor:
            row = cursor.execute("SELECT current_schemas(false)").fetchone()
        self._db.rollback()
        return set(row[0]) if row else set()

    def columns(self, table: str) -> list[str]:
        with self._db.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {quote_name(table)} LIMIT 0")
            names = [d.name for d in cursor.description or ()]
        self._db.rollback()
        return names

    def rows(self, sql: str, chunk: int) -> Iterator[list[Row]]:
        self._counter += 1
        # A named (server-side) cursor streams; the read-only transaction holds one snapshot.
        with self._db.cursor(name=f"parloir_import_{self._counter}") as cursor:
            cursor.itersize = chunk
            cursor.execute(sql)
            names: list[str] | None = None
            while batch := cursor.fetchmany(chunk):
                if names is None:
                    names = [d.name for d in cursor.description or ()]
                yield [dict(zip(names, row, strict=True)) for row in batch]
        self._db.rollback()

    def close(self) -> None:
        self._db.close()


class JsonlSource(Source):
    """A file of JSON lines (one conversation per line); read by the JSONL layout."""

    kind = "jsonl"

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path

    def tables(self) -> set[str]:
        return {"<jsonl>"}

    def columns(self, table: str) -> list[str]:
        return []

    def lines(self) -> Iterator[tuple[int, str]]:
        with self.path.open(encoding="utf-8", errors="surrogateescape") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line

    def count(self, table: str) -> int:
        with self.path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    def close(self) -> None:
        return None


def open_source(location: str) -> Source:
    """Open ``location``: a PostgreSQL URL, a ``.jsonl`` file or a SQLite file (read-only)."""
    if location.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        if location.startswith("postgres://"):
            location = "postgresql://" + location[len("postgres://") :]
        return PostgresSource(location)
    path = Path(location.removeprefix("sqlite:///"))
    if not path.is_file():
        raise InvalidInputError.single("source", "exists", f"no file {location!r}")
    if path.suffix in (".jsonl", ".ndjson"):
        return JsonlSource(path)
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise InvalidInputError.single(
                "source", "format", f"{location!r} is neither a SQLite file nor JSON lines"
            )
    return SQLiteSource(path)
