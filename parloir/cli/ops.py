"""``parloir doctor``, ``parloir backup`` and ``parloir restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parloir.cli import render
from parloir.db.engine import create_engines
from parloir.ops.backup import backup as take_backup
from parloir.ops.doctor import diagnose
from parloir.ops.restore import restore as restore_backup

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_STYLE = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def doctor(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Check the database: connectivity, schema, integrity, isolation, counters.

    Exits with status 1 when any check fails (warnings do not fail).
    """
    engines = create_engines(ctx.obj.settings)
    try:
        report = diagnose(engines)
    finally:
        engines.dispose()
    if json_output:
        checks = [check.__dict__ for check in report.checks]
        render.emit_json({"ok": report.ok, "checks": checks})
    else:
        rows = [(c.name, _STYLE[c.status], c.detail) for c in report.checks]
        render.rows("parloir doctor", ["check", "status", "detail"], rows)
    if not report.ok:
        raise typer.Exit(1)


def backup(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder of the backups.", file_okay=False)
    ] = Path("backups"),
    keep: Annotated[int, typer.Option("--keep", min=1, help="How many backups to keep.")] = 7,
    json_output: JsonFlag = False,
) -> None:
    """Take a consistent backup while the database is in use, and keep the newest N."""
    with render.spinner("Backing up", disable=json_output):
        result = take_backup(ctx.obj.settings, directory, keep=keep)
    if json_output:
        render.emit_json(result.to_dict())
        return
    rows = sum(int(t["rows"]) for t in result.tables.values())
    render.message(f"backup written: {result.path} ({result.size:,} bytes, {rows:,} rows)")
    for removed in result.removed:
        render.message(f"removed old backup {removed}")


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A backup file (its .json manifest beside it).")],
    json_output: JsonFlag = False,
) -> None:
    """Restore a backup into an empty database, checking every table against its manifest."""
    with render.spinner("Restoring", disable=json_output):
        result = restore_backup(ctx.obj.settings, file)
    if json_output:
        render.emit_json(result.to_dict())
    else:
        render.message(
            f"restored {result.rows:,} rows in {result.tables} tables "
            f"(revision {result.revision}) from {result.path}"
        )
