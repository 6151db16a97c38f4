"""Layout 003: agents on Supabase (``agents``, ``conversations``, ``messages``, owners in
``auth.users``).

Owners become users (``external_id`` = the ``auth.users`` id, ``username`` its email when
``auth.users`` is readable, else the id; role ``owner``). Agents keep their settings;
provider ``mistral``. An agent's widget ``api_key`` is registered through
:func:`parloir.accounts.create_api_key` (``key=``): only its hash is stored, so existing
widgets keep working and the secret never lands in parloir in clear. Conversations are found
by ``session_id`` (channel ``web``); ``visitor_id`` becomes a contact.
"""

from __future__ import annotations

import uuid
from typing import Any

from parloir import accounts
from parloir.db.tables import AGENTS, CONTACTS, CONVERSATIONS, USERS
from parloir.errors import ConflictError
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import Row, Source
from parloir.importers.values import Invalid, as_bool, as_int, as_object, as_text
from parloir.scope import Scope

Map = dict[str, uuid.UUID]


@register
class Supabase(Layout):
    name = "supabase-agents"
    description = "agents, conversations and messages on Supabase (seed 003)"

    def detect(self, tables: set[str], source: Source) -> bool:
        if not {"agents", "conversations", "messages"} <= tables:
            return False
        return "api_key" in source.columns("agents")

    def total(self, source: Source) -> int:
        return sum(source.count(t) for t in ("agents", "conversations", "messages"))

    def run(self, ctx: Context) -> None:
        emails = _emails(ctx)
        agents: Map = {}
        for rows in ctx.read("SELECT * FROM agents ORDER BY id"):
            with ctx.chunk() as sink:
                _agents(ctx, sink, rows, emails, agents)
        conversations: Map = {}
        for rows in ctx.read("SELECT * FROM conversations ORDER BY id"):
            with ctx.chunk() as sink:
                _conversations(ctx, sink, rows, agents, conversations)
        sql = "SELECT * FROM messages ORDER BY conversation_id, created_at, id"
        for rows in ctx.read(sql):
            with ctx.chunk() as sink:
                messages = []
                for row in rows:
                    try:
                        messages.append(_message(ctx, row, conversations))
                    except Invalid as error:
                        ctx.report.skip("messages", error.reason)
                writer.write_messages(sink, messages)


def _emails(ctx: Context) -> dict[str, str]:
    """``auth.users`` ids and emails, when the source has that table (PostgreSQL)."""
    if "auth.users" not in ctx.source.tables():
        return {}
    columns = ctx.source.columns("auth.users")
    pick = "id, email" if "email" in columns else "id, NULL AS email"
    out: dict[str, str] = {}
    for rows in ctx.source.rows(f"SELECT {pick} FROM auth.users", ctx.options.chunk_size):
        out.update({str(r["id"]): r["email"] for r in rows if r["email"]})
    return out


def _agents(
    ctx: Context, sink: writer.Sink, rows: list[Row], emails: dict[str, str], agents: Map
) -> None:
    owners: dict[uuid.UUID, Row] = {}
    made: list[tuple[Row, Row]] = []
    for row in rows:
        try:
            made.append((row, _agent(ctx, row, emails, owners)))
        except Invalid as error:
            ctx.report.skip("agents", error.reason)
    users, _ = writer.write_users(sink, list(owners.values()))
    for _source, agent in made:
        if agent["owner_user_id"] is not None:
            agent["owner_user_id"] = users[agent["owner_user_id"]]
    ids, fresh = writer.write_agents(sink, [agent for _, agent in made])
    for source, agent in made:
        agents[str(source["id"])] = ids[agent["id"]]
        if agent["id"] in fresh and source.get("api_key"):
            _api_key(ctx, sink, agent, str(source["api_key"]))


def _agent(ctx: Context, row: Row, emails: dict[str, str], owners: dict[uuid.UUID, Row]) -> Row:
    source_id = ctx.key(row.get("id"))
    name = as_text(row.get("name"))
    if source_id is None or not name:
        raise Invalid("missing_id_or_name")
    created = ctx.time(row.get("created_at"))
    owner = ctx.key(row.get("user_id"))
    owner_id = ctx.id(None, "user", owner) if owner else None
    if owner and owner_id:
        owners.setdefault(
            owner_id,
            ctx.row(
                USERS,
                id=owner_id,
                username=emails.get(owner, owner)[:150],
                email=emails.get(owner),
                role="owner",
                is_active=True,
                external_id=owner,
                created_at=created,
            ),
        )
    return ctx.row(
        AGENTS,
        id=ctx.id(created, "agent", source_id),
        owner_user_id=owner_id,
        name=name[:255],
        role=(as_text(row.get("role")) or "")[:255] or None,
        instructions=as_text(row.get("instructions")),
        provider="mistral",
        model=(as_text(row.get("model")) or "")[:200] or None,
        temperature=_float(row.get("temperature")),
        top_p=_float(row.get("top_p")),
        max_tokens=as_int(row.get("max_tokens")),
        is_active=as_bool(row.get("is_active"), True),
        metadata={"legacy_id": source_id},
        created_at=created,
        updated_at=ctx.time(row.get("updated_at"), created),
    )


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _api_key(ctx: Context, sink: writer.Sink, agent: Row, key: str) -> None:
    """Register the agent's widget key, hashed (``key=``), never in clear."""
    if not 16 <= len(key) <= 512:
        ctx.report.skip("api_keys", "key_length")
        return
    scope = Scope(sink.connection, sink.tenant_id, lambda: sink.now, sink.max_content_length, True)
    try:
        accounts.create_api_key(
            scope,
            name=f"{agent['name']} widget"[:200],
            agent_id=agent["id"],
            scopes=["bot"],
            expires_at=None,
            created_by_user_id=None,
            key=key,
        )
    except ConflictError:
        ctx.report.skip("api_keys", "already_exists")
        return
    ctx.report.add("api_keys")


def _conversations(
    ctx: Context, sink: writer.Sink, rows: list[Row], agents: Map, conversations: Map
) -> None:
    contacts: dict[uuid.UUID, Row] = {}
    made: list[tuple[str, Row]] = []
    for row in rows:
        try:
            agent_id = agents.get(str(row.get("agent_id")))
            if agent_id is None:
                raise Invalid("orphan")
            source_id = ctx.key(row.get("id"))
            created = ctx.time(row.get("created_at"))
            visitor = ctx.key(row.get("visitor_id"))
            contact_id = ctx.id(None, "contact", visitor) if visitor else None
            if visitor and contact_id:
                contacts.setdefault(
                    contact_id,
                    ctx.row(
                        CONTACTS,
                        id=contact_id,
                        channel="web",
                        external_id=visitor,
                        created_at=created,
                    ),
                )
            meta = as_object(row.get("metadata"))
            meta["legacy_id"] = source_id
            made.append(
                (
                    str(row.get("id")),
                    ctx.row(
                        CONVERSATIONS,
                        id=ctx.id(created, "conversation", source_id),
                        agent_id=agent_id,
                        contact_id=contact_id,
                        channel="web",
                        external_id=ctx.key(row.get("session_id")),
                        status="active",
                        metadata=meta,
                        message_count=0,
                        last_seq=0,
                        created_at=created,
                        updated_at=ctx.time(row.get("updated_at"), created),
                    ),
                )
            )
        except Invalid as error:
            ctx.report.skip("conversations", error.reason)
    contact_ids, _ = writer.write_contacts(sink, list(contacts.values()), quiet=True)
    for _, conv in made:
        if conv["contact_id"] is not None:
            conv["contact_id"] = contact_ids[conv["contact_id"]]
    ids, _ = writer.write_conversations(sink, [conv for _, conv in made])
    for source_id, conv in made:
        conversations[source_id] = ids[conv["id"]]


def _message(ctx: Context, row: Row, conversations: Map) -> Row:
    conversation_id = conversations.get(str(row.get("conversation_id")))
    if conversation_id is None:
        raise Invalid("orphan")
    created = ctx.time(row.get("created_at"))
    source_id = as_text(row.get("id"))
    return ctx.message(
        row_id=ctx.id(created, "message", source_id),
        conversation_id=conversation_id,
        role=row.get("role"),
        content=row.get("content"),
        created_at=created,
        token_count=as_int(row.get("tokens_used")),
        response_time_ms=as_int(row.get("response_time_ms")),
        metadata={"legacy_id": source_id},
    )
