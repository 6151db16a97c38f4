"""What a service function works in: one connection in a transaction, one tenant, one clock.

Services take a :class:`Scope` first and never commit, roll back or close: the unit of work is
the store's. They speak SQLAlchemy Core (``select()``, ``insert()``) on a ``Connection``; the
ORM session's bookkeeping would cost more than the statements on the hot paths.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from parloir.db.bulk import fetch_rows
from parloir.errors import InvalidInputError, NotFoundError
from parloir.ids import uuid7
from parloir.schemas import Record

__all__ = ["Scope", "decode_cursor", "encode_cursor", "to_record"]


@functools.cache
def _insert_all(table: Table) -> Any:
    """An INSERT of every column of ``table``, each a parameter named after it."""
    return table.insert().values({c.name: bindparam(c.name, type_=c.type) for c in table.c})


R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Scope:
    """A connection in a transaction, bound to one tenant, with the store's clock and limits."""

    session: Connection
    tenant_id: uuid.UUID
    clock: Callable[[], datetime]
    max_content_length: int
    capture_prompts: bool

    @property
    def dialect(self) -> str:
        return self.session.dialect.name

    def now(self) -> datetime:
        return self.clock()

    def insert(self, table: Table) -> Any:
        """An INSERT that understands ON CONFLICT on both databases."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def get_row(self, table: Table, row_id: uuid.UUID, kind: str, *, lock: bool = False) -> Any:
        """Fetch one row of this tenant by id, or raise ``NotFoundError``."""
        query = select(table).where(table.c.id == row_id, table.c.tenant_id == self.tenant_id)
        if lock and self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.session.execute(query).first()
        if row is None:
            raise NotFoundError(kind, row_id)
        return row

    def require(self, table: Table, row_id: uuid.UUID | None, kind: str, field: str) -> None:
        """Check that a referenced row exists in this tenant (else the field is invalid)."""
        if row_id is None:
            return
        query = select(table.c.id).where(table.c.id == row_id, table.c.tenant_id == self.tenant_id)
        if self.session.execute(query).first() is None:
            raise InvalidInputError.single(field, "exists", f"no {kind} {row_id} in this tenant")

    def add(self, table: Table, record: type[R], data: Mapping[str, Any], **values: Any) -> R:
        """Insert a new row of this tenant from validated ``data`` and return it as ``record``.

        Columns not given are NULL; ``metadata`` defaults to ``{}``, ``created_at`` (unless
        given) and ``updated_at`` to now.
        """
        now = self.now()
        row: dict[str, Any] = dict.fromkeys(table.c.keys())
        row.update(data, id=uuid7(), tenant_id=self.tenant_id, **values)
        row["metadata"] = row["metadata"] or {}
        row["created_at"] = row["created_at"] or now
        if "updated_at" in row:
            row["updated_at"] = now
        fetch_rows(self.session, _insert_all(table), row)  # every column, compiled once
        return record.model_validate(row)

    def filtered(
        self,
        query: Select[Any],
        equal: list[tuple[Any, Any]],
        created_at: Any,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[Any]:
        """``query`` narrowed to the given column values (None: any) and creation times
        (``since`` inclusive, ``until`` exclusive)."""
        for column, value in equal:
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(created_at >= since)
        if until is not None:
            query = query.where(created_at < until)
        return query

    def page(
        self, query: Select[Any], table: Table, *, limit: int, cursor: str | None, record: type[R]
    ) -> tuple[list[R], str | None]:
        """Run a listing newest first (ids are time-ordered) with cursor pagination."""
        if not 1 <= limit <= 1000:
            raise InvalidInputError.single("limit", "range", "must be between 1 and 1000")
        if cursor is not None:
            query = query.where(table.c.id < decode_cursor(cursor))
        rows = self.session.execute(query.order_by(table.c.id.desc()).limit(limit + 1)).all()
        items = [to_record(record, row) for row in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return items, next_cursor


def to_record(record: type[R], row: Any, **extra: Any) -> R:
    """Build a read record from a Core row (column names as keys)."""
    data: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
    # A plain dict validates several times faster than attribute access on a Row.
    return record.model_validate({**data, **extra})


def encode_cursor(last_id: uuid.UUID) -> str:
    """An opaque cursor that resumes a listing after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    """Read a cursor made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16:
            raise ValueError(cursor)
        return uuid.UUID(bytes=raw)
    except (ValueError, binascii.Error, TypeError):
        raise InvalidInputError.single("cursor", "valid_cursor", "is not a valid cursor") from None
