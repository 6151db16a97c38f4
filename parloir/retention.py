"""Retention: per-agent policies that empty old messages or delete old conversations.

A policy has two ages in days, either or both may be unset:

* ``drop_content_after_days``: a message created strictly before ``now - N days`` has its
  ``content`` emptied and its ``command_args`` removed; everything else of the row stays
  (``content_length``, role, tokens, times...), so the ledger, the counters and the statistics
  are unchanged. The prompts and responses of the model calls of those messages (and of the
  conversations' calls made before the cutoff) are removed, with the previews of their
  retrievals. The search index follows the content (SQLite trigger, PostgreSQL vector).
* ``delete_after_days``: a conversation whose last activity (``last_message_at``, else its
  creation) is strictly before ``now - N days`` is deleted with its messages, sessions,
  feedback and retrievals; its model calls stay in the ledger, scrubbed and unlinked. Its
  counts stay in the statistics as residues (``parloir.residues``), as for an erasure.

When both apply to a conversation, the deletion wins. A run also purges expired sessions.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, null, or_, select, update

from parloir import erasure, sessions
from parloir.db.tables import AGENTS, CONVERSATIONS, LLM_CALLS, MESSAGES, RETRIEVALS
from parloir.db.tables_erasure import POLICIES
from parloir.errors import InvalidInputError
from parloir.schemas_erasure import RetentionPolicyRead, RetentionReport
from parloir.scope import Scope, to_record

__all__ = ["apply", "get_policy", "list_policies", "plan", "set_policy"]


def _check_days(field: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36_500:
        raise InvalidInputError.single(field, "range", "must be a whole number of days, 1 to 36500")


def set_policy(
    scope: Scope,
    agent_id: uuid.UUID,
    drop_content_after_days: int | None,
    delete_after_days: int | None,
) -> RetentionPolicyRead | None:
    """Set (or, with both ages None, remove) an agent's policy."""
    _check_days("drop_content_after_days", drop_content_after_days)
    _check_days("delete_after_days", delete_after_days)
    scope.require(AGENTS, agent_id, "agent", "agent_id")
    p = POLICIES.c
    if drop_content_after_days is None and delete_after_days is None:
        scope.session.execute(POLICIES.delete().where(p.agent_id == agent_id))
        return None
    now = scope.now()
    ages = {
        "drop_content_after_days": drop_content_after_days,
        "delete_after_days": delete_after_days,
    }
    statement = scope.insert(POLICIES).values(
        agent_id=agent_id, tenant_id=scope.tenant_id, created_at=now, updated_at=now, **ages
    )
    statement = statement.on_conflict_do_update(
        index_elements=["agent_id"], set_={**ages, "updated_at": now}
    )
    scope.session.execute(statement)
    return get_policy(scope, agent_id)


def get_policy(scope: Scope, agent_id: uuid.UUID) -> RetentionPolicyRead | None:
    p = POLICIES.c
    query = select(POLICIES).where(p.tenant_id == scope.tenant_id, p.agent_id == agent_id)
    row = scope.session.execute(query).first()
    return None if row is None else to_record(RetentionPolicyRead, row)


def list_policies(scope: Scope) -> list[RetentionPolicyRead]:
    p = POLICIES.c
    query = select(POLICIES).where(p.tenant_id == scope.tenant_id).order_by(p.agent_id)
    return [to_record(RetentionPolicyRead, row) for row in scope.session.execute(query)]


def _expired(policy: RetentionPolicyRead, now: datetime) -> Any:
    """The conversations of the policy's agent that its deletion age has passed."""
    c = CONVERSATIONS.c
    cutoff = now - timedelta(days=policy.delete_after_days or 0)
    return and_(
        c.agent_id == policy.agent_id,
        func.coalesce(c.last_message_at, c.created_at) < cutoff,
    )


def plan(scope: Scope, now: datetime) -> list[uuid.UUID]:
    """The ids of the conversations a run at ``now`` would delete or empty messages of."""
    c, m = CONVERSATIONS.c, MESSAGES.c
    found: set[uuid.UUID] = set()
    for policy in list_policies(scope):
        where = [c.tenant_id == scope.tenant_id]
        if policy.delete_after_days is not None:
            query = select(c.id).where(*where, _expired(policy, now))
            found.update(scope.session.execute(query).scalars())
        if policy.drop_content_after_days is not None:
            cutoff = now - timedelta(days=policy.drop_content_after_days)
            query = (
                select(m.conversation_id)
                .join(CONVERSATIONS, c.id == m.conversation_id)
                .where(
                    *where, c.agent_id == policy.agent_id, m.created_at < cutoff, m.content != ""
                )
                .distinct()
            )
            found.update(scope.session.execute(query).scalars())
    return sorted(found)


def _scrub(scope: Scope, calls: Any) -> int:
    """Remove the prompts and responses of the calls ``calls`` selects (ids), and the
    previews of their retrievals."""
    r, k = RETRIEVALS.c, LLM_CALLS.c
    scope.session.execute(
        update(RETRIEVALS)
        .where(r.llm_call_id.in_(calls), r.content_preview.is_not(None))
        .values(content_preview=None)
    )
    statement = (
        update(LLM_CALLS)
        .where(k.id.in_(calls), or_(k.prompt.is_not(None), k.response.is_not(None)))
        .values(prompt=null(), response=null())
    )
    return int(scope.session.execute(statement).rowcount)


def _delete_expired(scope: Scope, policy: RetentionPolicyRead, now: datetime) -> tuple[int, ...]:
    c, k = CONVERSATIONS.c, LLM_CALLS.c
    query = select(c.id, c.agent_id, c.channel, c.created_at).where(
        c.tenant_id == scope.tenant_id, _expired(policy, now)
    )
    if scope.dialect == "postgresql":
        query = query.with_for_update()  # an append meanwhile waits: counted, or refused
    rows = list(scope.session.execute(query))
    scrubbed = 0
    for part in erasure.chunks([row.id for row in rows]):
        scrubbed += _scrub(scope, select(k.id).where(k.conversation_id.in_(part)))
    return len(rows), erasure.retire(scope, rows), scrubbed


def _drop_content(scope: Scope, policy: RetentionPolicyRead, now: datetime) -> tuple[int, int]:
    c, m, k, r = CONVERSATIONS.c, MESSAGES.c, LLM_CALLS.c, RETRIEVALS.c
    cutoff = now - timedelta(days=policy.drop_content_after_days or 0)
    owned = select(c.id).where(c.tenant_id == scope.tenant_id, c.agent_id == policy.agent_id)
    old = [m.conversation_id.in_(owned), m.created_at < cutoff]
    old_ids = select(m.id).where(*old)
    scrubbed = _scrub(
        scope,
        select(k.id).where(
            or_(
                k.message_id.in_(old_ids),
                and_(k.conversation_id.in_(owned), k.created_at < cutoff),
            )
        ),
    )
    scope.session.execute(
        update(RETRIEVALS)
        .where(r.message_id.in_(old_ids), r.content_preview.is_not(None))
        .values(content_preview=None)
    )
    emptied = scope.session.execute(
        update(MESSAGES)
        .where(*old, or_(m.content != "", m.command_args.is_not(None)))
        .values(content="", command_args=None)
    ).rowcount
    return int(emptied), scrubbed


def apply(scope: Scope, now: datetime, *, dry_run: bool) -> RetentionReport:
    """Apply every policy of this tenant at ``now`` (the caller rolls back a dry run)."""
    counts = {"conversations_deleted": 0, "messages_deleted": 0, "messages_emptied": 0}
    scrubbed = 0
    policies = list_policies(scope)
    for policy in policies:
        if policy.delete_after_days is not None:
            conversations, messages, calls = _delete_expired(scope, policy, now)
            counts["conversations_deleted"] += conversations
            counts["messages_deleted"] += messages
            scrubbed += calls
        if policy.drop_content_after_days is not None:
            emptied, calls = _drop_content(scope, policy, now)
            counts["messages_emptied"] += emptied
            scrubbed += calls
    purged = sessions.purge_sessions(scope, all_tenants=False)
    return RetentionReport(
        dry_run=dry_run,
        llm_calls_scrubbed=scrubbed,
        sessions_purged=purged,
        agents=[p.agent_id for p in policies],
        **counts,
    )
