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

from parloir.db.engine import ADMIN_ROLE, APP_ROLE, TENANT_SETTING
from parloir.db.tables_analytics import WATERMARK_TABLE

__all__ = [
    "FTS_TABLE",
    "LANGUAGE_SETTING",
    "SEARCH_COLUMN",
    "include_object",
    "postgres_ddl",
    "postgres_drop",
    "postgres_window_ddl",
    "postgres_window_drop",
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


WINDOW_FUNCTION = "parloir_search_window"
_WINDOW_ARGS = (
    "q tsquery, agent uuid, chan text, contact uuid, msg_role text, "
    "since timestamptz, until timestamptz, max_rows integer"
)
_WINDOW_SIGNATURE = (
    f"{WINDOW_FUNCTION}(tsquery, uuid, text, uuid, text, timestamptz, timestamptz, integer)"
)


def _window_body(ranked: bool) -> str:
    """The function's body; ``ranked`` (revision 0008) also ranks the window's rows."""
    if ranked:
        # Ranked outside the window's subquery: in its select list PostgreSQL would rank
        # every match before sorting them by time.
        head = "'SELECT w.id, ts_rank_cd(w.vector, %L::tsquery, 1) FROM (SELECT m.id, "
        head += f"m.{SEARCH_COLUMN} AS vector FROM messages m'"
        tail = "' ORDER BY m.created_at DESC LIMIT %s) w'"
        values = "q, tenant, tenant, q"
    else:
        head, tail, values = (
            "'SELECT m.id FROM messages m'",
            "' ORDER BY m.created_at DESC LIMIT %s'",
            "tenant, tenant, q",
        )
    return f"""
DECLARE
    tenant uuid := NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid;
    sql text;
BEGIN
    IF tenant IS NULL THEN
        RETURN;
    END IF;
    -- The values are written into the statement, so that it is planned for them.
    sql := format({head} || ' JOIN conversations c ON c.id = m.conversation_id'
        || ' WHERE m.tenant_id = %L AND c.tenant_id = %L AND m.{SEARCH_COLUMN} @@ %L::tsquery',
        {values});
    IF agent IS NOT NULL THEN sql := sql || format(' AND c.agent_id = %L', agent); END IF;
    IF chan IS NOT NULL THEN sql := sql || format(' AND c.channel = %L', chan); END IF;
    IF contact IS NOT NULL THEN sql := sql || format(' AND c.contact_id = %L', contact); END IF;
    IF msg_role IS NOT NULL THEN sql := sql || format(' AND m.role = %L', msg_role); END IF;
    IF since IS NOT NULL THEN
        sql := sql || format(' AND m.created_at >= %L::timestamptz', since);
    END IF;
    IF until IS NOT NULL THEN
        sql := sql || format(' AND m.created_at < %L::timestamptz', until);
    END IF;
    RETURN QUERY EXECUTE sql || format({tail}, max_rows);
END
"""


def postgres_window_ddl(schema: str, *, ranked: bool = True) -> list[str]:
    """The function that finds a search's window: the ids of the most recent matches of the
    transaction's tenant, with their scores (``ranked``, revision 0008; revision 0007's
    returned the ids alone, and the rows were read again to be ranked).

    Under row-level security PostgreSQL evaluates the policy before any condition whose
    operator is not *leakproof*, and ``@@`` is not: a search as ``parloir_app`` could not use
    the GIN index and read every message of the tenant. This function runs as
    ``parloir_admin`` (``SECURITY DEFINER``), whose policy does not restrict rows, and confines
    itself to the tenant of the same ``parloir.tenant_id`` setting the policies read: with
    none set it returns nothing. Each call plans a statement with its values written in
    (``format('%L')``), so that a common word and a rare one get different plans. Only
    ``parloir_app`` may call it; the rows of the page it returns are then read under
    row-level security. The window is ranked where its vectors were just read, rather than
    read again by id to be ranked.
    """
    columns = "id uuid, score real" if ranked else "id uuid"
    return [
        f"CREATE FUNCTION {WINDOW_FUNCTION}({_WINDOW_ARGS}) RETURNS TABLE ({columns}) "
        f"LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp "
        f"AS $body${_window_body(ranked)}$body$",
        f"REVOKE ALL ON FUNCTION {_WINDOW_SIGNATURE} FROM PUBLIC",
        # Changing the owner needs the new owner to be allowed to create in the schema.
        f"GRANT CREATE ON SCHEMA {schema} TO {ADMIN_ROLE}",
        f"ALTER FUNCTION {_WINDOW_SIGNATURE} OWNER TO {ADMIN_ROLE}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {ADMIN_ROLE}",
        f"GRANT EXECUTE ON FUNCTION {_WINDOW_SIGNATURE} TO {APP_ROLE}",
    ]


def postgres_window_drop() -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {_WINDOW_SIGNATURE}"]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave out what the models do not describe.

    That is the search index: the FTS5 table with its shadow tables (``messages_fts_data``,
    ``_idx``, ``_docsize``, ``_config``) on SQLite, and the vector column and its index on
    PostgreSQL; and SQLite's rollup watermark (``parloir.rollups_fold``).
    """
    if type_ == "table" and name is not None:
        return not (name.startswith(FTS_TABLE) or name == WATERMARK_TABLE)
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
