"""One module per resource; :data:`ROUTERS` lists them in the order of the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from parloir.server.routes import (
    accounts,
    audit,
    auth,
    batch,
    conversations,
    erasure,
    health,
    ledger,
    messages,
    posts,
    search,
    sessions,
    stats,
    widget,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    health.router,
    auth.router,
    accounts.router,
    conversations.router,
    messages.router,
    ledger.router,
    stats.router,
    search.router,
    sessions.router,
    posts.router,
    audit.router,
    erasure.router,
    batch.router,
    widget.router,
]
