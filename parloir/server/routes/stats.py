"""Statistics read from the rollups: per agent, per day, grouped, overall, per conversation.

Days are UTC dates, ``since`` inclusive and ``until`` exclusive, as in ``parloir stats``. A
bot key reads its own agent's figures only: another agent answers 404, like a missing one.
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from parloir.analytics import GroupBy
from parloir.errors import InvalidInputError
from parloir.schemas_analytics import (
    AgentStatistics,
    ConversationStatistics,
    DailyStatistics,
    GlobalStatistics,
    StatisticsGroup,
)
from parloir.server.deps import Reader
from parloir.server.problems import responses
from parloir.server.scoping import agent_filter, own_conversation

router = APIRouter(prefix="/v1", tags=["stats"])
R = responses(403, 404)
MAX_DAYS = 3660
"""The longest period of ``GET /v1/stats/daily`` with both bounds (one record per day)."""


class Statistics(BaseModel):
    """The figures over the period, and per group when ``by`` is given (as ``parloir stats``)."""

    model_config = ConfigDict(frozen=True)
    overall: GlobalStatistics
    by: GroupBy | None
    groups: list[StatisticsGroup]


@router.get("/stats/agents", response_model=list[AgentStatistics], responses=R)
def agent_statistics(
    ctx: Reader,
    agent_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[AgentStatistics]:
    """Each agent's figures by name (agents without activity have zeros); a bot: its own."""
    agent = agent_filter(ctx, agent_id)
    return ctx.store.agent_statistics(agent_id=agent, since=since, until=until)


@router.get("/stats/daily", response_model=list[DailyStatistics], responses=R)
def daily_statistics(
    ctx: Reader,
    agent_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[DailyStatistics]:
    """One record per UTC day, oldest first; with both bounds, days without activity are
    zeros (at most 3,660 days)."""
    if since is not None and until is not None and (until - since).days > MAX_DAYS:
        raise InvalidInputError.single("until", "max_days", f"at most {MAX_DAYS} days after since")
    agent = agent_filter(ctx, agent_id)
    return ctx.store.daily_statistics(agent_id=agent, since=since, until=until)


@router.get("/stats", response_model=Statistics, responses=R)
def statistics(
    ctx: Reader,
    by: GroupBy | None = None,
    agent_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Statistics:
    """The figures over every agent (or one), and grouped by day, agent, model or channel."""
    agent = agent_filter(ctx, agent_id)
    overall = ctx.store.global_statistics(agent_id=agent, since=since, until=until)
    groups = ctx.store.statistics(by, agent_id=agent, since=since, until=until) if by else []
    return Statistics(overall=overall, by=by, groups=groups)


@router.get("/stats/global", response_model=GlobalStatistics, responses=R)
def global_statistics(
    ctx: Reader,
    agent_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
) -> GlobalStatistics:
    """The tenant's figures over every agent, channel and model (a bot: its agent's)."""
    agent = agent_filter(ctx, agent_id)
    return ctx.store.global_statistics(agent_id=agent, since=since, until=until)


@router.get(
    "/conversations/{conversation_id}/stats", response_model=ConversationStatistics, responses=R
)
def conversation_statistics(ctx: Reader, conversation_id: uuid.UUID) -> ConversationStatistics:
    """One conversation's counters, with sums over its messages and model calls."""
    own_conversation(ctx, conversation_id)
    return ctx.store.conversation_statistics(conversation_id)
