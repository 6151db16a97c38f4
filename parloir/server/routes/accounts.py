"""Users, agents, API keys and contacts.

Owners and admins manage users, agents and keys; only an owner may make or change an owner.
Contacts are read by every user role and written by members and above.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from parloir.errors import NotFoundError
from parloir.inputs import AgentFields, ContactFields, UserRole
from parloir.schemas import AgentRead, ApiKeyCreated, ApiKeyRead, ContactRead, UserRead
from parloir.server.auth import forbidden
from parloir.server.deps import Context, UserAdmin, UserReader, UserWriter
from parloir.server.idempotency import IdempotentRoute
from parloir.server.problems import responses
from parloir.validation import Json, Text

router = APIRouter(prefix="/v1", route_class=IdempotentRoute)
R = responses(403, 404, 409)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[Text, Field(min_length=1, max_length=150)]
    password: Annotated[Text, Field(min_length=8, max_length=1024)]
    role: UserRole = "member"
    email: Annotated[Text, Field(max_length=320)] | None = None
    is_active: bool = True
    external_id: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    metadata: Json | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: UserRole | None = None
    is_active: bool | None = None
    password: Annotated[Text, Field(min_length=8, max_length=1024)] | None = None
    email: Annotated[Text, Field(max_length=320)] | None = None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    agent_id: uuid.UUID
    scopes: Annotated[list[Literal["bot", "widget"]], Field(min_length=1, max_length=2)] = ["bot"]
    expires_at: AwareDatetime | None = None


def _guard_owner(ctx: Context, role: str | None, target: UserRead | None = None) -> None:
    """Only an owner may grant the owner role or change an owner."""
    touches_owner = role == "owner" or (target is not None and target.role == "owner")
    if touches_owner and ctx.principal.role != "owner":
        raise forbidden("only an owner may grant or change the owner role")


@router.get("/users", response_model=list[UserRead], tags=["users"], responses=R)
def list_users(ctx: UserReader) -> list[UserRead]:
    """The users of the caller's tenant."""
    return ctx.store.list_users()


@router.post("/users", status_code=201, response_model=UserRead, tags=["users"], responses=R)
def create_user(ctx: UserAdmin, body: UserCreate) -> UserRead:
    """Create a user (owners and admins; only an owner creates an owner)."""
    _guard_owner(ctx, body.role)
    user = ctx.store.create_user(**body.model_dump(exclude_none=True))
    ctx.audit("user.create", "user", user.id, role=user.role)
    return user


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"], responses=R)
def get_user(ctx: UserReader, user_id: uuid.UUID) -> UserRead:
    return ctx.store.get_user(user_id)


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"], responses=R)
def update_user(ctx: UserAdmin, user_id: uuid.UUID, body: UserUpdate) -> UserRead:
    """Change a user's role, activity, password or email."""
    _guard_owner(ctx, body.role, ctx.store.get_user(user_id))
    user = ctx.store.update_user(user_id, **body.model_dump(exclude_none=True))
    changed = sorted(body.model_dump(exclude_none=True))
    ctx.audit("user.update", "user", user.id, fields=changed)
    return user


@router.get("/agents", response_model=list[AgentRead], tags=["agents"], responses=R)
def list_agents(ctx: UserReader) -> list[AgentRead]:
    return ctx.store.list_agents()


@router.post("/agents", status_code=201, response_model=AgentRead, tags=["agents"], responses=R)
def create_agent(ctx: UserAdmin, body: Annotated[AgentFields, Body()]) -> AgentRead:
    """Create an agent (a bot)."""
    agent = ctx.store.create_agent(**body)
    ctx.audit("agent.create", "agent", agent.id)
    return agent


@router.get("/agents/{agent_id}", response_model=AgentRead, tags=["agents"], responses=R)
def get_agent(ctx: UserReader, agent_id: uuid.UUID) -> AgentRead:
    return ctx.store.get_agent(agent_id)


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    role: Annotated[Text, Field(max_length=255)] | None = None
    instructions: Annotated[Text, Field(max_length=1_000_000)] | None = None
    provider: Annotated[Text, Field(max_length=100)] | None = None
    model: Annotated[Text, Field(max_length=200)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    is_active: bool | None = None
    metadata: Json | None = None


@router.patch("/agents/{agent_id}", response_model=AgentRead, tags=["agents"], responses=R)
def update_agent(ctx: UserAdmin, agent_id: uuid.UUID, body: AgentUpdate) -> AgentRead:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    agent = ctx.store.update_agent(agent_id, **changes)
    ctx.audit("agent.update", "agent", agent.id, fields=sorted(changes))
    return agent


@router.get("/api-keys", response_model=list[ApiKeyRead], tags=["api keys"], responses=R)
def list_api_keys(
    ctx: UserAdmin, agent_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[ApiKeyRead]:
    """The API keys of the tenant (prefixes only, never secrets)."""
    return ctx.store.list_api_keys(agent_id=agent_id)


@router.post(
    "/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["api keys"], responses=R
)
def create_api_key(ctx: UserAdmin, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key for an agent; its secret is in this answer and nowhere else."""
    key = ctx.store.create_api_key(
        name=body.name,
        agent_id=body.agent_id,
        scopes=sorted(set(body.scopes)),
        expires_at=body.expires_at,
        created_by_user_id=ctx.principal.user_id,
    )
    ctx.audit("api_key.create", "api_key", key.id, agent_id=str(body.agent_id))
    return key


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, tags=["api keys"], responses=R)
def revoke_api_key(ctx: UserAdmin, key_id: uuid.UUID) -> ApiKeyRead:
    """Revoke a key: it stops working at once."""
    key = ctx.store.revoke_api_key(key_id)
    ctx.audit("api_key.revoke", "api_key", key.id)
    return key


@router.post("/contacts", response_model=ContactRead, tags=["contacts"], responses=R)
def upsert_contact(ctx: UserWriter, body: Annotated[ContactFields, Body()]) -> ContactRead:
    """Create the contact (channel, external_id), or update the fields given."""
    contact = ctx.store.upsert_contact(**body)
    ctx.audit("contact.upsert", "contact", contact.id)
    return contact


@router.get("/contacts", response_model=ContactRead, tags=["contacts"], responses=R)
def find_contact(
    ctx: UserReader,
    channel: Annotated[Text, Query(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")],
    external_id: Annotated[Text, Query(min_length=1, max_length=255)],
) -> ContactRead:
    """The contact with this channel and external id."""
    found = ctx.store.find_contact(channel, external_id)
    if found is None:
        raise NotFoundError("contact", external_id)
    return found


@router.get("/contacts/{contact_id}", response_model=ContactRead, tags=["contacts"], responses=R)
def get_contact(ctx: UserReader, contact_id: uuid.UUID) -> ContactRead:
    return ctx.store.get_contact(contact_id)
