"""The Core ``Table`` handles of the REST server's tables."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db.tables import TABLES

__all__ = ["AUTH_TOKENS", "IDEMPOTENCY_RECORDS", "LOGIN_FAILURES", "WIDGET_TOKENS"]

AUTH_TOKENS: Table = TABLES["auth_tokens"]
LOGIN_FAILURES: Table = TABLES["login_failures"]
IDEMPOTENCY_RECORDS: Table = TABLES["idempotency_records"]
WIDGET_TOKENS: Table = TABLES["widget_tokens"]
