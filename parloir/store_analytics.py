"""Store methods for statistics, rollups, costs and deletions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from parloir import analytics, costs, deletion, rollups_fold
from parloir.analytics import GroupBy
from parloir.schemas_analytics import (
    AgentStatistics,
    ConversationStatistics,
    CostRecompute,
    DailyStatistics,
    GlobalStatistics,
    RollupCheck,
    StatisticsGroup,
)
from parloir.store_base import StoreBase
from parloir.validation import require_aware

__all__ = ["AnalyticsMixin"]


class AnalyticsMixin(StoreBase):
    def delete_message(self, message_id: uuid.UUID) -> None:
        """Delete a message; its ``seq`` is not reused (the conversation keeps a gap).

        The conversation's ``message_count`` and ``last_message_at`` and the rollups are
        corrected in the same transaction; model calls linked to it stay, unlinked.
        """
        with self._write() as scope:
            deletion.delete_message(scope, message_id)

    def delete_conversation(self, conversation_id: uuid.UUID) -> None:
        """Delete a conversation with its messages, their retrievals and feedback, and its
        sessions. Its model calls stay in the ledger, unlinked, and keep counting."""
        with self._write() as scope:
            deletion.delete_conversation(scope, conversation_id)

    def agent_statistics(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[AgentStatistics]:
        """Each agent's figures over UTC days ``since`` (inclusive) to ``until`` (exclusive)."""
        self.fold_rollups()
        with self._read() as scope:
            return analytics.agent_statistics(scope, agent_id=agent_id, since=since, until=until)

    def daily_statistics(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[DailyStatistics]:
        """A time series, one record per UTC day (missing days are zeros given both bounds)."""
        self.fold_rollups()
        with self._read() as scope:
            return analytics.daily_statistics(scope, agent_id=agent_id, since=since, until=until)

    def statistics(
        self,
        by: GroupBy,
        *,
        agent_id: uuid.UUID | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[StatisticsGroup]:
        """Figures grouped by ``day``, ``agent``, ``model`` or ``channel``."""
        self.fold_rollups()
        with self._read() as scope:
            return analytics.statistics_by(scope, by, agent_id=agent_id, since=since, until=until)

    def global_statistics(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> GlobalStatistics:
        """The tenant's figures over every agent, channel and model (or one agent's)."""
        self.fold_rollups()
        with self._read() as scope:
            return analytics.global_statistics(scope, agent_id=agent_id, since=since, until=until)

    def conversation_statistics(self, conversation_id: uuid.UUID) -> ConversationStatistics:
        """One conversation's figures."""
        with self._read() as scope:
            return analytics.conversation_statistics(scope, conversation_id)

    def fold_rollups(self) -> bool:
        """Count in the rollups the single appends not counted yet; True if there were any.

        On SQLite the rollups count single appends in groups (``parloir.rollups_fold``): the
        statistics methods fold first, the ``agent_statistics`` view adds what is not folded,
        and a store folds as it closes. Call this before reading the rollup tables directly.
        PostgreSQL counts every append in its own statement: nothing to fold.
        """
        if self.dialect != "sqlite":
            return False
        with self._quick_read() as scope:
            if not rollups_fold.pending(scope.session):
                return False
        with self._bulk_write() as scope:
            rollups_fold.fold(scope.session)
        return True

    def check_rollups(self, *, rebuild: bool = False, all_tenants: bool = False) -> RollupCheck:
        """Compare the rollups with the raw rows; with ``rebuild``, replace them as well."""
        with self._admin(write=True) if all_tenants else self._write() as scope:
            return costs.check_rollups(scope, rebuild_rows=rebuild, all_tenants=all_tenants)

    def recompute_costs(self, *, since: datetime | None = None) -> CostRecompute:
        """Price calls recorded without a cost whose model genai-prices knows now."""
        require_aware("since", since)
        with self._write() as scope:
            return costs.recompute_costs(scope, since=since)
