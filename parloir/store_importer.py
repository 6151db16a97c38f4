"""Store methods to import other chatbot databases and to export conversations."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from parloir import exporting, rollups_fold, rollups_rebuild
from parloir.errors import InvalidInputError
from parloir.importers import ImportOptions, ImportReport, run_import
from parloir.store_base import StoreBase
from parloir.validation import require_aware

__all__ = ["ImportExportMixin"]


class ImportExportMixin(StoreBase):
    def import_source(
        self,
        source: str,
        *,
        dry_run: bool = False,
        options: ImportOptions | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import another chatbot's database into this tenant; the source is never written.

        Args:
            source: a SQLite file path, a PostgreSQL URL, or a ``.jsonl`` file (OpenAI-format
                conversations, as ``export_conversations`` writes them).
            dry_run: count what would be imported, write nothing.
            options: chunk size, forced layout, cost unit (:class:`ImportOptions`).
            progress: called with the number of source rows read after each chunk.
            on_total: called once with the number of source rows the run will read.

        Importing the same source again imports nothing: every row gets a deterministic id.
        """
        settings = self._shared.settings
        report = run_import(
            self._shared.engines.write,
            source,
            admin_engine=self._shared.engines.admin,
            tenant_id=self._tenant_id,
            now=self._shared.clock(),
            max_content_length=settings.max_content_length,
            capture_prompts=settings.capture_prompts,
            dry_run=dry_run,
            options=options,
            progress=progress,
            on_total=on_total,
        )
        if not dry_run:
            # Imported rows are written in bulk; the statistics are recounted from the raw rows.
            with self._write() as scope:
                rollups_fold.fold(scope.session)  # a rebuild must leave nothing to fold
                rollups_rebuild.rebuild(scope.session, self._tenant_id)
            self._refresh_statistics()
        return report

    def _refresh_statistics(self) -> None:
        """After a bulk load, give SQLite's planner statistics (sampled: fast on big files),
        as autovacuum does on PostgreSQL; without them it may pick a tenant-wide index for a
        per-conversation read."""
        if self.dialect == "sqlite":
            with self._shared.engines.write.connect() as connection:
                connection.exec_driver_sql("PRAGMA analysis_limit=400")
                connection.exec_driver_sql("ANALYZE")

    def export_conversations(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
        since: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Yield this tenant's conversations, oldest first, as OpenAI-format export lines.

        Each item has the conversation's fields, its ``agent`` and ``contact``, its
        ``messages`` (``role``, ``content`` and parloir's fields), its ``llm_calls`` and its
        ``feedback`` (linked to a message by ``message_seq``). Filters: the agent, the
        contact, conversations created at or after ``since``. Pages of ``page_size``
        conversations are read in short transactions (keyset pagination on the id).
        """
        require_aware("since", since)
        if not 1 <= page_size <= 10_000:
            raise InvalidInputError.single("page_size", "range", "must be 1 to 10000")
        after: uuid.UUID | None = None
        while True:
            with self._read() as scope:
                page = exporting.export_page(
                    scope,
                    after=after,
                    limit=page_size,
                    agent_id=agent_id,
                    contact_id=contact_id,
                    since=since,
                )
            yield from page
            if len(page) < page_size:
                return
            after = uuid.UUID(page[-1]["id"])
