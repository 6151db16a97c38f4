"""Store methods for full-text search over message content."""

from __future__ import annotations

import uuid
from datetime import datetime

from parloir import search
from parloir.db.search_index import rebuild_statements
from parloir.schemas import Page, SearchHit
from parloir.store_base import StoreBase
from parloir.validation import require_aware

__all__ = ["SearchMixin"]

DEFAULT_MARKERS = ("[", "]")


class SearchMixin(StoreBase):
    def search(
        self,
        query: str,
        *,
        agent_id: uuid.UUID | None = None,
        channel: str | None = None,
        role: str | None = None,
        contact_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
        markers: tuple[str, str] = DEFAULT_MARKERS,
    ) -> Page[SearchHit]:
        """Messages of this tenant whose content matches ``query``, best match first.

        ``query`` takes words (all required), ``"quoted phrases"``, ``OR`` between terms,
        ``-excluded`` terms and ``prefix*`` words; nothing in it is ever a syntax error, but a
        query with no word to look for raises ``InvalidInputError`` on ``query``. Filters
        narrow by conversation (agent, channel, contact), by role, and by creation time
        (``since`` inclusive, ``until`` exclusive). Pass ``page.next_cursor`` back for the
        next page. Matches in each hit's snippet are wrapped in ``markers``.
        """
        require_aware("since", since)
        require_aware("until", until)
        filters: search.SearchFilters = {
            "agent_id": agent_id,
            "channel": channel,
            "role": role,
            "contact_id": contact_id,
            "since": since,
            "until": until,
        }
        with self._read() as scope:
            return search.search_messages(
                scope,
                query,
                filters,
                language=self.settings.search_language,
                limit=limit,
                cursor=cursor,
                markers=markers,
            )

    def rebuild_search_index(self) -> None:
        """Rebuild the full-text index of every tenant's messages from their content.

        Needed only after ``search_language`` changed (PostgreSQL), or if the index was
        damaged (SQLite). One transaction; it rewrites the whole index.
        """
        with self._write() as scope:
            for statement in rebuild_statements(scope.dialect):
                scope.session.exec_driver_sql(statement)
