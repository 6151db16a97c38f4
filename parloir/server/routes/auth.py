"""``POST /v1/auth/login`` and ``/v1/auth/logout``: bearer tokens for users.

A login names its tenant by slug (``tenant``), or none for the default tenant. Failed logins
are counted in the database per user and per address; over the limit the answer is 429 with
``Retry-After``, even for the right password. Unknown users and wrong passwords get the same
answer, after the same argon2 work. At most ``hash_concurrency`` hashes run at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from parloir.accounts import hash_password
from parloir.schemas import UserRead
from parloir.server.deps import AnyUser
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import ProblemError, responses
from parloir.server.settings import ServerSettings
from parloir.store import Store
from parloir.validation import Text

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=IdempotentRoute)
HASH_WAIT_SECONDS = 10.0


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[Text, Field(min_length=1, max_length=150)]
    password: Annotated[Text, Field(min_length=1, max_length=1024)]
    tenant: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    """Tenant slug; the default tenant when omitted."""


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"]
    expires_at: datetime
    user: UserRead


def _invalid() -> ProblemError:
    return ProblemError(
        401,
        "invalid_credentials",
        "invalid username or password",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _hashing(request: Request) -> asyncio.Semaphore:
    semaphore: asyncio.Semaphore = request.app.state.hash_semaphore
    try:
        await asyncio.wait_for(semaphore.acquire(), HASH_WAIT_SECONDS)
    except TimeoutError:
        raise ProblemError(
            503, "busy", "too many logins at once", headers={"Retry-After": "1"}
        ) from None
    return semaphore


@router.post("/login", response_model=LoginResponse, responses=responses(429, 503))
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Exchange a username and password for a bearer token."""
    root: Store = request.app.state.store
    settings: ServerSettings = request.app.state.settings
    tenant = await run_in_threadpool(root.find_tenant, body.tenant or "default")
    store = root.for_tenant(tenant.id) if tenant is not None else root
    address = (request.client.host if request.client else None) or "unknown"
    wait = await run_in_threadpool(
        store.login_retry_after,
        body.username,
        address,
        per_user=(
            settings.login_max_failures_per_user,
            timedelta(seconds=settings.login_user_window_seconds),
        ),
        per_address=(
            settings.login_max_failures_per_address,
            timedelta(seconds=settings.login_address_window_seconds),
        ),
    )
    if wait is not None:
        raise ProblemError(
            429, "too_many_failures", "too many failed logins", headers={"Retry-After": str(wait)}
        )
    semaphore = await _hashing(request)
    try:
        if tenant is None:
            await run_in_threadpool(hash_password, body.password)  # same work as a real check
            user = None
        else:
            user = await run_in_threadpool(store.authenticate, body.username, body.password)
    finally:
        semaphore.release()
    if user is None:
        keep = max(settings.login_user_window_seconds, settings.login_address_window_seconds)
        await run_in_threadpool(
            store.record_login_failure, body.username, address, keep=timedelta(seconds=keep)
        )
        raise _invalid()
    token = await run_in_threadpool(store.create_login_token, user.id, settings.token_ttl)
    await run_in_threadpool(
        store.record_audit_event,
        event_type="auth.login",
        actor=f"user:{user.id}",
        correlation_id=request.state.request_id,
        subject_type="user",
        subject_id=str(user.id),
    )
    return LoginResponse(
        token=token.token, token_type="bearer", expires_at=token.expires_at, user=user
    )


@router.post("/logout", status_code=204, responses=responses(403))
def logout(ctx: AnyUser) -> Response:
    """Revoke the token of this request."""
    assert ctx.principal.token_id is not None
    ctx.store.revoke_login_token(ctx.principal.token_id)
    ctx.audit("auth.logout", "user", ctx.principal.user_id)
    return Response(status_code=204)


@router.get("/me", response_model=UserRead, responses=responses(403))
def me(ctx: AnyUser) -> UserRead:
    """The user this token belongs to."""
    assert ctx.principal.user_id is not None
    return ctx.store.get_user(ctx.principal.user_id)
