"""The FastAPI application: ``create_app(store)``, and ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from parloir.config import Settings
from parloir.server import telegram
from parloir.server.middleware import BodyGuardMiddleware, RequestIdMiddleware
from parloir.server.problems import Problem, install_handlers
from parloir.server.query_guard import QueryGuardMiddleware
from parloir.server.routes import ROUTERS
from parloir.server.settings import ServerSettings
from parloir.store import Store

__all__ = ["app_from_env", "create_app"]

DESCRIPTION = """The REST API of parloir: conversations, messages and the LLM-usage ledger.

Authenticate with `Authorization: Bearer <token>`: a login token from `POST /v1/auth/login`,
or an agent's API key. Errors are `application/problem+json` (RFC 9457). Every POST accepts
an `Idempotency-Key` header; every answer carries an `X-Request-ID`.
"""


def create_app(
    store: Store,
    settings: ServerSettings | None = None,
    *,
    close_store: bool = False,
    freeze_heap: bool = False,
) -> FastAPI:
    """The application over ``store`` (kept at ``app.state.store``).

    ``freeze_heap``, for a process that only serves this application: once it has started,
    everything built so far (modules, routes, the OpenAPI document) is moved out of the cyclic
    garbage collector's reach with :func:`gc.freeze`, and given back at shutdown.
    """
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if freeze_heap:
            _freeze_heap(app)
        yield
        if freeze_heap:
            gc.unfreeze()
        if close_store:
            store.close()

    app = FastAPI(
        title="parloir",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.hash_semaphore = asyncio.Semaphore(settings.hash_concurrency)
    install_handlers(app)
    for router in (*ROUTERS, telegram.router):
        app.include_router(router)
    app.state.lenient_body_paths = lenient = ["/v1/batch"]
    app.add_middleware(
        BodyGuardMiddleware,
        settings=settings,
        lenient_paths=lenient,
        raw_paths=(telegram.WEBHOOK_PREFIX,),
    )
    app.add_middleware(QueryGuardMiddleware, api=app, exempt=(telegram.WEBHOOK_PREFIX,))
    app.add_middleware(RequestIdMiddleware)
    _document_problem(app)
    return app


def _document_problem(app: FastAPI) -> None:
    """Put the problem schema in the OpenAPI components and add the security scheme."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _freeze_heap(app: FastAPI) -> None:
    """Build what is built once, then freeze the heap.

    A full collection walks every object the process holds: with the libraries of a server
    loaded that takes about 100 ms, and under load one came every second or two, each a pause
    of every request in flight. After :func:`gc.freeze` it walks only what was made since.
    """
    app.openapi()
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """The application uvicorn workers build: settings from the environment, no migration."""
    store = Store.open(settings=Settings.from_env(), migrate=False)
    return create_app(store, ServerSettings.from_env(), close_store=True, freeze_heap=True)
