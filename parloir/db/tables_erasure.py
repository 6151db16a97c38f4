"""The Core ``Table`` of the erasure journal, the rollup residues and the retention policies."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db.tables import TABLES

__all__ = ["JOURNAL", "POLICIES", "RESIDUES"]

JOURNAL: Table = TABLES["erasure_journal"]
RESIDUES: Table = TABLES["rollup_residues"]
POLICIES: Table = TABLES["retention_policies"]
