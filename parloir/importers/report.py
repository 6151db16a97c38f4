"""What an import did: rows imported per entity, rows skipped per entity and reason."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImportReport"]


@dataclass
class ImportReport:
    """Counts of one import run (or of a dry run: what it would have imported).

    ``imported`` maps an entity (``conversations``, ``messages``, ``llm_calls`` ...) to the
    rows written; ``skipped`` maps an entity to ``{reason: rows}``; ``notes`` holds other
    counts worth knowing (``non_uuid_ids``: source ids kept as external ids because they are
    not UUIDs).
    """

    source: str
    layout: str
    dry_run: bool = False
    imported: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    notes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0

    def add(self, entity: str, count: int = 1) -> None:
        if count:
            self.imported[entity] += count

    def skip(self, entity: str, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[entity][reason] += count

    def note(self, name: str, count: int = 1) -> None:
        if count:
            self.notes[name] += count

    @property
    def total_imported(self) -> int:
        return sum(self.imported.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (``parloir import --json`` prints it)."""
        return {
            "source": self.source,
            "layout": self.layout,
            "dry_run": self.dry_run,
            "imported": dict(sorted(self.imported.items())),
            "skipped": {k: dict(sorted(v.items())) for k, v in sorted(self.skipped.items())},
            "notes": dict(sorted(self.notes.items())),
            "seconds": round(self.seconds, 3),
        }
