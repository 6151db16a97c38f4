"""``parloir search``: full-text search over message content, for one tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape

from parloir.cli import render
from parloir.schemas import SearchHit
from parloir.store import Store

_UUID = {"parser": uuid.UUID, "metavar": "UUID"}


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time zone (like 2026-01-31T12:00Z)", param_hint=name)
    return parsed


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='Words, "phrases", OR, -excluded, prefix*.')],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (default: the default tenant).")
    ] = None,
    agent: Annotated[uuid.UUID | None, typer.Option("--agent", help="Agent id.", **_UUID)] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Channel.")] = None,
    role: Annotated[str | None, typer.Option("--role", help="user, assistant...")] = None,
    contact: Annotated[
        uuid.UUID | None, typer.Option("--contact", help="Contact id.", **_UUID)
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From (ISO 8601, with zone).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Hits per page.")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Next page's cursor.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search message content, best matches first."""
    with Store.open(settings=ctx.obj.settings) as store:
        view = store
        if tenant is not None:
            found = store.find_tenant(tenant)
            if found is None:
                raise typer.BadParameter(f"no tenant with slug {tenant!r}", param_hint="--tenant")
            view = store.for_tenant(found.id)
        page = view.search(
            query,
            agent_id=agent,
            channel=channel,
            role=role,
            contact_id=contact,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            limit=limit,
            cursor=cursor,
        )
    if json_output:
        items = [hit.model_dump(mode="json") for hit in page.items]
        render.emit_json({"items": items, "next_cursor": page.next_cursor})
        return
    render.search_hits(query, [_row(hit) for hit in page.items], page.next_cursor)


def _row(hit: SearchHit) -> tuple[str, ...]:
    return (
        f"{hit.score:.3g}",
        hit.created_at.strftime("%Y-%m-%d %H:%M"),
        hit.channel,
        hit.role,
        "".join(f"[bold yellow]{escape(t)}[/]" if m else escape(t) for t, m in hit.snippet_parts),
    )
