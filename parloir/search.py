"""Full-text search over message content, within one tenant, ranked, one page at a time.

The index is the database's own (see :mod:`parloir.db.search_index`): FTS5 ranked by
``bm25()`` on SQLite, a GIN-indexed ``tsvector`` ranked by ``ts_rank_cd()`` on PostgreSQL.
Scores are turned so that higher is better on both. A page is found in one statement; its
snippets (``snippet()`` / ``ts_headline()``) are made by a second one for the page's rows
only, since building a snippet costs more than ranking.

Ranking every match of a common word would cost time in proportion to the whole table, so a
search ranks the :data:`RANK_WINDOW` most recent matches of the tenant (after the filters),
:data:`PREFIX_WINDOW` for a query with a prefix: exact for any query with fewer matches, and
"the best of the latest" for the others. The window is found without ranking everything:
FTS5 walks its rowids (insertion order) backwards, and PostgreSQL either walks the
``(tenant_id, created_at)`` index backwards, checking each row against the query (common
words), or sorts the few rows the GIN index finds (rare words); it does so, and ranks the
window, in ``parloir_search_window()``, planned for the actual words, because under
row-level security it could not use the GIN index (``@@`` is not leakproof). Only the
window's rows are ranked, and only the page's rows are read in full.

Pages are ordered by score, then newest first; the cursor is the last hit's (score, id), so
the next page starts strictly after it (keyset pagination, no offsets). Scores depend on the
whole index (term frequencies), so a page walk is exact while the index does not change;
messages written during a walk can move hits across a page boundary.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from typing import Any, get_args

from sqlalchemy import Integer, Select, and_, bindparam, cast, func, literal_column, or_, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import REAL, REGCONFIG, TEXT, TIMESTAMP
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from parloir.config import LANGUAGE_PATTERN
from parloir.db.search_index import FTS_TABLE, SEARCH_COLUMN
from parloir.db.tables import CONVERSATIONS, MESSAGES
from parloir.errors import ConfigError, InvalidInputError
from parloir.inputs import Role
from parloir.schemas import Page, SearchHit
from parloir.scope import Scope
from parloir.search_query import ParsedQuery, parse_query

__all__ = ["MARK_END", "MARK_START", "SearchFilters", "search_messages"]

MAX_LIMIT = 100
RANK_WINDOW = 5_000
"""How many of the most recent matches a search ranks (see the module's docstring)."""
PREFIX_WINDOW = 2_500
"""The same for a query with a prefix term to look for. Its matches cost more to find than a
word's: FTS5 merges the lists of every word with the prefix, and PostgreSQL, whose GIN index
would do the same, checks the newest messages one by one until the window is full, a walk
as long as the window."""
SNIPPET_TOKENS = 24
MARK_START = "\ue000"
MARK_END = "\ue001"
"""Private-use characters that delimit matches in the database's snippets."""

_HEADLINE = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_TOKENS}, MinWords=8"
_FTS = sql_table(FTS_TABLE, sql_column("rowid", Integer))
_FTS_COLUMN: Any = literal_column(FTS_TABLE)
_ROWID: Any = literal_column("messages.rowid")
_PAGE_ROWID: Any = literal_column(f"+{FTS_TABLE}.rowid")
_VECTOR: Any = literal_column(f"messages.{SEARCH_COLUMN}")
_m = MESSAGES.c
_c = CONVERSATIONS.c

SearchFilters = dict[str, Any]
"""agent_id, channel, role, contact_id, since, until: None means any."""


def search_messages(
    scope: Scope,
    query: str,
    filters: SearchFilters,
    *,
    language: str,
    limit: int,
    cursor: str | None,
    markers: tuple[str, str],
) -> Page[SearchHit]:
    """One page of the tenant's messages matching ``query``, best first."""
    parsed = parse_query(query)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError.single("limit", "range", f"must be between 1 and {MAX_LIMIT}")
    if filters.get("role") is not None and filters["role"] not in get_args(Role):
        raise InvalidInputError.single("role", "one_of", f"must be one of {get_args(Role)}")
    after = decode_search_cursor(cursor) if cursor is not None else None
    if scope.dialect == "sqlite":
        match, score, key = _sqlite_terms(parsed)
    else:
        match, score, key = _postgres_terms(parsed, language)
    size = PREFIX_WINDOW if parsed.has_prefix else RANK_WINDOW
    ranked = _ranked(scope, (match, score, key), filters, size, after, limit)
    rows = scope.session.execute(ranked).all()
    page = rows[:limit]
    snippets = _snippets(scope, parsed, language, [row.key for row in page])
    hits = [_hit(row, snippets.get(row.key, ""), markers) for row in page]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_search_cursor(page[-1].score, page[-1].id)
    return Page[SearchHit](items=hits, next_cursor=next_cursor)


def _sqlite_terms(parsed: ParsedQuery) -> tuple[Any, Any, Any]:
    match = _FTS_COLUMN.op("MATCH")(bindparam("fts_query", parsed.fts5()))
    # bm25() is lower for better matches: negated, higher is better as on PostgreSQL.
    return match, -func.bm25(_FTS_COLUMN), _ROWID


def _postgres_terms(parsed: ParsedQuery, language: str) -> tuple[Any, Any, Any]:
    tsquery = parsed.tsquery(_config(language))
    # The vector is ranked outside the window (see _ranked): the score is made from it there.
    return _VECTOR.op("@@")(tsquery), tsquery, _m.id


def _config(language: str) -> Any:
    """The text search configuration as a SQL literal, checked like ``Settings`` checks it.

    A literal ``'name'::regconfig`` is resolved once, when the statement is parsed, and the
    query's tsquery is then folded to a constant. A bound parameter cast to regconfig is only
    *stable* (it depends on search_path): PostgreSQL would rebuild the tsquery for every row
    it filters.
    """
    if not LANGUAGE_PATTERN.fullmatch(language):
        raise ConfigError(f"search_language {language!r} is not a configuration name")
    return literal_column(f"'{language}'::regconfig", REGCONFIG)


def _ranked(
    scope: Scope,
    terms: tuple[Any, Any, Any],
    filters: SearchFilters,
    size: int,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> Select[Any]:
    """The page: the window's best ``limit + 1`` hits after the cursor, then their columns.

    ``terms`` is (match, score, key) from ``_sqlite_terms`` or ``_postgres_terms``; ``size``
    the window's. The window holds only what ordering needs (id, score, key); the other
    columns are read for the page's rows alone.
    """
    match, score, key = terms
    if scope.dialect == "sqlite":
        window = _sqlite_window(scope, match, score, key, filters, size)
    else:
        window = _postgres_window(scope, score, filters, size)
    best = select(window)
    if after is not None:
        last: Any = bindparam("after_score", after[0])
        if scope.dialect == "postgresql":
            # ts_rank_cd() is a float4 read back as its shortest decimal: only as a float4
            # again does it equal the stored score.
            last = cast(last, REAL)
        condition = and_(window.c.score == last, window.c.id < after[1])
        best = best.where(or_(window.c.score < last, condition))
    order = (window.c.score.desc(), window.c.id.desc())
    top = best.order_by(*order).limit(limit + 1).subquery("top")
    row = _ROWID if scope.dialect == "sqlite" else _m.id
    source = top.join(MESSAGES, row == top.c.key).join(CONVERSATIONS, _c.id == _m.conversation_id)
    query = select(*_COLUMNS, *_CONVERSATION, top.c.score, top.c.key).select_from(source)
    query = query.where(_m.tenant_id == scope.tenant_id)
    return query.order_by(top.c.score.desc(), top.c.id.desc())


_COLUMNS = (_m.id, _m.conversation_id, _m.role, _m.seq, _m.created_at)
_CONVERSATION = (_c.agent_id, _c.channel, _c.contact_id)


def _sqlite_window(
    scope: Scope, match: Any, score: Any, key: Any, filters: SearchFilters, size: int
) -> Any:
    """The ``size`` most recent matches, ranked: FTS5 walks its rowids (insertion
    order) backwards without sorting. ``messages`` is read up to ``tenant_id`` (its columns
    before ``content``); ``conversations`` only for a filter on it."""
    source: Any = _FTS.join(MESSAGES, _FTS.c.rowid == _ROWID)
    equal = [(_c.agent_id, filters.get("agent_id")), (_c.channel, filters.get("channel"))]
    equal += [(_c.contact_id, filters.get("contact_id"))]
    if any(value is not None for _column, value in equal):
        source = source.join(CONVERSATIONS, _c.id == _m.conversation_id)
    window = (
        select(_m.id, score.label("score"), key.label("key"))
        .select_from(source)
        .where(match, _m.tenant_id == scope.tenant_id)
    )
    equal += [(_m.role, filters.get("role"))]
    window = scope.filtered(
        window, equal, _m.created_at, filters.get("since"), filters.get("until")
    )
    return window.order_by(_FTS.c.rowid.desc()).limit(size).subquery("latest")


def _postgres_window(scope: Scope, tsquery: Any, filters: SearchFilters, size: int) -> Any:
    """The ``size`` most recent matches' ids, with their scores.

    They come from ``parloir_search_window()`` (see ``parloir.db.search_index``), which can use
    the GIN index where row-level security would forbid it, and ranks the rows where it reads
    them: ``ts_rank_cd(vector, query, 1)``, normalisation 1 dividing by 1 + log(length) so
    that a long message does not win by length alone. The page's rows are then read under
    row-level security, by primary key.
    """
    found = func.parloir_search_window(
        tsquery,
        _typed("w_agent", filters.get("agent_id"), PG_UUID(as_uuid=True)),
        _typed("w_channel", filters.get("channel"), TEXT()),
        _typed("w_contact", filters.get("contact_id"), PG_UUID(as_uuid=True)),
        _typed("w_role", filters.get("role"), TEXT()),
        _typed("w_since", filters.get("since"), TIMESTAMP(timezone=True)),
        _typed("w_until", filters.get("until"), TIMESTAMP(timezone=True)),
        _typed("w_max", size, Integer()),
    ).table_valued(sql_column("id", PG_UUID(as_uuid=True)), sql_column("score", REAL()))
    return select(found.c.id, found.c.score, found.c.id.label("key")).subquery("latest")


def _typed(name: str, value: Any, kind: Any) -> Any:
    """A parameter cast to its SQL type, so that a NULL still picks the function."""
    return cast(bindparam(name, value), kind)


def _snippets(scope: Scope, parsed: ParsedQuery, language: str, keys: list[Any]) -> dict[Any, str]:
    """The page's snippets, matches between :data:`MARK_START` and :data:`MARK_END`."""
    if not keys:
        return {}
    if scope.dialect == "sqlite":
        match, _score, _key = _sqlite_terms(parsed)
        snippet = func.snippet(_FTS_COLUMN, 0, MARK_START, MARK_END, "…", SNIPPET_TOKENS)
        # One walk over the page's rowid range, not one query per rowid: given "rowid IN",
        # FTS5 runs the MATCH again for each, and a prefix merges its words' lists each time.
        # The unary + keeps the IN list from FTS5; it filters the walk's rows.
        inside = _FTS.c.rowid.between(min(keys), max(keys))
        query: Any = select(_FTS.c.rowid, snippet).where(match, inside, _PAGE_ROWID.in_(keys))
    else:
        config = _config(language)
        headline = func.ts_headline(config, _m.content, parsed.tsquery(config), _HEADLINE)
        query = select(_m.id, headline).where(_m.id.in_(keys), _m.tenant_id == scope.tenant_id)
    return {row[0]: row[1] for row in scope.session.execute(query)}


def _hit(row: Any, snippet: str, markers: tuple[str, str]) -> SearchHit:
    parts = split_snippet(snippet)
    marked = "".join(f"{markers[0]}{text}{markers[1]}" if hit else text for text, hit in parts)
    return SearchHit(
        message_id=row.id,
        conversation_id=row.conversation_id,
        agent_id=row.agent_id,
        contact_id=row.contact_id,
        channel=row.channel,
        role=row.role,
        seq=row.seq,
        created_at=row.created_at,
        score=float(row.score),
        snippet=marked,
        snippet_parts=parts,
    )


def split_snippet(snippet: str) -> list[tuple[str, bool]]:
    """Cut a marked snippet into (text, is_match) parts; empty parts are dropped."""
    parts: list[tuple[str, bool]] = []
    for i, chunk in enumerate(snippet.split(MARK_START)):
        inside, _, outside = chunk.partition(MARK_END) if i else ("", "", chunk)
        parts.extend((text, hit) for text, hit in ((inside, True), (outside, False)) if text)
    return parts


def encode_search_cursor(score: float, last_id: uuid.UUID) -> str:
    """An opaque cursor that resumes a search after the hit (score, id)."""
    raw = struct.pack(">d", score) + last_id.bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_search_cursor(cursor: str) -> tuple[float, uuid.UUID]:
    """Read a cursor made by :func:`encode_search_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 24:
            raise ValueError(cursor)
        (score,) = struct.unpack(">d", raw[:8])
        if score != score:  # NaN: never made by encode
            raise ValueError(cursor)
        return score, uuid.UUID(bytes=raw[8:])
    except (ValueError, binascii.Error, TypeError):
        raise InvalidInputError.single("cursor", "valid_cursor", "is not a valid cursor") from None
