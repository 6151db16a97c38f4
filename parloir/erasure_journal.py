"""The erasure journal file, and replaying the journal after a restore.

Every erasure writes a row of ``erasure_journal`` in its own transaction, and, once that has
committed, appends the same entry as one JSON line to the journal file
(``Settings.erasure_journal``, default ``<home>/erasure-journal.jsonl``), flushed and fsynced.
A backup taken before an erasure holds neither the row nor the person's absence; the file,
kept outside the database, survives the restore. :func:`replay_erasures` reads both and
erases again whatever a restored database still holds of an erased person.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from parloir import erasure
from parloir.db.tables import TENANTS
from parloir.db.tables_erasure import JOURNAL
from parloir.errors import ConfigError

if TYPE_CHECKING:
    from parloir.store_erasure import ErasureMixin

__all__ = ["append", "read", "replay_erasures"]


def append(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one entry to the journal file (made with its folder if missing), durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(erasure.plain(entry), separators=(",", ":"), sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The entries of a journal file (none if it does not exist); a torn last line (a crash
    while appending) is skipped, any other bad line is an error."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield dict(json.loads(line))
        except ValueError:
            if number == len(lines):
                return
            raise ConfigError(f"{path}:{number}: not a journal entry") from None


def _database_entries(store: ErasureMixin) -> list[dict[str, Any]]:
    with store._admin(write=False) as scope:  # every tenant's entries
        rows = scope.session.execute(select(JOURNAL).order_by(JOURNAL.c.id)).mappings()
        return [dict(row) for row in rows]


def replay_erasures(
    store: ErasureMixin, journal: Path | None = None, *, compact: bool = True
) -> int:
    """Apply every journal entry again: those of the database's ``erasure_journal`` table and
    those of the journal file (``journal``, default ``store.settings.erasure_journal``).

    Call it on a restored database before it serves anything. Each entry is one transaction;
    an entry of a tenant the database does not have is skipped. If anything was removed and
    ``compact`` is true, the byte-level procedure follows (``Store.compact``). Returns how many
    entries removed something.
    """
    path = journal if journal is not None else store.settings.erasure_journal_path
    entries: dict[str, dict[str, Any]] = {}
    for entry in [*_database_entries(store), *read(path)]:
        entries.setdefault(str(entry["id"]), entry)
    applied = 0
    for entry in sorted(entries.values(), key=lambda e: str(e["id"])):
        tenant = uuid.UUID(str(entry["tenant_id"]))
        view = store.for_tenant(tenant)
        with view._write() as scope:
            query = select(TENANTS.c.id).where(TENANTS.c.id == tenant)
            if scope.session.execute(query).first() is None:
                continue
            applied += erasure.replay_entry(scope, entry)
    if applied and compact:
        store.compact()
    return applied
