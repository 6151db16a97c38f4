"""Fast loading of conversations, messages and model calls for the analytics benchmark.

Rows go straight in with ``parloir.db.bulk.insert_rows`` (``executemany`` on SQLite, ``COPY``
on PostgreSQL), with counters consistent with the messages; the rollups are then computed
once by ``Store.check_rollups(rebuild=True)``, as ``parloir stats --recompute`` would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from parloir import Store
from parloir.db.bulk import insert_rows
from parloir.db.engine import TENANT_OPTION
from parloir.db.tables import CONVERSATIONS, LLM_CALLS, MESSAGES
from parloir.ids import uuid7_many

END = datetime(2026, 1, 31, tzinfo=UTC)
MODELS = ("gpt-4o-mini", "gpt-4o", "mistral-small-latest")
CHANNELS = ("web", "telegram")
CHUNK = 500  # conversations per insert


def _conversation(tenant: uuid.UUID, cid: uuid.UUID, agent: uuid.UUID, at: datetime, n: int) -> Any:
    return {
        "id": cid,
        "tenant_id": tenant,
        "agent_id": agent,
        "contact_id": None,
        "channel": CHANNELS[cid.int % 2],
        "external_id": None,
        "title": None,
        "status": "active",
        "metadata": {},
        "message_count": n,
        "last_seq": n,
        "last_message_at": at + timedelta(seconds=n - 1) if n else None,
        "created_at": at,
        "updated_at": at,
    }


def _message(tenant: uuid.UUID, mid: uuid.UUID, cid: uuid.UUID, seq: int, at: datetime) -> Any:
    user = seq % 2 == 1
    return {
        "id": mid,
        "tenant_id": tenant,
        "conversation_id": cid,
        "seq": seq,
        "role": "user" if user else "assistant",
        "direction": "in" if user else "out",
        "content": "How do I reset my password?" if user else "Open Settings, then Security.",
        "content_length": 28,
        "command": "start" if seq == 1 else None,
        "command_args": None,
        "idempotency_key": None,
        "external_id": None,
        "sources": None,
        "error_type": None,
        "error_message": None,
        "token_count": None if user else 40 + seq,
        "response_time_ms": None if user else 300 + 37 * seq,
        "delivered_at": None,
        "read_at": None,
        "edited_at": None,
        "metadata": {},
        "created_at": at,
        "updated_at": None,
    }


def _call(tenant: uuid.UUID, row: Any, agent: uuid.UUID, channel: str, rng: random.Random) -> Any:
    output = rng.randrange(20, 400)
    prompt = rng.randrange(200, 3000)
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "agent_id": agent,
        "conversation_id": row["conversation_id"],
        "message_id": row["id"],
        "post_id": None,
        "channel": channel,
        "operation": "chat",
        "provider": None,
        "model": rng.choice(MODELS),
        "input_tokens": prompt,
        "output_tokens": output,
        "cached_tokens": prompt // 4,
        "reasoning_tokens": 0,
        "total_tokens": prompt + output,
        "latency_ms": rng.randrange(150, 6000),
        "cost_nanos": prompt * 150 + output * 600,
        "cost_source": "provided",
        "is_success": True,
        "error_type": None,
        "error_message": None,
        "prompt": None,
        "response": None,
        "idempotency_key": None,
        "metadata": {},
        "created_at": row["created_at"],
    }


def load(
    store: Store,
    agents: list[uuid.UUID],
    conversations: int,
    per_conversation: int,
    days: int,
    seed: int,
    advance: Callable[[int], None],
) -> None:
    """Add ``conversations`` conversations of ``per_conversation`` messages each; every
    assistant message has one model call. Times are spread over ``days`` days before END."""
    rng = random.Random(seed)
    tenant = store.tenant_id
    engine = store._shared.engines.write  # the benchmark's loader reaches past the API
    for start in range(0, conversations, CHUNK):
        count = min(CHUNK, conversations - start)
        conv_rows, message_rows, call_rows = [], [], []
        ids = iter(uuid7_many(count * (per_conversation + 1)))
        for _ in range(count):
            cid, agent = next(ids), rng.choice(agents)
            at = END - timedelta(seconds=rng.randrange(days * 86_400))
            conv = _conversation(tenant, cid, agent, at, per_conversation)
            conv_rows.append(conv)
            for seq in range(1, per_conversation + 1):
                row = _message(tenant, next(ids), cid, seq, at + timedelta(seconds=seq - 1))
                message_rows.append(row)
                if row["role"] == "assistant":
                    call_rows.append(_call(tenant, row, agent, conv["channel"], rng))
        with engine.begin() as connection:
            # The tenant, for row-level security on PostgreSQL (what the store's own
            # transactions carry).
            connection.execution_options(**{TENANT_OPTION: str(tenant)})
            insert_rows(connection, CONVERSATIONS, conv_rows)
            insert_rows(connection, MESSAGES, message_rows)
            insert_rows(connection, LLM_CALLS, call_rows)
        advance(count * per_conversation)
    if store.dialect == "postgresql":
        owner = store._shared.engines.owner  # VACUUM needs the tables' owner
        with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
