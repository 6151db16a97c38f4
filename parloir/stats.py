"""Totals over the raw rows, for one tenant or for all of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, case, func, select

from parloir.db import tables
from parloir.schemas import Totals
from parloir.scope import Scope

__all__ = ["totals"]


def _count(scope: Scope, table: Table, all_tenants: bool, *extra: Any) -> Any:
    query = select(func.count(), *extra).select_from(table)
    if not all_tenants:
        column = table.c.id if table.name == "tenants" else table.c.tenant_id
        query = query.where(column == scope.tenant_id)
    return scope.session.execute(query).one()


def totals(scope: Scope, *, all_tenants: bool) -> Totals:
    """Counts of every kind of row, and the sums of the usage ledger."""
    simple = (
        "tenants",
        "agents",
        "contacts",
        "conversations",
        "retrievals",
        "feedback",
        "sessions",
        "audit_events",
        "posts",
    )
    out: dict[str, int] = {
        name: _count(scope, tables.TABLES[name], all_tenants)[0] for name in simple
    }
    m = tables.MESSAGES.c
    row = _count(
        scope,
        tables.MESSAGES,
        all_tenants,
        func.coalesce(func.sum(case((m.role == "user", 1), else_=0)), 0),
        func.coalesce(func.sum(case((m.role == "assistant", 1), else_=0)), 0),
        func.count(m.command),
        func.count(m.error_type),
    )
    out.update(
        messages=row[0],
        user_messages=row[1],
        assistant_messages=row[2],
        commands=row[3],
        message_errors=row[4],
    )
    c = tables.LLM_CALLS.c
    row = _count(
        scope,
        tables.LLM_CALLS,
        all_tenants,
        func.coalesce(func.sum(case((c.is_success.is_(False), 1), else_=0)), 0),
        *(
            func.coalesce(func.sum(col), 0)
            for col in (
                c.input_tokens,
                c.output_tokens,
                c.cached_tokens,
                c.reasoning_tokens,
                c.total_tokens,
                c.cost_nanos,
            )
        ),
        func.count() - func.count(c.cost_nanos),
    )
    keys = (
        "llm_calls",
        "llm_call_errors",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_nanos",
        "unpriced_llm_calls",
    )
    out.update({k: int(v) for k, v in zip(keys, row, strict=True)})
    return Totals(**out)
