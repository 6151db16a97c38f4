"""Store methods for Telegram ingestion: webhook secrets, updates, quarantine."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy.exc import OperationalError

from parloir import telegram
from parloir.db.errors import is_lock_conflict
from parloir.db.tables import AGENTS
from parloir.scope import Scope
from parloir.store_base import StoreBase
from parloir.telegram import TelegramResult, TelegramWebhookRead
from parloir.telegram_updates import Plan, Unsupported, parse_update, payload_text, update_id_of

__all__ = ["TelegramMixin"]


LOCK_CONFLICT_ATTEMPTS = 5


class TelegramMixin(StoreBase):
    def set_telegram_secret(
        self, agent_id: uuid.UUID, secret: str | None = None
    ) -> tuple[str, TelegramWebhookRead]:
        """Set (or rotate) the agent's webhook secret; returns it with the webhook record.

        Without ``secret`` a random one is made (43 characters Telegram accepts). Give the
        secret to Telegram's ``setWebhook`` as ``secret_token``; parloir keeps only its hash,
        and the old secret stops working at once.
        """
        secret = secret if secret is not None else secrets.token_urlsafe(32)
        with self._write() as scope:
            return secret, telegram.set_secret(scope, agent_id, secret)

    def verify_telegram_secret(self, agent_id: uuid.UUID, secret: str | None) -> uuid.UUID | None:
        """The agent's tenant id if ``secret`` is its webhook secret, else None.

        Looks across tenants (a webhook URL carries an agent id, not a tenant), so it works on
        any store; ``NotFoundError`` if no agent with this id has a webhook secret.
        """
        with self._admin(write=False) as scope:
            return telegram.check_secret(scope, agent_id, secret)

    def ingest_telegram_update(self, agent_id: uuid.UUID, update: Any) -> TelegramResult:
        """Store one Telegram update (a decoded webhook body) for an agent of this tenant.

        One transaction: the update id is claimed first, so a repeated or concurrent delivery
        of the same update stores nothing (``status="duplicate"``). A malformed or unsupported
        update is quarantined (``status="quarantined"``, with its ``reason``): it is handled
        too, and Telegram should be answered 200 for it.
        """
        try:
            plan = parse_update(
                update, agent_id=agent_id, max_content_length=self.settings.max_content_length
            )
        except Unsupported as error:
            return self.quarantine_telegram_update(
                agent_id, error.reason, payload_text(update), update_id=update_id_of(update)
            )
        for attempt in range(1, LOCK_CONFLICT_ATTEMPTS + 1):
            try:
                return self._ingest_plan(agent_id, plan)
            except OperationalError as error:
                # A new conversation and its first message move two statistics rows; two
                # deliveries may take them in opposite orders. PostgreSQL then rolls one back
                # whole, and running it again is safe.
                if not is_lock_conflict(error) or attempt == LOCK_CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ingest_plan(self, agent_id: uuid.UUID, plan: Plan) -> TelegramResult:
        with self._write() as scope:
            scope.get_row(AGENTS, agent_id, "agent")
            claim = telegram.claim_update(scope, agent_id, plan.update_id, plan.kind)
            if claim is None:
                return _duplicate(scope, agent_id, plan.update_id)
            result = telegram.store_plan(scope, agent_id, plan)
            telegram.finish_claim(scope, claim, result)
            return result

    def quarantine_telegram_update(
        self, agent_id: uuid.UUID, reason: str, payload: str, *, update_id: int | None = None
    ) -> TelegramResult:
        """Keep an update that cannot be stored (``payload``: its raw text) with its reason.

        With an ``update_id`` the id is claimed like a stored update's, so a redelivery of the
        same bad update is a duplicate, not a second quarantine row.
        """
        with self._write() as scope:
            scope.get_row(AGENTS, agent_id, "agent")
            claim = None
            if update_id is not None:
                claim = telegram.claim_update(scope, agent_id, update_id, None)
                if claim is None:
                    return _duplicate(scope, agent_id, update_id)
            telegram.quarantine(scope, agent_id, update_id, reason, payload)
            result = TelegramResult(
                update_id=update_id, kind=None, status="quarantined", reason=reason
            )
            if claim is not None:
                telegram.finish_claim(scope, claim, result)
            return result


def _duplicate(scope: Scope, agent_id: uuid.UUID, update_id: int) -> TelegramResult:
    stored = telegram.find_claim(scope, agent_id, update_id)
    return TelegramResult(
        update_id=update_id,
        kind=stored.kind,
        status="duplicate",
        conversation_id=stored.conversation_id,
        message_id=stored.message_id,
    )
