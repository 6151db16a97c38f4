"""The :class:`Store`: parloir's library API.

One store owns the database engines; every method is one transaction and returns plain
records (``parloir.schemas``), never ORM objects. A store acts for one tenant at a time
(the default tenant unless told otherwise); :meth:`Store.for_tenant` gives a view for another.

    from parloir import Store

    with Store.open("sqlite:///bot.db") as store:
        agent = store.create_agent(name="helper", instructions="Be brief.", model="gpt-4o-mini")
        conv = store.get_or_create_conversation(agent_id=agent.id, channel="telegram",
                                                external_id="42")
        store.append_message(conv.id, role="user", content="Hello", idempotency_key="upd-1")
        messages = store.context(conv.id, max_tokens=4000)
"""

from __future__ import annotations

from parloir.store_accounts import AccountsMixin
from parloir.store_analytics import AnalyticsMixin
from parloir.store_erasure import ErasureMixin
from parloir.store_importer import ImportExportMixin
from parloir.store_isolation import TelegramMixin
from parloir.store_ledger import LedgerMixin
from parloir.store_messages import MessagesMixin
from parloir.store_search import SearchMixin
from parloir.store_server import ServerMixin

__all__ = ["Store"]


class Store(
    AccountsMixin,
    MessagesMixin,
    LedgerMixin,
    AnalyticsMixin,
    SearchMixin,
    ImportExportMixin,
    ServerMixin,
    TelegramMixin,
    ErasureMixin,
):
    """A conversation store and LLM-usage ledger on SQLite or PostgreSQL."""
