"""``/health`` (the process answers) and ``/ready`` (database reachable, schema at head)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from parloir.db.migrate import head_revision
from parloir.server.problems import ProblemError, responses
from parloir.store import Store

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    dialect: str
    revision: str


@router.get("/health", response_model=Health, responses=responses())
async def health() -> Health:
    """The process is alive (no database access)."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses=responses(503))
async def ready(request: Request) -> Ready:
    """The database answers and its schema is at this code's head revision."""
    store: Store = request.app.state.store
    try:
        revision = await run_in_threadpool(store.current_revision)
    except Exception as error:  # any failure to reach the database means "not ready"
        raise ProblemError(503, "database_unreachable", "the database does not answer") from error
    if revision != head_revision():
        raise ProblemError(503, "schema_not_at_head", "run `parloir db upgrade`")
    return Ready(status="ready", dialect=store.dialect, revision=revision)
