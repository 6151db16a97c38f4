"""``parloir demo``, ``parloir sessions``, ``parloir tenants``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from parloir.cli import render
from parloir.demo import fill_demo
from parloir.store import Store

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (default: every tenant).")
]

sessions_app = typer.Typer(help="Session state with a time to live.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (workspaces).", no_args_is_help=True)


def _open(ctx: typer.Context, *, migrate: bool | None = None) -> Store:
    return Store.open(settings=ctx.obj.settings, migrate=migrate)


def demo(
    ctx: typer.Context,
    conversations: Annotated[
        int, typer.Option("--conversations", min=1, max=100_000, help="How many conversations.")
    ] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random generator.")] = 7,
    json_output: JsonFlag = False,
) -> None:
    """Fill the database with realistic, deterministic demo data."""
    with _open(ctx, migrate=True) as store, Progress(transient=True, disable=json_output) as bar:
        task = bar.add_task("Writing demo conversations", total=conversations)
        summary = fill_demo(
            store, conversations=conversations, seed=seed, progress=lambda n: bar.advance(task, n)
        )
    data = summary.__dict__
    if json_output:
        render.emit_json(data)
    else:
        render.key_values("Demo data written", data)


@sessions_app.command("purge")
def purge_sessions(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Delete expired sessions of every tenant."""
    with _open(ctx) as store:
        removed = store.purge_sessions(all_tenants=True)
    if json_output:
        render.emit_json({"purged": removed})
    else:
        render.message(f"{removed} expired session(s) removed")


@tenants_app.command("list")
def list_tenants(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List tenants."""
    with _open(ctx) as store:
        tenants = store.list_tenants()
    if json_output:
        render.emit_json([t.model_dump(mode="json") for t in tenants])
    else:
        render.rows("Tenants", ["id", "slug", "name"], [(t.id, t.slug, t.name) for t in tenants])


@tenants_app.command("create")
def create_tenant(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Short unique name: lowercase, digits, dashes.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a tenant."""
    with _open(ctx) as store:
        tenant = store.create_tenant(name=name or slug, slug=slug)
    if json_output:
        render.emit_json(tenant.model_dump(mode="json"))
    else:
        render.message(f"tenant {tenant.slug} created: {tenant.id}")
