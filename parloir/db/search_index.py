"""The full-text index of message content, kept in step by the database itself.

SQLite: an FTS5 table ``messages_fts`` with *external content* on ``messages``: it stores only
the inverted index and reads text back from ``messages`` through its implicit ``rowid``.
Triggers keep it in step inside the transaction that writes the message (insert, delete,
update of ``content``), so the code that appends messages knows nothing about it. The
tokenizer is ``unicode61`` with ``remove_diacritics 2`` (``cafe`` finds ``café``, and unlike
``1`` also for letters whose diacritic is a separate code point after normalisation), and
the ``So`` (other symbol) category added to the token characters so that emoji are words.

PostgreSQL: a ``tsvector`` column ``messages.search_vector`` with a GIN index, filled by a
``BEFORE INSERT OR UPDATE OF content`` trigger. The text search configuration (language) is
read by the trigger from the connection's ``parloir.search_language`` setting, which every
parloir connection sets from ``Settings.search_language`` (default ``simple``); rows written
without it (plain SQL) use ``simple``. A stored vector (rather than an expression index)
lets ranking read the vector instead of parsing every matching text again.

Neither object is in the ORM models: :func:`include_object` hides them from Alembic's
comparison of models and database (``env.py`` and ``tests/test_migrations.py`` use it).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FTS_TABLE",
    "LANGUAGE_SETTING",
    "SEARCH_COLUMN",
    "include_object",
    "postgres_ddl",
    "postgres_drop",
    "rebuild_statements",
    "sqlite_ddl",
    "sqlite_drop",
    "sqlite_has_fts5",
]

FTS_TABLE = "messages_fts"
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_messages_search_vector"
LANGUAGE_SETTING = "parloir.search_language"
TOKENIZE = "unicode61 remove_diacritics 2 categories 'L* N* Co So'"

_FTS_DELETE = (
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content) "
    "VALUES ('delete', old.rowid, old.content);"
)
_FTS_INSERT = f"INSERT INTO {FTS_TABLE}(rowid, content) VALUES (new.rowid, new.content);"


def sqlite_has_fts5(connection: Any) -> bool:
    """True if this SQLite has FTS5 (its module registers the SQL function ``fts5``)."""
    try:
        connection.exec_driver_sql("SELECT fts5(NULL)")
    except Exception:
        return False
    return True


def sqlite_ddl() -> list[str]:
    """Create the FTS5 table and its triggers, and index the messages already stored."""
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(content, content='messages', "
        f"content_rowid='rowid', tokenize=\"{TOKENIZE}\")",
        f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN {_FTS_INSERT} END",
        # 'delete' must reach an external-content index while the old text is still known.
        f"CREATE TRIGGER {FTS_TABLE}_delete BEFORE DELETE ON messages BEGIN {_FTS_DELETE} END",
        f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF content ON messages "
        f"BEGIN {_FTS_DELETE} {_FTS_INSERT} END",
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
    ]


def sqlite_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
    ]


_PG_LANGUAGE = f"COALESCE(NULLIF(current_setting('{LANGUAGE_SETTING}', true), ''), 'simple')"
_PG_FUNCTION = f"""
CREATE FUNCTION messages_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.{SEARCH_COLUMN} := to_tsvector({_PG_LANGUAGE}::regconfig, NEW.content);
    RETURN NEW;
END
$$"""


def postgres_ddl() -> list[str]:
    """Add the vector column, its trigger and GIN index; fill it for stored messages."""
    return [
        f"ALTER TABLE messages ADD COLUMN {SEARCH_COLUMN} tsvector",
        _PG_FUNCTION,
        "CREATE TRIGGER messages_search_vector BEFORE INSERT OR UPDATE OF content ON messages "
        "FOR EACH ROW EXECUTE FUNCTION messages_search_vector()",
        f"UPDATE messages SET {SEARCH_COLUMN} = to_tsvector({_PG_LANGUAGE}::regconfig, content)",
        f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_COLUMN})",
    ]


def postgres_drop() -> list[str]:
    return [
        f"DROP INDEX IF EXISTS {SEARCH_INDEX}",
        "DROP TRIGGER IF EXISTS messages_search_vector ON messages",
        "DROP FUNCTION IF EXISTS messages_search_vector()",
        f"ALTER TABLE messages DROP COLUMN IF EXISTS {SEARCH_COLUMN}",
    ]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave out the search index, which the models do not describe.

    That is the FTS5 table with its shadow tables (``messages_fts_data``, ``_idx``,
    ``_docsize``, ``_config``) on SQLite, and the vector column and its index on PostgreSQL.
    """
    if type_ == "table" and name is not None and name.startswith(FTS_TABLE):
        return False
    if type_ == "column" and name == SEARCH_COLUMN:
        return False
    return not (type_ == "index" and name == SEARCH_INDEX)


def rebuild_statements(dialect: str) -> list[str]:
    """Re-index every message (the language of this connection on PostgreSQL)."""
    if dialect == "sqlite":
        return [f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"]
    return [
        f"UPDATE messages SET {SEARCH_COLUMN} = to_tsvector({_PG_LANGUAGE}::regconfig, content)"
    ]
