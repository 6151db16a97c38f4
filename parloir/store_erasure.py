"""Store methods for erasure (one person's data) and retention (per-agent policies)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from parloir import compaction, erasure, erasure_journal, exporting, retention
from parloir.db.errors import translate_db_errors
from parloir.errors import InvalidInputError, NotFoundError
from parloir.schemas_erasure import (
    CompactionReport,
    ErasureReport,
    RetentionPolicyRead,
    RetentionReport,
)
from parloir.store_base import StoreBase

__all__ = ["ErasureMixin"]


class ErasureMixin(StoreBase):
    def erase_contact(
        self,
        contact_id: uuid.UUID,
        *,
        actor: str | None = None,
        reason: str | None = None,
        correlation_id: str | None = None,
    ) -> ErasureReport:
        """Erase a person: their contact, conversations, messages, sessions, retrievals,
        feedback, posts, search entries and the audit events about them, in one transaction.

        Model calls stay in the ledger with their prompts, responses and links removed; the
        statistics keep their totals. A journal entry (ids only) and an audit event (whose
        subject is the journal entry) are written in the same transaction, and the entry is
        appended to the journal file after the commit. Erasing again is a no-op reported as
        ``already_erased``; an unknown id that is not in the journal is ``NotFoundError``.
        On SQLite the transaction runs with ``PRAGMA secure_delete=ON``; run
        :meth:`compact` afterwards to clear the file's free pages, WAL and FTS segments.
        ``correlation_id`` (such as a request id) is kept on the audit event.
        """
        for name, value in (("actor", actor), ("correlation_id", correlation_id)):
            if value is not None and len(value) > 255:
                raise InvalidInputError.single(name, "max_length", "at most 255 characters")
        if reason is not None and len(reason) > 1000:
            raise InvalidInputError.single("reason", "max_length", "at most 1000 characters")
        with translate_db_errors(), self._shared.engines.write.connect() as connection:
            connection.execution_options(**self._tenant_option())
            driver: Any = connection.connection.driver_connection
            sqlite = self.dialect == "sqlite"
            if sqlite:
                driver.execute("PRAGMA secure_delete=ON")
            try:
                with connection.begin():
                    report, entry = erasure.erase_contact(
                        self._scope(connection),
                        contact_id,
                        actor=actor,
                        reason=reason,
                        correlation_id=correlation_id,
                    )
            finally:
                if sqlite:
                    driver.execute("PRAGMA secure_delete=OFF")
        if entry is not None:
            erasure_journal.append(self.settings.erasure_journal_path, entry)
        return report

    def find_contact_id(self, channel: str, external_id: str) -> uuid.UUID:
        """The id of the contact with this channel and external id (``NotFoundError``)."""
        with self._read() as scope:
            from parloir import conversations

            contact = conversations.find_contact(scope, channel, external_id)
        if contact is None:
            raise NotFoundError("contact", f"{channel}:{external_id}")
        return contact.id

    def replay_erasures(self, journal: Path | None = None, *, compact: bool = True) -> int:
        """Re-apply the erasure journal (database table and file) to this database: call it
        after restoring a backup, before serving; then :meth:`compact` runs if anything was
        removed (unless ``compact`` is false). Returns the entries that removed something."""
        return erasure_journal.replay_erasures(self, journal, compact=compact)

    def compact(self) -> CompactionReport:
        """The byte-level procedure after an erasure: on SQLite FTS 'optimize', WAL
        checkpoint, ``VACUUM`` (FTS rebuilt if rowids moved), checkpoint; on PostgreSQL
        ``VACUUM`` of the tables an erasure touches."""
        if self.dialect == "sqlite":
            return compaction.compact_sqlite(self._shared.engines.write)
        return compaction.vacuum_postgres(self._shared.engines.owner)  # VACUUM: the owner

    def set_retention_policy(
        self,
        agent_id: uuid.UUID,
        *,
        drop_content_after_days: int | None = None,
        delete_after_days: int | None = None,
    ) -> RetentionPolicyRead | None:
        """Set an agent's retention policy (days, 1 to 36500); both None removes it."""
        with self._write() as scope:
            return retention.set_policy(scope, agent_id, drop_content_after_days, delete_after_days)

    def get_retention_policy(self, agent_id: uuid.UUID) -> RetentionPolicyRead | None:
        """An agent's retention policy, or None."""
        with self._read() as scope:
            return retention.get_policy(scope, agent_id)

    def list_retention_policies(self) -> list[RetentionPolicyRead]:
        """Every retention policy of this tenant."""
        with self._read() as scope:
            return retention.list_policies(scope)

    def apply_retention(
        self, *, dry_run: bool = False, archive: Path | None = None
    ) -> RetentionReport:
        """Apply this tenant's retention policies now, in one transaction, and purge expired
        sessions. ``dry_run`` reports what would go and changes nothing. ``archive`` first
        writes the conversations about to be deleted or emptied as export JSON lines. On
        SQLite the free pages are then given back (``PRAGMA incremental_vacuum``)."""
        now = self._shared.clock()
        if archive is not None:
            self._archive(archive, now)
        with translate_db_errors(), self._shared.engines.write.connect() as connection:
            connection.execution_options(**self._tenant_option())
            transaction = connection.begin()
            try:
                report = retention.apply(self._scope(connection), now, dry_run=dry_run)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        if dry_run or self.dialect != "sqlite":
            return report
        mode, freed = compaction.incremental_vacuum(self._shared.engines.write)
        return report.model_copy(update={"auto_vacuum": mode, "pages_freed": freed})

    def _archive(self, path: Path, now: Any) -> None:
        """Write the conversations a run at ``now`` touches to ``path`` (atomically)."""
        with self._read() as scope:
            ids = retention.plan(scope, now)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for part in erasure.chunks(ids):
                with self._read() as scope:
                    lines = exporting.export_page(
                        scope, after=None, limit=len(part), conversation_ids=part
                    )
                for line in lines:
                    handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
                    handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
