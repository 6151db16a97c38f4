"""Store methods to import other chatbot databases and to export conversations."""

from __future__ import annotations

from collections.abc import Callable

from parloir.importers import ImportOptions, ImportReport, run_import
from parloir.store_base import StoreBase

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
        return run_import(
            self._shared.engines.write,
            source,
            tenant_id=self._tenant_id,
            now=self._shared.clock(),
            max_content_length=settings.max_content_length,
            dry_run=dry_run,
            options=options,
            progress=progress,
            on_total=on_total,
        )
