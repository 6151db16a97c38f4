"""The Core ``Table`` of the rollups (daily) and of the all-time totals."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db.tables import TABLES

__all__ = ["ROLLUPS", "TOTALS"]

ROLLUPS: Table = TABLES["usage_rollups"]
TOTALS: Table = TABLES["usage_totals"]
