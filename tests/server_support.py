"""A world for the REST tests: tenants with users of every role, agents, keys and data.

Users get a precomputed argon2 hash and login tokens made through the store, so that building
a world costs no password hashing; the login route itself is tested on its own.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from parloir import Store
from parloir.accounts import hash_password

ROLES = ("owner", "admin", "member", "viewer")
PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)


@dataclass
class World:
    """One tenant's identities and objects, each object carrying a canary string."""

    slug: str
    tenant_id: uuid.UUID
    canary: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def build_world(root: Store, slug: str | None = None) -> World:
    """Create a tenant (or use the default one) filled through the library."""
    if slug is None:
        tenant = root.get_tenant()
        slug = tenant.slug
    else:
        tenant = root.create_tenant(name=slug.title(), slug=slug)
    store = root.for_tenant(tenant.id)
    canary = f"cny_{slug}_{secrets.token_hex(8)}"
    world = World(slug=slug, tenant_id=tenant.id, canary=canary)
    for role in ROLES:
        user = store.create_user(username=f"{role}-{slug}", password_hash=PASSWORD_HASH, role=role)
        token = store.create_login_token(user.id, timedelta(hours=1))
        world.headers[role] = bearer(token.token)
        world.ids[f"user_{role}"] = user.id
    agent = store.create_agent(name=f"bot {canary}", model="gpt-4o-mini", instructions=canary)
    other = store.create_agent(name=f"other {canary}", model="gpt-4o-mini")
    world.ids.update(agent=agent.id, other_agent=other.id)
    bot = store.create_api_key(name="bot", agent_id=agent.id, scopes=["bot"])
    widget = store.create_api_key(name="widget", agent_id=agent.id, scopes=["widget"])
    spare = store.create_api_key(name="spare", agent_id=agent.id)
    world.headers["bot"] = bearer(bot.key)
    world.headers["widget"] = bearer(widget.key)
    world.ids.update(bot_key=bot.id, widget_key=widget.id, spare_key=spare.id)
    contact = store.upsert_contact(channel="telegram", external_id=f"c-{canary}", name=canary)
    spare_contact = store.upsert_contact(channel="web", external_id=f"s-{canary}", name=canary)
    conv = store.get_or_create_conversation(
        agent_id=agent.id, channel="telegram", external_id=f"chat-{canary}", contact_id=contact.id
    )
    other_conv = store.get_or_create_conversation(
        agent_id=other.id, channel="telegram", external_id=f"other-{canary}"
    )
    message = store.append_message(conv.id, role="user", content=f"hello {canary}")
    other_message = store.append_message(other_conv.id, role="user", content=f"x {canary}")
    call = store.record_llm_call(
        model="gpt-4o-mini",
        agent_id=agent.id,
        conversation_id=conv.id,
        message_id=message.id,
        input_tokens=10,
        output_tokens=2,
        prompt=canary,
    )
    retrieval = store.record_retrieval(llm_call_id=call.id, source=f"doc {canary}")
    feedback = store.add_feedback(message.id, rating=5, comment=canary)
    session = store.set_session(f"s-{slug}", {"canary": canary}, ttl=3600)
    post = store.create_post(content=canary, channel="linkedin", agent_id=agent.id)
    world.ids.update(
        contact=contact.id,
        spare_contact=spare_contact.id,
        conversation=conv.id,
        other_conversation=other_conv.id,
        message=message.id,
        other_message=other_message.id,
        llm_call=call.id,
        retrieval=retrieval.id,
        feedback=feedback.id,
        session=session.key,
        post=post.id,
    )
    return world


def open_widget(client: TestClient, world: World) -> tuple[str, str]:
    """Open a widget conversation; return its id and token."""
    answer = client.post("/v1/widget/conversations", json={}, headers=world.headers["widget"])
    assert answer.status_code == 201, answer.text
    return answer.json()["conversation"]["id"], answer.json()["token"]
