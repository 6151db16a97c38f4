"""``parloir db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from parloir.cli import render
from parloir.db import migrate
from parloir.db.engine import create_engines

app = typer.Typer(help="Database schema: upgrade it, see where it stands.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json_output: JsonFlag = False,
) -> None:
    """Upgrade the database schema (to the newest revision by default)."""
    settings = ctx.obj.settings
    engines = create_engines(settings)
    try:
        before = migrate.current_revision(engines.owner)
        migrate.upgrade(engines.owner, revision)
        after = migrate.current_revision(engines.owner)
    finally:
        engines.dispose()
    _report(settings.database_url, before, after, json_output)


@app.command("current")
def current(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Show the schema revision of the database and the newest one."""
    settings = ctx.obj.settings
    engines = create_engines(settings)
    try:
        revision = migrate.current_revision(engines.owner)
    finally:
        engines.dispose()
    head = migrate.head_revision()
    data = {
        "database": _safe(settings.database_url),
        "current": revision,
        "head": head,
        "up_to_date": revision == head,
    }
    if json_output:
        render.emit_json(data)
    else:
        render.key_values("Schema", data)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _report(url: str, before: str | None, after: str | None, json_output: bool) -> None:
    data = {"database": _safe(url), "from": before, "to": after}
    if json_output:
        render.emit_json(data)
    else:
        render.message(f"{data['database']}: schema {before or 'empty'} -> {after}")
