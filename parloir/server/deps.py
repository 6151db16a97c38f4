"""FastAPI dependencies: the store, the caller, and the caller's view of the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from parloir.schemas import AuditEventRead
from parloir.server.auth import Level, Principal, authenticate_request_async, forbidden
from parloir.server.settings import ServerSettings
from parloir.store import Store

__all__ = [
    "AnyUser",
    "Context",
    "Ctx",
    "KeyCtx",
    "Reader",
    "UserAdmin",
    "UserOwner",
    "UserReader",
    "UserWriter",
    "Writer",
]


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@dataclass(frozen=True)
class Context:
    """What a route needs: the caller, its tenant's store, the request id and settings."""

    principal: Principal
    store: Store
    request_id: str
    settings: ServerSettings

    def event(self, action: str, subject_type: str, **metadata: object) -> dict[str, Any]:
        """The audit event of this request about a subject (its id added by the caller)."""
        return {
            "event_type": action,
            "actor": self.principal.actor,
            "correlation_id": self.request_id,
            "subject_type": subject_type,
            "metadata": {k: v for k, v in metadata.items() if v is not None},
        }

    def audit(
        self, action: str, subject_type: str, subject_id: object, **metadata: object
    ) -> AuditEventRead:
        """Record that this request changed something (in a transaction of its own)."""
        event = self.event(action, subject_type, **metadata)
        return self.store.record_audit_event(**event, subject_id=str(subject_id))


def _context(level: Level | None, *kinds: str) -> Callable[[Request], Awaitable[Context]]:
    allowed = frozenset(kinds)

    async def dependency(request: Request) -> Context:
        root = get_store(request)
        principal = await authenticate_request_async(request, root)
        if principal.kind not in allowed:
            raise forbidden(f"a {principal.kind} credential may not use this operation")
        if level is not None and not principal.can(level):
            raise forbidden(f"the {principal.role} role may not {level}")
        return Context(
            principal=principal,
            store=root.for_tenant(principal.tenant_id),
            request_id=request.state.request_id,
            settings=request.app.state.settings,
        )

    return dependency


Reader = Annotated[Context, Depends(_context("read", "user", "bot"))]
"""Any user role, or a bot key (routes narrow a bot to its agent)."""
Writer = Annotated[Context, Depends(_context("write", "user", "bot"))]
"""Members and above, or a bot key."""
UserReader = Annotated[Context, Depends(_context("read", "user"))]
UserWriter = Annotated[Context, Depends(_context("write", "user"))]
UserAdmin = Annotated[Context, Depends(_context("admin", "user"))]
AnyUser = Annotated[Context, Depends(_context(None, "user"))]


def _owner(ctx: UserAdmin) -> Context:
    if ctx.principal.role != "owner":
        raise forbidden(f"the {ctx.principal.role} role may not do this: owners only")
    return ctx


UserOwner = Annotated[Context, Depends(_owner)]
"""Owners only (erasure, applying retention)."""
KeyCtx = Annotated[Context, Depends(_context(None, "widget"))]
"""Widget keys only."""
Ctx = Context
