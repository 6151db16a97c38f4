"""``POST /v1/telegram/{agent_id}/webhook``: Telegram's webhook, over the library.

The secret header is checked first, in constant time, against the agent's webhook secret
(looked up across tenants: the URL names an agent, not a tenant): unknown agent (or none with a
secret) 404, missing header 401, wrong secret 403, with nothing written. Then the update is
stored in one transaction, committed, and only then answered 200 (``{"ok": true}``, the same
body for a new, repeated or quarantined update). A body that is not JSON, or too large, is
quarantined and answered 200 too: Telegram would otherwise re-send it for a day.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from parloir import NotFoundError, Store
from parloir.server.problems import responses

__all__ = ["MAX_BODY_BYTES", "WEBHOOK_PREFIX", "router"]

MAX_BODY_BYTES = 1 << 20
"""A larger body is quarantined (truncated), not parsed; Telegram's updates are far smaller."""
KEPT_BYTES = 64 << 10

WEBHOOK_PREFIX = "/v1/telegram/"
"""The body guard leaves these paths alone: the route judges the raw body itself."""

router = APIRouter(tags=["telegram"])


@router.post(
    "/v1/telegram/{agent_id}/webhook",
    responses=responses(403, 404),
)
async def receive_telegram_update(
    agent_id: uuid.UUID,
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, bool]:
    """Store one Telegram update for the agent (see the module docstring)."""
    store: Store = request.app.state.store
    tenant_id = await run_in_threadpool(_authenticate, store, agent_id, secret)
    body = await request.body()
    await run_in_threadpool(_ingest, store.for_tenant(tenant_id), agent_id, body)
    return {"ok": True}


def _authenticate(store: Store, agent_id: uuid.UUID, secret: str | None) -> uuid.UUID:
    try:
        tenant_id = store.verify_telegram_secret(agent_id, secret)
    except NotFoundError:
        raise HTTPException(status_code=404, detail="not found") from None
    if tenant_id is None:
        status = 401 if not secret else 403
        raise HTTPException(status_code=status, detail="invalid secret token")
    return tenant_id


def _ingest(store: Store, agent_id: uuid.UUID, body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        kept = body[:KEPT_BYTES].decode("utf-8", "replace")
        reason = f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}"
        store.quarantine_telegram_update(agent_id, reason, json.dumps({"truncated": kept}))
        return
    try:
        update: Any = json.loads(body)
    except ValueError as error:  # includes invalid UTF-8
        raw = body[:KEPT_BYTES].decode("utf-8", "replace")
        store.quarantine_telegram_update(agent_id, f"invalid JSON: {error}", json.dumps(raw))
        return
    store.ingest_telegram_update(agent_id, update)
