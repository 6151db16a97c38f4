"""``parloir import`` and ``parloir export``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
