"""The Core ``Table`` of the rollups (daily) and of the all-time totals."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db.tables import TABLES

__all__ = ["ROLLUPS", "TOTALS", "WATERMARK_TABLE"]

ROLLUPS: Table = TABLES["usage_rollups"]
TOTALS: Table = TABLES["usage_totals"]

WATERMARK_TABLE = "rollup_watermark"
"""SQLite only, made by its migration alone (0009): the last message the rollups count
(``parloir.rollups_fold``). The models do not describe it."""
