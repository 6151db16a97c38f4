"""``parloir stats`` (totals, statistics, rollup checks) and ``parloir costs recompute``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from parloir.analytics import GroupBy
from parloir.cli import render
from parloir.cli.commands import JsonFlag, TenantOption, _open
from parloir.schemas_analytics import UsageFigures
from parloir.store import Store

costs_app = typer.Typer(help="Costs of model calls.", no_args_is_help=True)

DayOption = Annotated[
    str | None, typer.Option(help="A UTC day, YYYY-MM-DD (since: inclusive, until: exclusive).")
]
_COLUMNS = (
    "conversations",
    "messages",
    "user_messages",
    "assistant_messages",
    "llm_calls",
    "total_tokens",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=option) from None


def _tenant_view(store: Store, tenant: str | None) -> Store:
    if tenant is None:
        return store
    found = store.find_tenant(tenant)
    if found is None:
        raise typer.BadParameter(f"no tenant with slug {tenant!r}", param_hint="--tenant")
    return store.for_tenant(found.id)


def _agent_id(store: Store, agent: str | None) -> uuid.UUID | None:
    if agent is None:
        return None
    try:
        return uuid.UUID(agent)
    except ValueError:
        pass
    matches = [a.id for a in store.list_agents() if a.name == agent]
    if len(matches) != 1:
        problem = "no agent" if not matches else "several agents"
        raise typer.BadParameter(f"{problem} named {agent!r}", param_hint="--agent")
    return matches[0]


def _figures(record: UsageFigures) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    data["cost_usd"] = f"{record.cost_nanos / 1e9:.6f}"
    return data


def _totals(store: Store, tenant: str | None, json_output: bool) -> None:
    totals = store.totals(all_tenants=tenant is None).model_dump()
    totals["cost_usd"] = f"{totals['cost_nanos'] / 1e9:.6f}"
    if json_output:
        render.emit_json(totals)
    else:
        render.key_values("parloir totals" + (f" for {tenant}" if tenant else ""), totals)


def _check(store: Store, tenant: str | None, rebuild: bool, json_output: bool) -> None:
    result = store.check_rollups(rebuild=rebuild, all_tenants=tenant is None)
    if json_output:
        render.emit_json(result.model_dump(mode="json"))
    else:
        rows = [
            (d.day, d.agent_id, d.channel, d.model, d.operation, d.column, d.stored, d.expected)
            for d in result.differences
        ]
        if rows:
            columns = ["day", "agent", "channel", "model", "operation", "column", "stored"]
            render.rows("Rollup differences", [*columns, "expected"], rows)
        verb = "rebuilt" if rebuild else "checked"
        render.message(f"{result.rows} rollup rows {verb}, {len(rows)} difference(s)")
    if result.differences:
        raise typer.Exit(1)


def stats(
    ctx: typer.Context,
    tenant: TenantOption = None,
    agent: Annotated[str | None, typer.Option(help="Agent id or name.")] = None,
    since: DayOption = None,
    until: DayOption = None,
    by: Annotated[
        GroupBy | None, typer.Option(help="Group by day, agent, model or channel.")
    ] = None,
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Rebuild the rollups from the raw rows.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Report rollups that differ from the raw rows (exit 1)."),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Print totals, or statistics from the daily rollups (per agent, day, model, channel)."""
    with _open(ctx) as store:
        view = _tenant_view(store, tenant)
        if recompute or check:
            _check(view, tenant, recompute, json_output)
            return
        if agent is None and since is None and until is None and by is None:
            _totals(view, tenant, json_output)
            return
        filters: dict[str, Any] = {
            "agent_id": _agent_id(view, agent),
            "since": _day(since, "--since"),
            "until": _day(until, "--until"),
        }
        overall = _figures(view.global_statistics(**filters))
        groups = [_figures(g) for g in view.statistics(by, **filters)] if by else []
        names = {str(a.id): a.name for a in view.list_agents()} if by == "agent" else {}
    if json_output:
        render.emit_json({**overall, "by": by, "groups": groups} if by else overall)
        return
    render.key_values("parloir statistics", {k: overall[k] for k in _COLUMNS})
    if by:
        values = [(names.get(g["key"], g["key"]), *(g[c] for c in _COLUMNS)) for g in groups]
        render.rows(f"By {by}", [by, *_COLUMNS], values)


@costs_app.command("recompute")
def recompute_costs(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug (default tenant if omitted).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only calls from this time on (ISO date or time, UTC).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Price model calls recorded without a cost; list those whose model is still unknown."""
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter("expected an ISO date or time", param_hint="--since") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with _open(ctx) as store:
        result = _tenant_view(store, tenant).recompute_costs(since=start)
    if json_output:
        render.emit_json(result.model_dump(mode="json"))
        return
    render.message(f"{result.priced} call(s) priced, {result.cost_nanos / 1e9:.6f} USD")
    if result.unknown:
        rows = [(c.id, c.model, c.provider, c.created_at) for c in result.unknown]
        render.rows("Still unknown (not priced)", ["id", "model", "provider", "at"], rows)
