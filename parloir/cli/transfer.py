"""``parloir import`` and ``parloir export``: thin shells over ``Store.import_source`` and
``Store.export_conversations``."""

from __future__ import annotations

import csv
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parloir import exporting
from parloir.cli import render
from parloir.importers import ImportOptions
from parloir.importers.framework import COST_UNITS
from parloir.store import Store

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (default: the default tenant).")
]


@contextmanager
def _open(ctx: typer.Context, tenant: str | None) -> Iterator[Store]:
    """The store, or its view for the tenant with slug ``tenant``."""
    with Store.open(settings=ctx.obj.settings) as store:
        if tenant is None:
            yield store
            return
        found = store.find_tenant(tenant)
        if found is None:
            raise typer.BadParameter(f"no tenant with slug {tenant!r}", param_hint="--tenant")
        yield store.for_tenant(found.id)


def _progress(disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=disable,
        console=render.errors,
    )


def import_command(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A SQLite file, a PostgreSQL URL or a .jsonl file.")
    ],
    tenant: TenantOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be imported; write nothing.")
    ] = False,
    layout: Annotated[
        str | None, typer.Option("--layout", help="Force a layout instead of detecting it.")
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, max=100_000, help="Source rows per transaction.")
    ] = 2000,
    cost_unit: Annotated[
        str,
        typer.Option(
            "--cost-unit",
            help=f"Unit of LinkedIn ai_interactions.cost: {', '.join(COST_UNITS)}.",
        ),
    ] = "milli",
    cost_rate_usd: Annotated[
        float, typer.Option("--cost-rate-usd", help="USD per unit of that cost's currency.")
    ] = 1.0,
    json_output: JsonFlag = False,
) -> None:
    """Import another chatbot's database (the source is only read)."""
    options = ImportOptions(
        chunk_size=chunk_size, layout=layout, cost_unit=cost_unit, cost_rate_usd=cost_rate_usd
    )
    with _open(ctx, tenant) as store, _progress(json_output) as bar:
        task = bar.add_task("Importing", total=None)
        report = store.import_source(
            source,
            dry_run=dry_run,
            options=options,
            progress=lambda n: bar.advance(task, n),
            on_total=lambda n: bar.update(task, total=n),
        )
    data = report.to_dict()
    if json_output:
        render.emit_json(data)
        return
    title = f"{'Dry run: would import' if dry_run else 'Imported'} from {data['layout']}"
    render.key_values(title, data["imported"] or {"nothing": 0})
    skipped = [(e, r, n) for e, reasons in data["skipped"].items() for r, n in reasons.items()]
    if skipped:
        render.rows("Skipped", ["entity", "reason", "rows"], skipped)
    if data["notes"]:
        render.key_values("Notes", data["notes"])


def export_command(
    ctx: typer.Context,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Only this agent's conversations (id or name).")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only conversations created at or after (UTC if naive)."),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Only this contact's (id, or CHANNEL:EXTERNAL_ID)."),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="jsonl (one conversation a line) or csv.")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", help="File to write (default: standard output).")
    ] = None,
    tenant: TenantOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Export conversations (OpenAI message format, with LLM calls and feedback)."""
    if output_format not in ("jsonl", "csv"):
        raise typer.BadParameter("must be jsonl or csv", param_hint="--format")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with _open(ctx, tenant) as store, ExitStack() as stack:
        agent_id = _agent_id(store, agent)
        contact_id = _contact_id(store, contact)
        handle: TextIO = (
            stack.enter_context(output.open("w", encoding="utf-8", newline=""))
            if output is not None
            else sys.stdout
        )
        lines = store.export_conversations(agent_id=agent_id, contact_id=contact_id, since=since)
        counts = _write(lines, handle, output_format)
    if json_output or output is not None:
        summary = {"conversations": counts[0], "messages": counts[1], "format": output_format}
        if json_output:
            render.emit_json(summary)
        else:
            render.key_values(f"Exported to {output}", summary)


def _write(lines: Iterator[dict[str, Any]], handle: TextIO, output_format: str) -> tuple[int, int]:
    conversations = messages = 0
    writer = csv.writer(handle) if output_format == "csv" else None
    if writer is not None:
        writer.writerow(exporting.CSV_COLUMNS)
    for line in lines:
        conversations += 1
        messages += len(line["messages"])
        if writer is not None:
            writer.writerows(exporting.csv_rows(line))
        else:
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    return conversations, messages


def _agent_id(store: Store, agent: str | None) -> uuid.UUID | None:
    if agent is None:
        return None
    try:
        return uuid.UUID(agent)
    except ValueError:
        pass
    for found in store.list_agents():
        if found.name == agent:
            return found.id
    raise typer.BadParameter(f"no agent {agent!r}", param_hint="--agent")


def _contact_id(store: Store, contact: str | None) -> uuid.UUID | None:
    if contact is None:
        return None
    try:
        return uuid.UUID(contact)
    except ValueError:
        pass
    channel, _, external_id = contact.partition(":")
    found = store.find_contact(channel, external_id) if external_id else None
    if found is None:
        raise typer.BadParameter(f"no contact {contact!r}", param_hint="--contact")
    return found.id
