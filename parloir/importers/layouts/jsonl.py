"""JSON lines: one conversation per line, in the OpenAI message format.

Reads parloir's own export (``parloir export``) and generic OpenAI-format files
(``{"messages": [{"role": ..., "content": ...}], ...}``; other top-level keys become the
conversation's metadata). A conversation's source identity is its ``id`` when the line has
one, else a hash of the line, so importing the file again imports nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from parloir.db.tables import AGENTS, CONTACTS, CONVERSATIONS, FEEDBACK, LLM_CALLS, MESSAGES
from parloir.importers import writer
from parloir.importers.framework import Context, Layout, register
from parloir.importers.sources import JsonlSource, Row, Source
from parloir.importers.values import Invalid, as_int, as_object, as_text, as_time

CONVERSATION_KEYS = {
    "id",
    "agent",
    "contact",
    "channel",
    "external_id",
    "title",
    "status",
    "created_at",
    "metadata",
    "messages",
    "llm_calls",
    "feedback",
}
MESSAGE_FIELDS = (
    "idempotency_key",
    "external_id",
    "sources",
    "error_type",
    "error_message",
    "token_count",
    "response_time_ms",
)
COUNTS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
)
CALL_FIELDS = (
    "operation",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
    "cost_nanos",
    "cost_source",
    "is_success",
    "error_type",
    "error_message",
    "prompt",
    "response",
    "idempotency_key",
)


@register
class Jsonl(Layout):
    name = "jsonl"
    description = "OpenAI-format conversations, one per line (parloir export)"

    def detect(self, tables: set[str], source: Source) -> bool:
        return isinstance(source, JsonlSource)

    def total(self, source: Source) -> int:
        return source.count("<jsonl>")

    def run(self, ctx: Context) -> None:
        assert isinstance(ctx.source, JsonlSource)
        default_agent = ctx.id(None, "agent", "default")
        batch: list[tuple[int, str]] = []
        for number, line in ctx.source.lines():
            batch.append((number, line))
            if len(batch) >= ctx.options.chunk_size:
                self._chunk(ctx, default_agent, batch)
                batch = []
        if batch:
            self._chunk(ctx, default_agent, batch)

    def _chunk(self, ctx: Context, default_agent: uuid.UUID, batch: list[tuple[int, str]]) -> None:
        with ctx.chunk() as sink:
            parts = _Parts()
            for _number, line in batch:
                try:
                    _line(ctx, parts, default_agent, line)
                except Invalid as error:
                    ctx.report.skip("conversations", error.reason)
            parts.write(sink)
        ctx.progress(len(batch))


class _Parts:
    def __init__(self) -> None:
        self.agents: dict[uuid.UUID, Row] = {}
        self.contacts: dict[uuid.UUID, Row] = {}
        self.conversations: list[Row] = []
        self.messages: list[Row] = []
        self.calls: list[Row] = []
        self.feedback: list[Row] = []
        self.aliases: dict[Any, list[tuple[uuid.UUID, uuid.UUID]]] = {}

    def alias(self, table: Any, row_id: uuid.UUID, source_id: Any) -> None:
        """Keep the exported id ``source_id`` for this row if no other tenant uses it."""
        try:
            wanted = uuid.UUID(str(source_id))
        except ValueError:
            return
        self.aliases.setdefault(table, []).append((row_id, wanted))

    def _remap(self, sink: writer.Sink) -> None:
        remap: dict[uuid.UUID, uuid.UUID] = {}
        for table, pairs in self.aliases.items():
            owner = writer.owners(sink, table, (wanted for _, wanted in pairs))
            for row_id, wanted in pairs:
                if owner.get(wanted, sink.tenant_id) == sink.tenant_id:
                    remap[row_id] = wanted
        rows = (
            *self.agents.values(),
            *self.conversations,
            *self.messages,
            *self.calls,
            *self.feedback,
        )
        for row in rows:
            for field in ("id", "agent_id", "conversation_id", "message_id"):
                if row.get(field) in remap:
                    row[field] = remap[row[field]]

    def write(self, sink: writer.Sink) -> None:
        self._remap(sink)
        agents, _ = writer.write_agents(sink, list(self.agents.values()))
        contacts, _ = writer.write_contacts(sink, list(self.contacts.values()), quiet=True)
        for conv in self.conversations:
            conv["agent_id"] = agents.get(conv["agent_id"], conv["agent_id"])
            if conv["contact_id"] is not None:
                conv["contact_id"] = contacts[conv["contact_id"]]
        ids, fresh = writer.resolve_conversations(sink, self.conversations)
        for row in (*self.messages, *self.calls, *self.feedback):
            row["conversation_id"] = ids[row["conversation_id"]]
        stored = writer.write_messages(sink, self.messages, fresh)
        for row in (*self.calls, *self.feedback):
            if row["message_id"] is not None and row["message_id"] not in stored:
                row["message_id"] = None
        for call in self.calls:
            call["agent_id"] = agents.get(call["agent_id"], call["agent_id"])
        writer.write_llm_calls(sink, self.calls)
        writer.write_feedback(sink, self.feedback)


def _line(ctx: Context, parts: _Parts, default_agent: uuid.UUID, line: str) -> None:
    try:
        data = json.loads(line)
    except ValueError:
        raise Invalid("invalid_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise Invalid("no_messages")
    key = (
        as_text(data.get("id"))
        or hashlib.sha256(line.strip().encode("utf-8", "surrogatepass")).hexdigest()
    )
    created = as_time(data.get("created_at"))
    if created is None:
        first = data["messages"][0] if data["messages"] else {}
        created = ctx.time(first.get("created_at") if isinstance(first, dict) else None)
    agent_id = _agent(ctx, parts, data.get("agent")) or _default(ctx, parts, default_agent)
    contact_id = _contact(ctx, parts, data.get("contact"), created)
    conv_id = ctx.id(created, "conversation", key)
    meta = as_object(data.get("metadata")) if "metadata" in data else {}
    meta.update({k: v for k, v in data.items() if k not in CONVERSATION_KEYS})
    title = as_text(data.get("title"))
    channel = as_text(data.get("channel")) or "api"
    conv = ctx.row(
        CONVERSATIONS,
        id=conv_id,
        agent_id=agent_id,
        contact_id=contact_id,
        channel=channel[:32],
        external_id=ctx.key(data.get("external_id")),
        title=title[:500] if title else None,
        status=data.get("status")
        if data.get("status") in ("active", "archived", "blocked")
        else "active",
        metadata=meta,
        message_count=0,
        last_seq=0,
        created_at=created,
    )
    by_seq: dict[int, uuid.UUID] = {}
    messages = [
        _message(ctx, conv_id, key, index, item, created, by_seq)
        for index, item in enumerate(data["messages"])
    ]
    calls = [
        _call(ctx, conv_id, agent_id, key, i, c, by_seq, created)
        for i, c in enumerate(data.get("llm_calls") or [])
        if isinstance(c, dict)
    ]
    feedback = [
        _feedback(ctx, conv_id, key, i, f, by_seq, created)
        for i, f in enumerate(data.get("feedback") or [])
        if isinstance(f, dict)
    ]
    parts.alias(CONVERSATIONS, conv_id, data.get("id"))
    for row, item in zip(messages, data["messages"], strict=True):
        parts.alias(MESSAGES, row["id"], item.get("id"))
    call_items = [c for c in data.get("llm_calls") or [] if isinstance(c, dict)]
    for row, item in zip(calls, call_items, strict=True):
        parts.alias(LLM_CALLS, row["id"], item.get("id"))
    feedback_items = [f for f in data.get("feedback") or [] if isinstance(f, dict)]
    for row, item in zip(feedback, feedback_items, strict=True):
        parts.alias(FEEDBACK, row["id"], item.get("id"))
    parts.conversations.append(conv)
    parts.messages.extend(messages)
    parts.calls.extend(calls)
    parts.feedback.extend(feedback)


def _default(ctx: Context, parts: _Parts, agent_id: uuid.UUID) -> uuid.UUID:
    """The agent of lines that name none (created with the first such line)."""
    if agent_id not in parts.agents:
        name = ctx.options.agent_name or "Imported conversations"
        parts.agents[agent_id] = ctx.row(
            AGENTS, id=agent_id, name=name, is_active=True, external_id="import:jsonl:default"
        )
    return agent_id


def _agent(ctx: Context, parts: _Parts, data: Any) -> uuid.UUID | None:
    if not isinstance(data, dict) or not data.get("name"):
        return None
    key = as_text(data.get("id")) or str(data["name"])
    agent_id = ctx.id(None, "agent", key)
    fields = {
        k: data.get(k)
        for k in (
            "role",
            "instructions",
            "provider",
            "model",
            "temperature",
            "max_tokens",
            "top_p",
            "external_id",
        )
    }
    if agent_id not in parts.agents:
        parts.alias(AGENTS, agent_id, data.get("id"))
    parts.agents.setdefault(
        agent_id,
        ctx.row(
            AGENTS,
            id=agent_id,
            name=str(data["name"])[:255],
            is_active=bool(data.get("is_active", True)),
            metadata=as_object(data.get("metadata")),
            **fields,
        ),
    )
    return agent_id


def _contact(ctx: Context, parts: _Parts, data: Any, created: Any) -> uuid.UUID | None:
    if not isinstance(data, dict) or not data.get("external_id"):
        return None
    channel = str(data.get("channel") or "api")[:32]
    external_id = ctx.key(data["external_id"])
    contact_id = ctx.id(None, "contact", channel, external_id)
    parts.contacts.setdefault(
        contact_id,
        ctx.row(
            CONTACTS,
            id=contact_id,
            channel=channel,
            external_id=external_id,
            name=as_text(data.get("name")),
            username=as_text(data.get("username")),
            profile_url=as_text(data.get("profile_url")),
            metadata=as_object(data.get("metadata")),
            created_at=as_time(data.get("created_at")) or created,
        ),
    )
    return contact_id


def _content(value: Any) -> tuple[str, Any]:
    """Text of an OpenAI content (a string, or a list of parts whose text parts are joined)."""
    if value is None or isinstance(value, str):
        return value or "", None
    if isinstance(value, list):
        texts = [
            p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text"
        ]
        return "".join(texts), value
    return json.dumps(value, ensure_ascii=False), value


def _message(
    ctx: Context,
    conv_id: uuid.UUID,
    key: str,
    index: int,
    item: Any,
    created: Any,
    by_seq: dict[int, uuid.UUID],
) -> Row:
    if not isinstance(item, dict):
        raise Invalid("bad_message")
    text, original = _content(item.get("content"))
    at = as_time(item.get("created_at")) or created
    meta = as_object(item.get("metadata"))
    for extra in ("name", "tool_calls", "tool_call_id"):
        if item.get(extra) is not None:
            meta[extra] = item[extra]
    if original is not None:
        meta["content_parts"] = original
    seq = as_int(item.get("seq")) or index + 1
    row = ctx.message(
        row_id=ctx.id(at, "message", key, seq),
        conversation_id=conv_id,
        role=item.get("role"),
        content=text,
        created_at=at,
        metadata=meta,
        **{f: item.get(f) for f in MESSAGE_FIELDS},
    )
    row["idempotency_key"] = ctx.key(row["idempotency_key"])
    row["external_id"] = ctx.key(row["external_id"])
    row["error_type"] = (as_text(row["error_type"]) or "")[:100] or None
    row["error_message"] = as_text(row["error_message"])
    row["token_count"] = as_int(row["token_count"])
    row["response_time_ms"] = as_int(row["response_time_ms"])
    for field in ("delivered_at", "read_at", "edited_at"):
        row[field] = as_time(item.get(field))
    by_seq[seq] = row["id"]
    return row


def _call(
    ctx: Context,
    conv_id: uuid.UUID,
    agent_id: uuid.UUID,
    key: str,
    index: int,
    item: dict[str, Any],
    by_seq: dict[int, uuid.UUID],
    created: Any,
) -> Row:
    at = as_time(item.get("created_at")) or created
    fields = {f: item[f] for f in CALL_FIELDS if item.get(f) is not None}
    for name in COUNTS:
        if name in fields:
            count = as_int(fields[name])
            if count is None or count < 0:
                raise Invalid("bad_tokens")
            fields[name] = count
    if "cost_nanos" in fields:
        fields["cost_nanos"] = _big(fields["cost_nanos"])
    fields["is_success"] = bool(fields.get("is_success", True))
    for name in ("operation", "provider", "cost_source", "error_type", "idempotency_key"):
        if name in fields:
            fields[name] = str(fields[name])[
                : 32 if name == "operation" else 16 if name == "cost_source" else 100
            ]
    return ctx.llm_call(
        id=ctx.id(at, "llm_call", key, as_text(item.get("id")) or index),
        agent_id=agent_id,
        conversation_id=conv_id,
        message_id=by_seq.get(as_int(item.get("message_seq")) or -1),
        metadata=as_object(item.get("metadata")),
        created_at=at,
        **fields,
    )


def _big(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if abs(number) < 2**63 else None


def _feedback(
    ctx: Context,
    conv_id: uuid.UUID,
    key: str,
    index: int,
    item: dict[str, Any],
    by_seq: dict[int, uuid.UUID],
    created: Any,
) -> Row:
    at = as_time(item.get("created_at")) or created
    return ctx.row(
        FEEDBACK,
        id=ctx.id(at, "feedback", key, as_text(item.get("id")) or index),
        conversation_id=conv_id,
        message_id=by_seq.get(as_int(item.get("message_seq")) or -1),
        rating=as_int(item.get("rating")),
        comment=as_text(item.get("comment")),
        metadata=as_object(item.get("metadata")),
        created_at=at,
    )
