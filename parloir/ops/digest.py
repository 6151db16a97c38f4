"""Row counts and content digests of every table, to prove two databases hold the same rows."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Table, select

from parloir.db.models import Base

__all__ = ["digest_tables"]


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def digest_tables(connection: Connection) -> dict[str, dict[str, Any]]:
    """``{table: {"rows": n, "sha256": hex}}`` over rows in primary-key order.

    The digest hashes each row's ``repr`` as the driver returns it, so two databases of the same
    kind compare equal exactly when they hold the same values.
    """
    result: dict[str, dict[str, Any]] = {}
    for table in _tables():
        order = list(table.primary_key.columns) or list(table.columns)
        rows = connection.execution_options(yield_per=5_000).execute(select(table).order_by(*order))
        result[table.name] = _digest(rows)
    version = connection.exec_driver_sql("SELECT version_num FROM alembic_version ORDER BY 1")
    result["alembic_version"] = _digest(version)
    return result


def _digest(rows: Any) -> dict[str, Any]:
    sha, count = hashlib.sha256(), 0
    for row in rows:
        sha.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
        sha.update(b"\n")
        count += 1
    return {"rows": count, "sha256": sha.hexdigest()}
