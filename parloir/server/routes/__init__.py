"""One module per resource; :data:`ROUTERS` lists them in the order requests are matched
(and of the OpenAPI document): a request is compared with each route in turn until one
fits, so the routes bots call most (appends, batches) come first."""

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
    messages.router,
    batch.router,
    health.router,
    auth.router,
    accounts.router,
    conversations.router,
    ledger.router,
    stats.router,
    search.router,
    sessions.router,
    posts.router,
    audit.router,
    erasure.router,
    widget.router,
]
