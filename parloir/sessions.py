"""Session state: a JSON context under a key, with an optional time to live.

An expired session is invisible at once (every read compares ``expires_at`` with the store's
clock) and its row is removed by :func:`purge_sessions` (``parloir sessions purge``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from parloir.db.tables import CONVERSATIONS, SESSIONS
from parloir.errors import InvalidInputError
from parloir.ids import uuid7
from parloir.schemas import SessionRead
from parloir.scope import Scope, to_record

__all__ = ["delete_session", "get_session", "purge_sessions", "set_session"]


def set_session(
    scope: Scope,
    key: str,
    context: Any,
    *,
    ttl: timedelta | None,
    expires_at: datetime | None = None,
    conversation_id: uuid.UUID | None,
    metadata: dict[str, Any] | None,
) -> SessionRead:
    """Create or replace the session ``key``."""
    if ttl is not None and ttl <= timedelta(0):
        raise InvalidInputError.single("ttl", "positive", "must be a positive duration")
    if ttl is not None and expires_at is not None:
        raise InvalidInputError.single("ttl", "exclusive", "give ttl or expires_at, not both")
    scope.require(CONVERSATIONS, conversation_id, "conversation", "conversation_id")
    now = scope.now()
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "key": key,
        "conversation_id": conversation_id,
        "context": context,
        "metadata": metadata or {},
        "expires_at": now + ttl if ttl is not None else expires_at,
        "created_at": now,
        "updated_at": now,
    }
    changes = {k: row[k] for k in ("conversation_id", "context", "metadata", "expires_at")}
    stmt = (
        scope.insert(SESSIONS)
        .values(row)
        .on_conflict_do_update(
            index_elements=["tenant_id", "key"], set_={**changes, "updated_at": now}
        )
        .returning(*SESSIONS.c)
    )
    return to_record(SessionRead, scope.session.execute(stmt).one())


def get_session(scope: Scope, key: str) -> SessionRead | None:
    """The live session ``key``, or None if it is missing or expired."""
    s = SESSIONS.c
    row = scope.session.execute(
        select(SESSIONS).where(
            s.tenant_id == scope.tenant_id,
            s.key == key,
            or_(s.expires_at.is_(None), s.expires_at > scope.now()),
        )
    ).first()
    return None if row is None else to_record(SessionRead, row)


def delete_session(scope: Scope, key: str) -> bool:
    """Delete the session ``key``; True if a live one was there."""
    s = SESSIONS.c
    result = scope.session.execute(
        delete(SESSIONS).where(s.tenant_id == scope.tenant_id, s.key == key).returning(s.expires_at)
    ).first()
    return result is not None and (result.expires_at is None or result.expires_at > scope.now())


def purge_sessions(scope: Scope, *, all_tenants: bool) -> int:
    """Delete expired sessions (of this tenant, or of every tenant); return how many."""
    s = SESSIONS.c
    stmt = delete(SESSIONS).where(s.expires_at <= scope.now())
    if not all_tenants:
        stmt = stmt.where(s.tenant_id == scope.tenant_id)
    return len(scope.session.execute(stmt.returning(s.id)).all())
