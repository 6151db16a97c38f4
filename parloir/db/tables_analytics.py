"""The Core ``Table`` of the rollups."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db.tables import TABLES

__all__ = ["ROLLUPS"]

ROLLUPS: Table = TABLES["usage_rollups"]
