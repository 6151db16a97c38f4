"""Re-pricing model calls recorded without a cost, and checking the rollups."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from parloir import rollups, rollups_fold
from parloir.db.tables import LLM_CALLS
from parloir.pricing import price_nanos
from parloir.rollups_rebuild import compare, expected, rebuild, stored, with_totals
from parloir.schemas_analytics import (
    CostRecompute,
    RollupCheck,
    RollupDifference,
    UnpricedCall,
)
from parloir.scope import Scope

__all__ = ["check_rollups", "recompute_costs"]


def recompute_costs(scope: Scope, *, since: datetime | None) -> CostRecompute:
    """Price the calls that have no cost, if genai-prices knows their model now.

    A call whose model is still unknown keeps its empty cost and is listed. The rollups get
    the new costs in the same transaction, one upsert per rollup row.
    """
    k = LLM_CALLS.c
    query = select(LLM_CALLS).where(k.tenant_id == scope.tenant_id, k.cost_nanos.is_(None))
    if since is not None:
        query = query.where(k.created_at >= since)
    pending: dict[rollups.Key, rollups.Deltas] = {}
    unknown: list[UnpricedCall] = []
    priced = total = 0
    for found in scope.session.execute(query.order_by(k.id)).mappings().all():
        row = dict(found)
        nanos = _price(row)
        if nanos is None:
            unknown.append(UnpricedCall.model_validate(row))
            continue
        scope.session.execute(
            update(LLM_CALLS)
            .where(k.id == row["id"])
            .values(cost_nanos=nanos, cost_source="genai-prices")
        )
        deltas = {"cost_nanos": nanos, "unpriced_llm_calls": -1}
        rollups.add_deltas(pending, rollups.call_key(row), deltas)
        priced, total = priced + 1, total + nanos
    rollups.apply(scope.session, pending)
    return CostRecompute(priced=priced, cost_nanos=total, unknown=unknown)


def _price(row: Any) -> int | None:
    return price_nanos(
        model=row["model"],
        provider=row["provider"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cached_tokens=row["cached_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        at=row["created_at"],
    )


def check_rollups(scope: Scope, *, rebuild_rows: bool, all_tenants: bool) -> RollupCheck:
    """Compare the rollups with the raw rows; with ``rebuild_rows``, replace them too."""
    tenant: uuid.UUID | None = None if all_tenants else scope.tenant_id
    rollups_fold.fold(scope.session)  # compare (or replace) every message's count
    if rebuild_rows:
        differences = rebuild(scope.session, tenant)
    else:
        want = with_totals(*expected(scope.session, tenant))[0]
        differences = compare(stored(scope.session, tenant), want)
    count = sum(1 for key in stored(scope.session, tenant) if key[1] is not None)
    return RollupCheck(
        rebuilt=rebuild_rows,
        rows=count,
        differences=[
            RollupDifference(
                **dict(zip(rollups.KEY, key, strict=True)),
                column=column,
                stored=have,
                expected=want_value,
            )
            for key, column, have, want_value in differences
        ],
    )
