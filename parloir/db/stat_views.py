"""The SQL views for people who query the database directly, shaped like the seeds' views.

``agent_statistics`` reads the all-time totals. On SQLite from migration 0009 on, it also
adds the messages a fold has not counted yet (``parloir.rollups_fold``): those above the
watermark, a few dozen at most per writing process. ``conversation_stats`` reads the
conversations, whose counters every append keeps exact.
"""

from __future__ import annotations

from alembic import op

__all__ = ["create", "replace_agent_statistics"]

_SUM = "CAST(SUM({0}) AS BIGINT)"

_AGENT_STATISTICS = """
CREATE VIEW agent_statistics{options} AS
SELECT
    a.id AS agent_id,
    a.tenant_id,
    a.owner_user_id AS user_id,
    a.name,
    COALESCE(r.conversations, 0) AS total_conversations,
    COALESCE(r.messages, 0) AS total_messages,
    COALESCE(r.user_messages, 0) AS user_messages,
    COALESCE(r.assistant_messages, 0) AS assistant_messages,
    CASE WHEN r.message_tokens_n > 0 THEN r.message_tokens END AS total_tokens_used,
    CASE WHEN r.response_time_n > 0
        THEN r.response_time_sum_ms * 1.0 / r.response_time_n END AS avg_response_time_ms,
    r.last_conversation_at AS last_conversation_date,
    COALESCE(r.llm_calls, 0) AS llm_calls,
    COALESCE(r.total_tokens, 0) AS llm_total_tokens,
    COALESCE(r.cost_nanos, 0) AS cost_nanos
FROM agents a
LEFT JOIN (
    SELECT tenant_id, agent_id,
        {sums},
        MAX(last_conversation_at) AS last_conversation_at
    FROM {source}
    GROUP BY tenant_id, agent_id
) r ON r.tenant_id = a.tenant_id AND r.agent_id = a.id
"""

_CONVERSATION_STATS = """
CREATE VIEW conversation_stats{options} AS
SELECT
    c.id AS conversation_id,
    c.tenant_id,
    c.agent_id,
    c.channel,
    c.status,
    c.title,
    c.message_count,
    c.created_at,
    c.last_message_at
FROM conversations c
"""

_PENDING = {
    "messages": "1",
    "user_messages": "m.role = 'user'",
    "assistant_messages": "m.role = 'assistant'",
    "message_tokens": "COALESCE(m.token_count, 0)",
    "message_tokens_n": "m.token_count IS NOT NULL",
    "response_time_sum_ms": "COALESCE(m.response_time_ms, 0)",
    "response_time_n": "m.response_time_ms IS NOT NULL",
}
"""What one message not yet folded adds to each summed column (the others: 0)."""

_COLUMNS = (
    "conversations",
    "messages",
    "user_messages",
    "assistant_messages",
    "message_tokens",
    "message_tokens_n",
    "response_time_sum_ms",
    "response_time_n",
    "llm_calls",
    "total_tokens",
    "cost_nanos",
)


def _source(pending: bool) -> str:
    if not pending:
        return "usage_totals"
    stored = ", ".join(_COLUMNS)
    added = ", ".join(f"{_PENDING.get(name, '0')} AS {name}" for name in _COLUMNS)
    return f"""(
        SELECT tenant_id, agent_id, {stored}, last_conversation_at FROM usage_totals
        UNION ALL
        SELECT m.tenant_id, c.agent_id, {added}, NULL AS last_conversation_at
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE m.rowid > (SELECT message_rowid FROM rollup_watermark)
    )"""


def _options(dialect: str) -> str:
    return " WITH (security_invoker = true)" if dialect == "postgresql" else ""


def _agent_statistics(dialect: str, pending: bool) -> str:
    sums = ",\n        ".join(f"{_SUM.format(name)} AS {name}" for name in _COLUMNS)
    return _AGENT_STATISTICS.format(options=_options(dialect), sums=sums, source=_source(pending))


def create(dialect: str, *, pending: bool) -> None:
    """Create both views (in a migration)."""
    op.execute(_agent_statistics(dialect, pending))
    op.execute(_CONVERSATION_STATS.format(options=_options(dialect)))


def replace_agent_statistics(dialect: str, *, pending: bool) -> None:
    """Replace ``agent_statistics`` (SQLite: with or without the messages not yet folded)."""
    op.execute("DROP VIEW agent_statistics")
    op.execute(_agent_statistics(dialect, pending))
