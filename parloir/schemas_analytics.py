"""Records of the statistics API: frozen pydantic models, like ``parloir.schemas``."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from parloir.schemas import Record

__all__ = [
    "AgentStatistics",
    "ConversationStatistics",
    "CostRecompute",
    "DailyStatistics",
    "GlobalStatistics",
    "RollupCheck",
    "RollupDifference",
    "StatisticsGroup",
    "UnpricedCall",
    "UsageFigures",
]


class UsageFigures(Record):
    """Figures summed from the daily rollups over a set of days (and agents, models...).

    ``message_tokens`` is the sum of the messages' ``token_count`` (None if no message has
    one); ``avg_response_time_ms`` the mean of their ``response_time_ms``. Latency figures
    are the model calls'; percentiles are read from the histogram (see docs/analytics.md):
    the upper bound of the bucket holding the percentile.
    """

    conversations: int
    messages: int
    user_messages: int
    assistant_messages: int
    system_messages: int
    tool_messages: int
    commands: int
    message_errors: int
    message_tokens: int | None
    avg_response_time_ms: float | None
    llm_calls: int
    llm_call_errors: int
    llm_calls_by_operation: dict[str, int]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_nanos: int
    unpriced_llm_calls: int
    avg_latency_ms: float | None
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    latency_p99_ms: int | None
    latency_histogram: list[int]


class AgentStatistics(UsageFigures):
    """One agent's figures; an agent without conversations has zeros."""

    agent_id: uuid.UUID
    name: str
    user_id: uuid.UUID | None
    last_conversation_at: datetime | None


class DailyStatistics(UsageFigures):
    """One UTC day's figures."""

    day: date


class StatisticsGroup(UsageFigures):
    """The figures of one group: a day (ISO date), an agent id, a model or a channel.

    Conversations and messages count under the model ``""`` (they have none); model calls
    made for no agent under the nil UUID, without a channel under ``""``.
    """

    by: str
    key: str


class GlobalStatistics(UsageFigures):
    """The tenant's figures over all agents, channels and models."""

    agents: int
    last_conversation_at: datetime | None


class ConversationStatistics(Record):
    """One conversation's figures: its counters, and sums over its messages and calls."""

    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    channel: str
    status: str
    title: str | None
    created_at: datetime
    message_count: int
    last_message_at: datetime | None
    user_messages: int
    assistant_messages: int
    message_tokens: int | None
    avg_response_time_ms: float | None
    llm_calls: int
    total_tokens: int
    cost_nanos: int


class RollupDifference(Record):
    """A rollup figure that differs from what the raw rows give (``day`` None: the
    all-time totals row)."""

    tenant_id: uuid.UUID
    day: date | None
    agent_id: uuid.UUID
    channel: str
    model: str
    operation: str
    column: str
    stored: int
    expected: int


class RollupCheck(Record):
    """The result of comparing (and possibly rebuilding) the rollups."""

    rebuilt: bool
    rows: int  # daily rollup rows that count something
    differences: list[RollupDifference]


class UnpricedCall(Record):
    """A model call that still has no cost: genai-prices does not know its model."""

    id: uuid.UUID
    model: str
    provider: str | None
    created_at: datetime


class CostRecompute(Record):
    """Calls priced by ``recompute_costs``, and those still unknown."""

    priced: int
    cost_nanos: int
    unknown: list[UnpricedCall]
