"""``Idempotency-Key`` on every POST: a repeat gets the first answer, without redoing the work.

Records are per tenant and caller (the same key from two callers is two keys), expire after
``idempotency_ttl_seconds``, and remember a fingerprint of the request (method, path, query,
body). The same key with another request answers 409 ``idempotency_key_reused``. While the
first request runs, a repeat waits for its answer (up to a few seconds, then 409
``idempotency_key_in_progress``). Answers of status 500 and above are not kept: a retry does
the work again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from parloir.credentials import IdempotencyState
from parloir.server.auth import authenticate_request
from parloir.server.problems import ProblemError
from parloir.store import Store

__all__ = ["IdempotentRoute"]

HEADER = "idempotency-key"
_SANE_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
WAIT_STEPS = 50
WAIT_SECONDS = 0.1


HEADER_DOC = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat-safe key: a repeat of this request gets the first answer.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


class IdempotentRoute(APIRoute):
    """A route whose POSTs honour ``Idempotency-Key`` (documented as a header parameter)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "POST" in (self.methods or set()):
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [*extra.get("parameters", []), HEADER_DOC]
            self.openapi_extra = extra

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def idempotent_handler(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if request.method != "POST" or key is None or "authorization" not in request.headers:
                return await handler(request)  # without credentials there is no caller to key
            if not _SANE_KEY.match(key):
                raise ProblemError(
                    400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII"
                )
            return await _run_once(request, key, handler)

        return idempotent_handler


async def _run_once(
    request: Request, key: str, handler: Callable[[Request], Awaitable[Response]]
) -> Response:
    root: Store = request.app.state.store
    principal = await run_in_threadpool(authenticate_request, request, root)
    store = root.for_tenant(principal.tenant_id)
    ttl = request.app.state.settings.idempotency_ttl
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), request.url.query.encode()])
        + b"\n"
        + await request.body()
    ).hexdigest()
    caller = principal.actor
    for _ in range(WAIT_STEPS):
        state: IdempotencyState = await run_in_threadpool(
            store.begin_idempotent, caller, key, fingerprint, ttl=ttl
        )
        if state.outcome == "new":
            return await _first(request, store, caller, key, handler)
        if state.outcome == "mismatch":
            raise ProblemError(
                409, "idempotency_key_reused", "this Idempotency-Key was used for another request"
            )
        if state.outcome == "replay":
            return Response(
                state.body or b"",
                status_code=state.status_code or 200,
                media_type=state.content_type,
                headers={"Idempotent-Replayed": "true"},
            )
        await asyncio.sleep(WAIT_SECONDS)
    raise ProblemError(
        409, "idempotency_key_in_progress", "a request with this Idempotency-Key is still running"
    )


async def _first(
    request: Request,
    store: Store,
    caller: str,
    key: str,
    handler: Callable[[Request], Awaitable[Response]],
) -> Response:
    try:
        response = await handler(request)
    except BaseException:
        await run_in_threadpool(store.abandon_idempotent, caller, key)
        raise
    body = getattr(response, "body", None)
    if response.status_code >= 500 or not isinstance(body, bytes):
        await run_in_threadpool(store.abandon_idempotent, caller, key)
        return response
    content_type = response.headers.get("content-type", "application/json")
    await run_in_threadpool(
        store.finish_idempotent, caller, key, response.status_code, content_type, body
    )
    return response
