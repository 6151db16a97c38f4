"""Statistics read from the rollups, per agent, day, model or channel.

Reads sum rollup rows, never the raw tables: all-time figures read the totals (a few rows per
agent), figures over a period the daily rows of that period; neither grows with the number of
messages. Days are UTC;
``since`` is inclusive and ``until`` exclusive, as in every listing of parloir.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, func, select

from parloir.db.models_analytics import COUNTERS, LATENCY_BOUNDS_MS, LATENCY_COLUMNS
from parloir.db.tables import AGENTS, CONVERSATIONS, LLM_CALLS, MESSAGES
from parloir.db.tables_analytics import ROLLUPS, TOTALS
from parloir.errors import InvalidInputError
from parloir.schemas_analytics import (
    AgentStatistics,
    ConversationStatistics,
    DailyStatistics,
    GlobalStatistics,
    StatisticsGroup,
)
from parloir.scope import Scope

__all__ = [
    "GroupBy",
    "agent_statistics",
    "conversation_statistics",
    "daily_statistics",
    "global_statistics",
    "percentile",
    "statistics_by",
]

GroupBy = Literal["day", "agent", "model", "channel"]
_GROUPS: dict[str, str] = {
    "day": "day",
    "agent": "agent_id",
    "model": "model",
    "channel": "channel",
}


def percentile(histogram: list[int], percent: int) -> int | None:
    """The nearest-rank percentile read from the histogram: its bucket's upper bound.

    A percentile in the last bucket (above the largest bound) reads as that largest bound.
    """
    count = sum(histogram)
    if count == 0:
        return None
    rank = max(1, -(-count * percent // 100))  # ceil without floats
    seen = 0
    for index, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    raise AssertionError("unreachable")  # pragma: no cover


def _ratio(total: int, count: int) -> float | None:
    return total / count if count else None


def figures(sums: Mapping[str, int], by_operation: Mapping[str, int]) -> dict[str, Any]:
    """The fields of :class:`UsageFigures` from summed rollup counters."""
    out: dict[str, Any] = {name: sums.get(name, 0) for name in COUNTERS}
    histogram = [sums.get(name, 0) for name in LATENCY_COLUMNS]
    out.update(
        message_tokens=out["message_tokens"] if out["message_tokens_n"] else None,
        avg_response_time_ms=_ratio(out["response_time_sum_ms"], out["response_time_n"]),
        avg_latency_ms=_ratio(out["latency_sum_ms"], out["latency_n"]),
        latency_p50_ms=percentile(histogram, 50),
        latency_p95_ms=percentile(histogram, 95),
        latency_p99_ms=percentile(histogram, 99),
        latency_histogram=histogram,
        llm_calls_by_operation={op: n for op, n in sorted(by_operation.items()) if op and n},
    )
    return out


class _Group:
    """Counters summed for one group, calls per operation, latest conversation."""

    def __init__(self) -> None:
        self.sums: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.by_operation: dict[str, int] = {}
        self.last: datetime | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        for name in COUNTERS:
            self.sums[name] += int(row[name] or 0)
        op = row["operation"]
        self.by_operation[op] = self.by_operation.get(op, 0) + int(row["llm_calls"] or 0)
        last = row["last_conversation_at"]
        if last is not None and (self.last is None or last > self.last):
            self.last = last

    def figures(self) -> dict[str, Any]:
        return figures(self.sums, self.by_operation)


def _grouped(
    scope: Scope,
    dimension: str | None,
    *,
    agent_id: uuid.UUID | None,
    since: date | None,
    until: date | None,
) -> dict[Any, _Group]:
    # Without bounds and by anything but the day, the all-time totals hold the same sums in
    # a few rows per agent.
    whole = since is None and until is None and dimension != "day"
    r = (TOTALS if whole else ROLLUPS).c
    dims = [r[dimension]] if dimension else []
    sums = [func.sum(r[name]).label(name) for name in COUNTERS]
    query = select(*dims, r.operation, *sums, func.max(r.last_conversation_at).label("last"))
    query = query.where(r.tenant_id == scope.tenant_id).group_by(*dims, r.operation)
    if agent_id is not None:
        query = query.where(r.agent_id == agent_id)
    if since is not None:
        query = query.where(r.day >= since)
    if until is not None:
        query = query.where(r.day < until)
    out: dict[Any, _Group] = {}
    for row in scope.session.execute(query).mappings():
        key = row[dimension] if dimension else None
        values = {**row, "last_conversation_at": row["last"]}
        out.setdefault(key, _Group()).add(values)
    return out


def _check_days(since: date | None, until: date | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if isinstance(value, datetime):
            raise InvalidInputError.single(name, "date", "must be a date (days are UTC)")
    if since is not None and until is not None and until < since:
        raise InvalidInputError.single("until", "after_since", "must not be before since")


def agent_statistics(
    scope: Scope, *, agent_id: uuid.UUID | None, since: date | None, until: date | None
) -> list[AgentStatistics]:
    """Every agent's figures (or one agent's), by name; agents without activity have zeros."""
    _check_days(since, until)
    groups = _grouped(scope, "agent_id", agent_id=agent_id, since=since, until=until)
    a = AGENTS.c
    query = select(a.id, a.name, a.owner_user_id).where(a.tenant_id == scope.tenant_id)
    if agent_id is not None:
        query = query.where(a.id == agent_id)
    out = []
    for agent in scope.session.execute(query.order_by(a.name, a.id)):
        group = groups.get(agent.id) or _Group()
        out.append(
            AgentStatistics(
                **group.figures(),
                agent_id=agent.id,
                name=agent.name,
                user_id=agent.owner_user_id,
                last_conversation_at=group.last,
            )
        )
    return out


def _days(since: date, until: date) -> Iterable[date]:
    day = since
    while day < until:
        yield day
        day += timedelta(days=1)


def daily_statistics(
    scope: Scope, *, agent_id: uuid.UUID | None, since: date | None, until: date | None
) -> list[DailyStatistics]:
    """One record per day, oldest first; with both bounds, days without activity are zeros."""
    _check_days(since, until)
    groups = _grouped(scope, "day", agent_id=agent_id, since=since, until=until)
    days = sorted(groups) if since is None or until is None else list(_days(since, until))
    return [DailyStatistics(**(groups.get(d) or _Group()).figures(), day=d) for d in days]


def statistics_by(
    scope: Scope,
    by: GroupBy,
    *,
    agent_id: uuid.UUID | None,
    since: date | None,
    until: date | None,
) -> list[StatisticsGroup]:
    """Figures grouped by day, agent, model or channel, sorted by the group's key."""
    if by not in _GROUPS:
        raise InvalidInputError.single("by", "literal_error", "must be day/agent/model/channel")
    _check_days(since, until)
    groups = _grouped(scope, _GROUPS[by], agent_id=agent_id, since=since, until=until)
    items = sorted((str(key), group) for key, group in groups.items())
    return [StatisticsGroup(**group.figures(), by=by, key=key) for key, group in items]


def global_statistics(
    scope: Scope, *, agent_id: uuid.UUID | None, since: date | None, until: date | None
) -> GlobalStatistics:
    """The tenant's figures, summed over every agent, channel and model (or one agent's:
    then ``agents`` counts that agent only)."""
    _check_days(since, until)
    group = _grouped(scope, None, agent_id=agent_id, since=since, until=until).get(None)
    group = group or _Group()
    a = AGENTS.c
    agents = select(func.count()).select_from(AGENTS).where(a.tenant_id == scope.tenant_id)
    if agent_id is not None:
        agents = agents.where(a.id == agent_id)
    return GlobalStatistics(
        **group.figures(),
        agents=scope.session.execute(agents).scalar_one(),
        last_conversation_at=group.last,
    )


def conversation_statistics(scope: Scope, conversation_id: uuid.UUID) -> ConversationStatistics:
    """One conversation's counters, with sums over its messages and model calls."""
    conversation = scope.get_row(CONVERSATIONS, conversation_id, "conversation")
    m, k = MESSAGES.c, LLM_CALLS.c
    messages = scope.session.execute(
        select(
            func.coalesce(func.sum(case((m.role == "user", 1), else_=0)), 0),
            func.coalesce(func.sum(case((m.role == "assistant", 1), else_=0)), 0),
            func.sum(m.token_count),
            func.sum(m.response_time_ms),
            func.count(m.response_time_ms),
        ).where(m.conversation_id == conversation_id)
    ).one()
    calls = scope.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(k.total_tokens), 0),
            func.coalesce(func.sum(k.cost_nanos), 0),
        ).where(k.conversation_id == conversation_id, k.tenant_id == scope.tenant_id)
    ).one()
    tokens = messages[2]
    return ConversationStatistics(
        conversation_id=conversation.id,
        agent_id=conversation.agent_id,
        channel=conversation.channel,
        status=conversation.status,
        title=conversation.title,
        created_at=conversation.created_at,
        message_count=conversation.message_count,
        last_message_at=conversation.last_message_at,
        user_messages=int(messages[0]),
        assistant_messages=int(messages[1]),
        message_tokens=None if tokens is None else int(tokens),
        avg_response_time_ms=_ratio(int(messages[3] or 0), int(messages[4])),
        llm_calls=int(calls[0]),
        total_tokens=int(calls[1]),
        cost_nanos=int(calls[2]),
    )
