"""``parloir db``: schema migrations, and compaction of the files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from parloir.cli import render
from parloir.cli.commands import _open
from parloir.db import migrate
from parloir.db.engine import create_engines

app = typer.Typer(
    help="Database schema: upgrade it, see where it stands; compact the files.",
    no_args_is_help=True,
)

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


@app.command("compact")
def compact(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Clear what deleted rows left in the files, and give their space back.

    SQLite: full-text index merge, WAL checkpoint, VACUUM (the file is rewritten: run it when
    the database is idle, with free disk space for a copy). PostgreSQL: VACUUM of the tables
    an erasure touches. ``parloir erase contact --no-compact`` leaves this for later.
    """
    settings = ctx.obj.settings
    path = _sqlite_file(settings.database_url)
    before = _file_bytes(path)
    with render.spinner("Compacting", disable=json_output), _open(ctx) as store:
        report = store.compact()
    data: dict[str, Any] = {"database": _safe(settings.database_url)}
    data.update(report.model_dump(mode="json"))
    data.update(bytes_before=before, bytes_after=_file_bytes(path))
    if json_output:
        render.emit_json(data)
        return
    render.key_values("Compaction", {**data, "steps": ", ".join(report.steps)})
    if report.wal_busy:
        render.message("Readers held the WAL open: it is not truncated; run again when idle.")


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _file_bytes(path: Path | None) -> int | None:
    """The size of a SQLite database with its WAL (None on PostgreSQL)."""
    if path is None:
        return None
    files = (path, path.with_name(path.name + "-wal"))
    return sum(f.stat().st_size for f in files if f.exists())


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _report(url: str, before: str | None, after: str | None, json_output: bool) -> None:
    data = {"database": _safe(url), "from": before, "to": after}
    if json_output:
        render.emit_json(data)
    else:
        render.message(f"{data['database']}: schema {before or 'empty'} -> {after}")
